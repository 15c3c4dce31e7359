"""Write (or reuse) the project's synthetic COCO detection set.

Usage:
    python tools/make_synthetic.py OUT_DIR [--num-train 160] [--num-val 40] [--image-size 256 256]
        [--seed 0] [--max-objects 6] [--min-visible 0.5]

A complete set with the same parameters is reused (a quick no-op); see
``qarep_det.datasets.synthetic`` for what is drawn and how it is laid out. Bad input (an invalid
parameter, an ``OUT_DIR`` that is not a synthetic set or cannot be written) exits with code 2 and
one line on stderr.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.utils import BadInput, OneLineParser, run_tool

PROG = 'make_synthetic.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', type=Path, help='the set folder (its data_root)')
    parser.add_argument('--num-train', type=int, default=160, help='number of training images')
    parser.add_argument('--num-val', type=int, default=40, help='number of validation images')
    parser.add_argument('--image-size', type=int, nargs=2, default=(256, 256), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0, help='same seed, byte-identical set')
    parser.add_argument('--max-objects', type=int, default=6, help='at most this many shapes per image')
    parser.add_argument('--min-visible', type=float, default=0.5, help='fraction of each shape left visible')
    return parser.parse_args(argv)


def make(args: argparse.Namespace) -> int:
    """Generate (or reuse) the set and print where it is."""
    start = time.perf_counter()
    try:
        paths = generate_synthetic_coco(args.out_dir, num_train=args.num_train, num_val=args.num_val,
                                        image_size=tuple(args.image_size), seed=args.seed,
                                        max_objects=args.max_objects, min_visible=args.min_visible)
    except (ValueError, OSError) as err:  # invalid parameters, a foreign or unwritable OUT_DIR
        raise BadInput(str(err)) from None
    print(f'synthetic set ready in {time.perf_counter() - start:.1f} s: {paths["data_root"]}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool(PROG, lambda: make(parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
