"""Prepare BCCD for the configs in configs/bccd_det/: COCO JSON per split plus a link to the images.

Usage:
    python tools/dataset_converters/prepare_bccd.py [--src BCCD_DIR] [--out data/bccd]

Reads the read-only Pascal VOC original (``--src``, default ``$QAREP_BCCD`` or
``../shared/datasets/bccd`` next to the repository), never copying it, and writes::

    OUT/annotations/instances_{train,val,test}.json     (tools/dataset_converters/to_coco.py's conversion)
    OUT/JPEGImages -> SRC/BCCD/JPEGImages               (a symbolic link)

so the configs load it with ``data_root='data/bccd/'`` and ``data_prefix=dict(img='')``. Running it
again rewrites the same files. A missing source exits with code 2 and one line on stderr.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from qarep_det.datasets.converters import ConversionError, convert_voc

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSES = ('RBC', 'WBC', 'Platelets')
SPLITS = ('train', 'val', 'test')


def default_src() -> Path:
    return Path(os.environ.get('QAREP_BCCD', REPO_ROOT.parent / 'shared' / 'datasets' / 'bccd'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, default=None,
                        help='the BCCD folder (holding BCCD/Annotations; default: $QAREP_BCCD or '
                             '../shared/datasets/bccd)')
    parser.add_argument('--out', type=Path, default=REPO_ROOT / 'data' / 'bccd', help='the prepared data_root')
    return parser.parse_args(argv)


def link_images(image_root: Path, out: Path) -> Path:
    """``out/JPEGImages`` -> ``image_root/JPEGImages``, replacing an earlier link (never a real folder)."""
    link, target = out / 'JPEGImages', (image_root / 'JPEGImages').resolve()
    if link.is_symlink():
        if link.resolve() == target:
            return link
        link.unlink()
    elif link.exists():
        raise ConversionError(f'refusing to replace {link}: not a link made by this script')
    link.symlink_to(target, target_is_directory=True)
    return link


def main(argv=None) -> int:
    args = parse_args(argv)
    src = args.src or default_src()
    if not src.is_dir():
        print(f'prepare_bccd.py: error: BCCD not found at {src} (set QAREP_BCCD or pass --src)', file=sys.stderr)
        return 2
    try:
        results = convert_voc(src, args.out / 'annotations', splits=SPLITS, classes=CLASSES, overwrite=True)
        data_root = json.loads(results['train'][0].read_text())['info']['data_root']
        link = link_images(Path(data_root), args.out)
    except (ConversionError, OSError) as err:
        print(f'prepare_bccd.py: error: {err}', file=sys.stderr)
        return 2
    for split, (path, stats) in results.items():
        print(f'{split}: {stats.images} images, {stats.boxes} boxes -> {path}')
    print(f'images: {link} -> {link.resolve()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
