"""Convert a Pascal VOC or YOLO detection dataset to COCO JSON, one file per split.

Usage:
    python tools/dataset_converters/to_coco.py {voc,yolo} SRC --out OUT_DIR [--splits train val test]
        [--classes a b c | --data-yaml data.yaml] [--overwrite] [--min-size 1] [--voc-zero-based]

Writes ``OUT_DIR/instances_{split}.json``; images stay where they are (each JSON's
``info.data_root`` is the folder its ``file_name`` entries are relative to). Bad input (no SRC, no
split, bad class list, an existing output without ``--overwrite``) exits with code 2 and one line
on stderr. See ``qarep_det.datasets.converters`` for the conventions.
"""
import argparse
import sys
from pathlib import Path

from qarep_det.datasets.converters import ConversionError, convert_voc, convert_yolo, load_class_names


class _OneLineParser(argparse.ArgumentParser):
    """Reports usage errors in one line on stderr (exit code 2) instead of usage + message."""

    def error(self, message: str) -> None:
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def parse_args(argv=None) -> argparse.Namespace:
    parser = _OneLineParser(prog='to_coco.py', description=__doc__.splitlines()[0])
    parser.add_argument('format', choices=('voc', 'yolo'), help='the source annotation format')
    parser.add_argument('src', type=Path, help='the dataset folder (VOC: the folder holding Annotations/ or '
                        'its parent; YOLO: the folder holding images/ and labels/ or {split}/images)')
    parser.add_argument('--out', type=Path, required=True, help='output folder for instances_{split}.json')
    parser.add_argument('--splits', nargs='+', help='splits to convert (default: those of train val test found)')
    names = parser.add_mutually_exclusive_group()
    names.add_argument('--classes', nargs='+', help='class names in category-id order')
    names.add_argument('--data-yaml', type=Path, help='a YOLO data.yaml whose names: gives the classes')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--min-size', type=float, default=1.0, help='drop boxes thinner than this once clipped')
    parser.add_argument('--voc-zero-based', action='store_true',
                        help='VOC coordinates are 0-based continuous (default: 1-based pixel indices)')
    args = parser.parse_args(argv)
    if args.voc_zero_based and args.format != 'voc':
        parser.error('--voc-zero-based applies to the voc format only')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        classes = load_class_names(args.data_yaml) if args.data_yaml else args.classes
        common = dict(splits=args.splits, classes=classes, overwrite=args.overwrite, min_size=args.min_size)
        if args.format == 'voc':
            results = convert_voc(args.src, args.out, one_based=not args.voc_zero_based, **common)
        else:
            results = convert_yolo(args.src, args.out, **common)
    except ConversionError as err:
        print(f'to_coco.py: error: {err}', file=sys.stderr)
        return 2
    except OSError as err:
        print(f'to_coco.py: error: {err}', file=sys.stderr)
        return 1
    for split, (path, stats) in results.items():
        print(f'{split}: {stats.images} images, {stats.boxes} boxes -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
