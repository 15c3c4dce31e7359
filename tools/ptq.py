"""Fuse and quantize a trained detector or segmentor; FP32 vs INT8 metrics (COCO mAP, mIoU) and latency side by side.

Usage:
    python tools/ptq.py CKPT [--config CFG] [--int8] [--wbits 8|6|4] [--abits 8|6] [--calib-images 256]
        [--observer minmax|histogram|percentile|mae] [--method observer|repapq [--loss mae|mse] [--iters 200]
        [--groups stage|N]] [--backend x86|qnnpack|onednn]
        [--skip-layers NAME ... | auto:K] [--sensitivity] [--cfg-options K=V ...] [--out DIR]
    python tools/ptq.py --eval-int8 DIR/model_int8.pt|DIR/model_fp32.pt [--config CFG] [--cfg-options K=V ...]

Writes DIR/report.json, DIR/report.md, plots, the fused FP32 model DIR/model_fp32.pt and (with
--int8) DIR/model_int8.pt, both TorchScript that run without the training code. Below 8 bits
(--wbits 6|4, --abits 6) the quantized model is simulated in float and evaluated as w<b>a<b>,
without a model file or latency (no integer kernels for those widths). --method repapq tunes the
calibrated model group by group (QPRep affine, weight rounding, activation scales) before it is
converted or simulated. The config
stored in a checkpoint or a model file is read as data, never run. Bad input: one line on stderr
and exit code 2; nothing is overwritten and nothing partial is left behind (Ctrl-C: exit 130,
SIGTERM: 143, both clean up).
"""
import argparse
import logging
import sys
from pathlib import Path

import torch

import qarep_det  # noqa: F401  (registers the modules; safe checkpoint loading)
from qarep_det.ptq import FusionCheckError, PTQOptions, evaluate_deployed, metrics_table, run_ptq
from qarep_det.quantization import ACTIVATION_BITS, LOSSES, METHODS, WEIGHT_BITS
from qarep_det.utils import OneLineParser, positive_int, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(prog='ptq.py', description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', nargs='?', help='training checkpoint (.pth)')
    parser.add_argument('--config', help='config file (default: the one stored in the checkpoint)')
    parser.add_argument('--int8', action='store_true', help='quantize to INT8 (else FP32 and fused FP32 only)')
    parser.add_argument('--wbits', type=int, choices=WEIGHT_BITS, default=8,
                        help='weight bits; below 8 the quantized model is simulated (no model file)')
    parser.add_argument('--abits', type=int, choices=ACTIVATION_BITS, default=8,
                        help='activation bits; below 8 the quantized model is simulated (no model file)')
    parser.add_argument('--calib-images', type=positive_int, default=256, help='training images used for calibration')
    parser.add_argument('--observer', default='minmax', help='minmax | histogram | percentile | mae')
    parser.add_argument('--method', choices=METHODS, default='observer',
                        help='observer: ranges from --observer, weights rounded to nearest; repapq: then '
                             'reconstruct group by group (quantizes, as --int8)')
    parser.add_argument('--loss', choices=LOSSES, help='repapq: reconstruction loss (default mae)')
    parser.add_argument('--iters', type=positive_int, help='repapq: optimizer steps per group (default 200)')
    parser.add_argument('--groups', type=_groups, help='repapq: stage, or N consecutive layers per group '
                        '(default stage)')
    parser.add_argument('--backend', default='x86', help='x86 | qnnpack | onednn')
    parser.add_argument('--skip-layers', nargs='+', default=[], metavar='NAME',
                        help='layers kept in float, or auto:K for the K most sensitive')
    parser.add_argument('--sensitivity', action='store_true', help='per-layer sensitivity table and chart')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE', help='config overrides')
    parser.add_argument('--out', help='output folder (default: work_dirs/ptq/<checkpoint name>)')
    parser.add_argument('--max-eval-images', type=positive_int, help='evaluate on the first N validation images only')
    parser.add_argument('--threads', type=positive_int, default=2, help='CPU threads for evaluation and latency')
    parser.add_argument('--eval-int8', metavar='MODEL_PT',
                        help='re-evaluate a saved model_int8.pt (or model_fp32.pt) on the validation set')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.eval_int8 is None):
        parser.error('give a checkpoint, or --eval-int8 MODEL_PT')
    given = [f'--{name}' for name in ('loss', 'iters', 'groups') if getattr(args, name) is not None]
    if given and args.method != 'repapq':
        parser.error(f'{", ".join(given)}: only for --method repapq')
    return args


def _groups(value: str) -> str:
    """``stage`` or a positive whole number (argparse type of ``--groups``)."""
    if value != 'stage' and not (value.isdigit() and int(value) > 0):
        raise argparse.ArgumentTypeError(f"'{value}' is neither stage nor a positive whole number")
    return value


def ptq(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    if args.eval_int8:
        metrics = evaluate_deployed(args.eval_int8, args.config, args.cfg_options, args.max_eval_images,
                                    progress=not args.no_progress)
        print('\n'.join(metrics_table(metrics, {})))
        return 0
    out = args.out or str(Path('work_dirs/ptq') / Path(args.checkpoint).stem)
    try:
        report = run_ptq(PTQOptions(
            checkpoint=args.checkpoint, out=out, config=args.config, int8=args.int8, calib_images=args.calib_images,
            observer=args.observer, backend=args.backend, skip_layers=args.skip_layers, sensitivity=args.sensitivity,
            cfg_options=args.cfg_options, max_eval_images=args.max_eval_images, progress=not args.no_progress,
            wbits=args.wbits, abits=args.abits, method=args.method,
            **{k: getattr(args, k) for k in ('loss', 'iters', 'groups') if getattr(args, k) is not None}))
    except FusionCheckError as exc:
        print(f'ptq.py: fusion check failed: {exc}', file=sys.stderr)
        return 1
    print('\n'.join(metrics_table(report['models'], report['latency_ms'])))
    print(f'report: {Path(out) / "report.md"}')
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool('ptq.py', lambda: ptq(args))


if __name__ == '__main__':
    sys.exit(main())
