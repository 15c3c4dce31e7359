"""Convert an official YOLOv6 v3.0 checkpoint (N/S/M/L) into an mmengine checkpoint of qarep_det's configs.

Usage:
    python tools/model_converters/yolov6_to_qarep.py SRC.pt DST.pth [--config CFG]

The official pickle is read without the yolov6 package and nothing in it runs (a restricted
unpickler). The variant (size, training mode ``repvgg`` / ``qarepvgg`` / ``qarepvggv2`` /
``conv_silu``, training or fused form) is recognised, every tensor is mapped onto our modules as
float32, and DST names its config in ``meta`` (``tools/test.py``, ``tools/train.py --cfg-options
load_from=DST`` and ``tools/ptq.py DST`` take it). Bad input: one line on stderr and exit code 2,
no output file; DST is never overwritten.

Provenance: the interface of MMDetection 3.3.0 ``tools/model_converters/*`` (SRC DST).
"""
import argparse
import sys
from typing import Optional, Sequence

import qarep_det  # noqa: F401  (registers the modules)
from qarep_det.models.converters import convert_yolov6_checkpoint
from qarep_det.utils import OneLineParser, run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(prog='yolov6_to_qarep.py', description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official YOLOv6 checkpoint (.pt)')
    parser.add_argument('dst', help='mmengine checkpoint to write (.pth); must not exist')
    parser.add_argument('--config', help='config to convert into (default: the zoo config of the variant)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)

    def convert() -> int:
        variant = convert_yolov6_checkpoint(args.src, args.dst, args.config)
        print(f'{args.dst}: {variant}')
        return 0

    return run_tool('yolov6_to_qarep.py', convert)


if __name__ == '__main__':
    sys.exit(main())
