"""Evaluate a checkpoint with its config's test dataloader and evaluator (thin wrapper around ``Runner``).

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}] [--fused]

The metrics (e.g. ``coco/bbox_mAP``) are logged and printed; ``--out`` also dumps the predictions.
``--fused`` evaluates the re-parameterized (deployed) model instead, through ``ReparamEvalHook``.
Bad input (no such config or checkpoint, an ``--out`` that is not ``.pkl``) exits with code 2 and
one line on stderr.

Provenance: MMDetection 3.3.0 ``tools/test.py``.
"""
import argparse
import sys
from pathlib import Path

from mmdet.evaluation import DumpDetResults
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import qarep_det  # noqa: F401  (registers the modules; safe checkpoint loading under torch >= 2.6)
from qarep_det.utils import (BadInput, OneLineParser, adapt_cpu_distributed, add_runner_arguments, load_config,
                             parse_runner_args)


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(prog='test.py', description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config file')
    parser.add_argument('checkpoint', help='the checkpoint file')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--out', help='also dump the predictions to this .pkl file')
    parser.add_argument('--fused', action='store_true',
                        help='evaluate the re-parameterized (fused, deployed) model')
    add_runner_arguments(parser, example='test_dataloader.batch_size=1')
    return parse_runner_args(parser, argv)


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    if not Path(args.checkpoint).is_file():
        raise BadInput(f'no such checkpoint: {args.checkpoint}')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise BadInput(f'--out must be a .pkl or .pickle file, got {args.out}')
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.fused:
        hooks = cfg.get('custom_hooks', [])
        reparam = [h for h in hooks if h.get('type') == 'ReparamEvalHook']
        if reparam:
            reparam[0]['test'] = True
        else:
            cfg.custom_hooks = [*hooks, dict(type='ReparamEvalHook', validate=False, test=True)]
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or str(Path('work_dirs') / Path(args.config).stem)
    cfg.load_from = args.checkpoint
    adapt_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
    except BadInput as err:
        print(f'test.py: error: {err}', file=sys.stderr)
        return 2
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    print(' '.join(f'{name}: {value:.4f}' if isinstance(value, float) else f'{name}: {value}'
                   for name, value in metrics.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
