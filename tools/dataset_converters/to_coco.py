"""Convert a Pascal VOC or YOLO detection dataset to COCO JSON, one file per split.

Usage:
    python tools/dataset_converters/to_coco.py {voc,yolo} SRC --out OUT_DIR [--splits train val test]
        [--classes a b c | --data-yaml data.yaml] [--overwrite] [--min-size 1] [--voc-zero-based]

Writes ``OUT_DIR/instances_{split}.json``; images stay where they are (each JSON's
``info.data_root`` is the folder its ``file_name`` entries are relative to). Bad input (no SRC, no
split, bad class list, a ``--min-size`` that is not a finite number >= 0, an existing output
without ``--overwrite``, an ``OUT_DIR`` that cannot be written) exits with code 2 and one line on
stderr, before anything is written. See ``qarep_det.datasets.converters`` for the conventions.
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

from qarep_det.datasets.converters import convert_voc, convert_yolo, load_class_names
from qarep_det.utils import OneLineParser, run_tool

PROG = 'to_coco.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('format', choices=('voc', 'yolo'), help='the source annotation format')
    parser.add_argument('src', type=Path, help='the dataset folder (VOC: the folder holding Annotations/ or '
                        'its parent; YOLO: the folder holding images/ and labels/ or {split}/images)')
    parser.add_argument('--out', type=Path, required=True, help='output folder for instances_{split}.json')
    parser.add_argument('--splits', nargs='+', help='splits to convert (default: those of train val test found)')
    names = parser.add_mutually_exclusive_group()
    names.add_argument('--classes', nargs='+', help='class names in category-id order')
    names.add_argument('--data-yaml', type=Path, help='a YOLO data.yaml whose names: gives the classes')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('--min-size', type=float, default=1.0,
                        help='drop boxes thinner than this (pixels, finite, >= 0) once clipped')
    parser.add_argument('--voc-zero-based', action='store_true',
                        help='VOC coordinates are 0-based continuous (default: 1-based pixel indices)')
    args = parser.parse_args(argv)
    if args.voc_zero_based and args.format != 'voc':
        parser.error('--voc-zero-based applies to the voc format only')
    return args


def convert(args: argparse.Namespace) -> int:
    """Convert as ``args`` ask and print one line per split written."""
    classes = load_class_names(args.data_yaml) if args.data_yaml else args.classes
    common = dict(splits=args.splits, classes=classes, overwrite=args.overwrite, min_size=args.min_size)
    if args.format == 'voc':
        results = convert_voc(args.src, args.out, one_based=not args.voc_zero_based, **common)
    else:
        results = convert_yolo(args.src, args.out, **common)
    for split, (path, stats) in results.items():
        print(f'{split}: {stats.images} images, {stats.boxes} boxes -> {path}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool(PROG, lambda: convert(parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
