"""Fuse and quantize a trained detector; FP32 vs INT8 COCO mAP and latency side by side.

Usage:
    python tools/ptq.py CKPT [--config CFG] [--int8] [--calib-images 256]
        [--observer minmax|histogram|percentile|mae] [--backend x86|qnnpack|onednn]
        [--skip-layers NAME ... | auto:K] [--sensitivity] [--cfg-options K=V ...] [--out DIR]
    python tools/ptq.py --eval-int8 DIR/model_int8.pt|DIR/model_fp32.pt [--config CFG]

Writes DIR/report.json, DIR/report.md, plots, the fused FP32 model DIR/model_fp32.pt and (with
--int8) DIR/model_int8.pt, both TorchScript that run without the training code. Bad input: one
line on stderr and exit code 2; nothing is overwritten and no partial report is left behind.
"""
import argparse
import logging
import sys
import zipfile
from pathlib import Path

import torch

import qarep_det  # noqa: F401  (registers the modules; safe checkpoint loading)
from qarep_det.ptq import FusionCheckError, PTQInputError, PTQOptions, metrics_table, run_ptq


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', nargs='?', help='training checkpoint (.pth)')
    parser.add_argument('--config', help='config file (default: the one stored in the checkpoint)')
    parser.add_argument('--int8', action='store_true', help='quantize to INT8 (else FP32 and fused FP32 only)')
    parser.add_argument('--calib-images', type=int, default=256, help='training images used for calibration')
    parser.add_argument('--observer', default='minmax', help='minmax | histogram | percentile | mae')
    parser.add_argument('--backend', default='x86', help='x86 | qnnpack | onednn')
    parser.add_argument('--skip-layers', nargs='+', default=[], metavar='NAME',
                        help='layers kept in float, or auto:K for the K most sensitive')
    parser.add_argument('--sensitivity', action='store_true', help='per-layer sensitivity table and chart')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE', help='config overrides')
    parser.add_argument('--out', help='output folder (default: work_dirs/ptq/<checkpoint name>)')
    parser.add_argument('--max-eval-images', type=int, help='evaluate on the first N validation images only')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for evaluation and latency')
    parser.add_argument('--eval-int8', metavar='MODEL_PT',
                        help='re-evaluate a saved model_int8.pt (or model_fp32.pt) on the validation set')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.eval_int8 is None):
        parser.error('give a checkpoint, or --eval-int8 MODEL_PT')
    return args


def eval_int8(args: argparse.Namespace) -> int:
    from qarep_det.ptq.evaluation import evaluate_variants
    from qarep_det.ptq.data import eval_dataloader
    from qarep_det.ptq.loading import load_config
    from qarep_det.quantization import QuantizedDetector, load_deployed
    path = Path(args.eval_int8)
    if not path.is_file():
        raise PTQInputError(f'model not found: {path}')
    try:
        model = load_deployed(path)
    except (ValueError, zipfile.BadZipFile, RuntimeError) as exc:
        raise PTQInputError(f'{path} is not a model_int8.pt / model_fp32.pt written by tools/ptq.py '
                            f'({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})') from None
    cfg = load_config({}, args.config or str(path.parent / 'config.py'), args.cfg_options)
    loader, dataset = eval_dataloader(cfg)
    name = 'int8' if isinstance(model, QuantizedDetector) else 'fp32_fused'
    metrics = evaluate_variants({name: model}, loader, cfg, dataset.metainfo, progress=not args.no_progress)
    print('\n'.join(metrics_table(metrics, {})))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    try:
        if args.eval_int8:
            return eval_int8(args)
        out = args.out or str(Path('work_dirs/ptq') / Path(args.checkpoint).stem)
        report = run_ptq(PTQOptions(
            checkpoint=args.checkpoint, out=out, config=args.config, int8=args.int8, calib_images=args.calib_images,
            observer=args.observer, backend=args.backend, skip_layers=args.skip_layers, sensitivity=args.sensitivity,
            cfg_options=args.cfg_options, max_eval_images=args.max_eval_images, progress=not args.no_progress))
    except PTQInputError as exc:
        print(f'ptq.py: error: {exc}', file=sys.stderr)
        return 2
    except FusionCheckError as exc:
        print(f'ptq.py: fusion check failed: {exc}', file=sys.stderr)
        return 1
    print('\n'.join(metrics_table(report['models'], report['latency_ms'])))
    print(f'report: {Path(out) / "report.md"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
