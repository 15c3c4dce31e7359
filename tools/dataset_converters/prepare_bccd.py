"""Prepare BCCD for the configs in configs/bccd_det/: COCO JSON per split plus a link to the images.

Usage:
    python tools/dataset_converters/prepare_bccd.py [--src BCCD_DIR] [--out data/bccd]

Reads the read-only Pascal VOC original (``--src``, default ``$QAREP_BCCD`` or
``../shared/datasets/bccd`` next to the repository), never copying it, and writes::

    OUT/annotations/instances_{train,val,test}.json     (tools/dataset_converters/to_coco.py's conversion)
    OUT/JPEGImages -> SRC/BCCD/JPEGImages               (a symbolic link)

so the configs load it with ``data_root='data/bccd/'`` and ``data_prefix=dict(img='')``. Running it
again rewrites the same files. Bad input (a missing source, an ``OUT`` that cannot be written, a
real ``OUT/JPEGImages`` folder) exits with code 2 and one line on stderr, before anything is written.
"""
import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

from qarep_det.datasets.converters import convert_voc, find_voc_root
from qarep_det.utils import BadInput, OneLineParser, run_tool

PROG = 'prepare_bccd.py'
REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSES = ('RBC', 'WBC', 'Platelets')
SPLITS = ('train', 'val', 'test')


def default_src() -> Path:
    return Path(os.environ.get('QAREP_BCCD', REPO_ROOT.parent / 'shared' / 'datasets' / 'bccd'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--src', type=Path, default=None,
                        help='the BCCD folder (holding BCCD/Annotations; default: $QAREP_BCCD or '
                             '../shared/datasets/bccd)')
    parser.add_argument('--out', type=Path, default=REPO_ROOT / 'data' / 'bccd', help='the prepared data_root')
    return parser.parse_args(argv)


def link_images(link: Path, target: Path) -> None:
    """Make ``link`` point to ``target``, replacing an earlier link (a real file or folder is refused up front)."""
    if link.is_symlink():
        if link.resolve() == target:
            return
        link.unlink()
    try:
        link.symlink_to(target, target_is_directory=True)
    except OSError as err:
        raise BadInput(f'cannot link {link} -> {target}: {err.strerror or err}') from None


def prepare(args: argparse.Namespace) -> int:
    """Convert the three splits and link the images; print one line per output."""
    src = args.src or default_src()
    if not src.is_dir():
        raise BadInput(f'BCCD not found at {src} (set QAREP_BCCD or pass --src)')
    link, target = args.out / 'JPEGImages', (find_voc_root(src) / 'JPEGImages').resolve()
    if link.exists() and not link.is_symlink():
        raise BadInput(f'refusing to replace {link}: not a link made by this script')
    results = convert_voc(src, args.out / 'annotations', splits=SPLITS, classes=CLASSES, overwrite=True)
    link_images(link, target)
    for split, (path, stats) in results.items():
        print(f'{split}: {stats.images} images, {stats.boxes} boxes -> {path}')
    print(f'images: {link} -> {link.resolve()}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool(PROG, lambda: prepare(parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
