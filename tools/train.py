"""Train a detector or segmentor from an MMDetection / MMSegmentation config (thin wrapper around ``Runner``).

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [CHECKPOINT]] [--amp] [--auto-scale-lr]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}] [--progress-bar]
    torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch      # 8 GPUs
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch      # 2 CPU processes (gloo)

Logs and checkpoints go to ``--work-dir`` (default ``work_dirs/<config name>``). ``--resume``
alone resumes from the latest checkpoint of the work dir. Bad input (no such config or
checkpoint, a config whose model does not build, a distillation teacher that is missing or does
not fit, a dataset that is not where the config says, a bad CamVid label file, ``--amp`` without
a GPU) exits with code 2 and one line on stderr, before any work folder is made;
Ctrl-C is one line too (exit code 130; ``--resume`` continues from the last checkpoint).

Provenance: MMDetection 3.3.0 ``tools/train.py``.
"""
import argparse
import sys
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import qarep_det  # noqa: F401  (registers the modules; safe checkpoint loading under torch >= 2.6)
from qarep_det.datasets.camvid import check_camvid_files
from qarep_det.utils import (BadInput, OneLineParser, adapt_cpu_distributed, add_runner_arguments, check_data_files,
                             check_schedule, check_writable, load_config, parse_runner_args, run_tool)
from qarep_det.utils.checkpoint import build_model, read_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(prog='train.py', description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT, or from the latest checkpoint of the work dir if none is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the lr by (total batch) / the config's auto_scale_lr.base_batch_size")
    parser.add_argument('--progress-bar', action='store_true',
                        help='show progress bars (training, validation) and log every 100 iterations instead')
    add_runner_arguments(parser, example='train_dataloader.batch_size=4')
    return parse_runner_args(parser, argv)


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or str(Path('work_dirs') / Path(args.config).stem)
    check_writable(cfg.work_dir, folder=True)
    if args.amp:
        if not torch.cuda.is_available():
            raise BadInput('--amp needs a CUDA GPU (none is available)')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise BadInput(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        read_checkpoint(args.resume)  # a file that is not a checkpoint: one line, now
        cfg.resume, cfg.load_from = True, args.resume
    if args.progress_bar:
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='ProgressBarHook')]
        cfg.default_hooks.logger.interval = max(cfg.default_hooks.logger.get('interval', 50), 100)
    model = build_model(cfg)  # a config (or --cfg-options value) that does not build: one line, now
    if getattr(model, 'teacher_ckpt', None):
        model.build_teacher()  # a distillation teacher that is missing or does not fit: one line, now
    check_schedule(cfg)  # e.g. train_cfg.max_epochs=1 before the warm-up ends
    loaders = ('train_dataloader', 'val_dataloader') if cfg.get('val_cfg') else ('train_dataloader',)
    check_data_files(cfg, loaders)
    check_camvid_files(cfg, loaders)  # a bad CamVid label file: one line, now
    adapt_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo, plain BN
    return cfg


def train(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool('train.py', lambda: train(args))


if __name__ == '__main__':
    sys.exit(main())
