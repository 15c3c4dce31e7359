"""Evaluate a detector or segmentor checkpoint with its config's test dataloader and evaluator (wraps ``Runner``).

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl] [--partial]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}] [--fused]

The metrics (e.g. ``coco/bbox_mAP``; ``mIoU`` for a segmentor) are logged and printed on one line;
``--out`` also dumps the predictions (detections as mmdet's ``DumpDetResults``; for a segmentor, a
list of ``dict(img_path=..., pred_sem_seg=HxW uint8 array)``). ``--fused`` evaluates the
re-parameterized (deployed) model instead, through ``ReparamEvalHook``.
The checkpoint goes through the project's one checkpoint path first (safe loading; weights that
do not fit the config's model are refused unless ``--partial``), and the test data must exist:
bad input exits with code 2 and one line on stderr, before any work folder is made.

Provenance: MMDetection 3.3.0 ``tools/test.py``.
"""
import argparse
import sys
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import qarep_det  # noqa: F401  (registers the modules; safe checkpoint loading under torch >= 2.6)
from qarep_det.datasets.camvid import check_camvid_files
from qarep_det.engine.dump_results import dump_predictions_metric, metrics_line
from qarep_det.utils import (BadInput, OneLineParser, adapt_cpu_distributed, add_runner_arguments, check_data_files,
                             check_writable, load_config, parse_runner_args, run_tool)
from qarep_det.utils.checkpoint import build_model, load_weights, read_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(prog='test.py', description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config file')
    parser.add_argument('checkpoint', help='the checkpoint file')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--out', help='also dump the predictions to this .pkl file')
    parser.add_argument('--fused', action='store_true',
                        help='evaluate the re-parameterized (fused, deployed) model')
    parser.add_argument('--partial', action='store_true',
                        help='load a checkpoint that lacks some of the model\'s weights or has extra ones '
                             '(the missing ones keep their initial values)')
    add_runner_arguments(parser, example='test_dataloader.batch_size=1')
    return parse_runner_args(parser, argv)


def build_config(args: argparse.Namespace) -> Config:
    """The test config; the checkpoint, the model and the data checked before any runner exists."""
    cfg = load_config(args.config, args.cfg_options)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise BadInput(f'--out must be a .pkl or .pickle file, got {args.out}')
    load_weights(build_model(cfg), read_checkpoint(args.checkpoint), strict=not args.partial)
    check_data_files(cfg, ('test_dataloader',))
    check_camvid_files(cfg, ('test_dataloader',))  # a bad CamVid label file: one line, now
    cfg.launcher = args.launcher
    if args.fused:
        hooks = cfg.get('custom_hooks', [])
        reparam = [h for h in hooks if h.get('type') == 'ReparamEvalHook']
        if reparam:
            reparam[0]['test'] = True
        else:
            cfg.custom_hooks = [*hooks, dict(type='ReparamEvalHook', validate=False, test=True)]
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or str(Path('work_dirs') / Path(args.config).stem)
    check_writable(cfg.work_dir, folder=True)
    if args.out is not None:
        check_writable(args.out)
    cfg.load_from = args.checkpoint
    adapt_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo
    return cfg


def test(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(dump_predictions_metric(runner.model, args.out))
    print(metrics_line(runner.test()))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool('test.py', lambda: test(args))


if __name__ == '__main__':
    sys.exit(main())
