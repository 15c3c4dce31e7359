"""Test helpers: random BN statistics (fusion is checked on non-trivial BNs), tools as modules, the tiny
synthetic config."""
from pathlib import Path
from typing import Optional

import torch
from mmengine.config import Config
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def randomize_bn(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give every BN random running statistics and affine parameters (in place)."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=generator))
            m.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)
            m.weight.copy_(torch.randn(c, generator=generator))
            m.bias.copy_(torch.randn(c, generator=generator))
    return model


@torch.no_grad()
def measure_bn(model: nn.Module, batches, shift: Optional[float] = None) -> nn.Module:
    """BatchNorm running statistics = the cumulative average over ``batches`` (each passed through
    ``model(batch, mode='tensor')`` in train mode), BN beta = ``shift`` if given; returns ``model`` in eval mode."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
            if shift is not None:
                m.bias.fill_(shift)
    model.train()
    for images in batches:
        model(images, mode='tensor')
    return model.eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (the tools are scripts, not a package); ``name`` may hold a
    subfolder, e.g. ``'dataset_converters/to_coco'``."""
    import importlib.util
    path = Path(__file__).resolve().parents[1] / 'tools' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'qarep_tool_{name.replace("/", "_")}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_synthetic_config(data_root: Path) -> Config:
    """The demo's synthetic config pointed at ``data_root``, without worker processes."""
    cfg = Config.fromfile(str(Path(__file__).resolve().parents[1] / 'configs/synthetic/yolov6n_qarep_synthetic.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset.data_root = str(data_root)
        loader.num_workers, loader.persistent_workers = 0, False
    cfg.val_evaluator.ann_file = cfg.test_evaluator.ann_file = str(data_root / 'annotations/instances_val.json')
    return cfg


def run_failing(tool, argv: list, capsys, prog: str) -> str:
    """Run ``tool.main(argv)`` expecting exit code 2 (returned, or raised by argparse) and one stderr line
    ``{prog}: error: ...``; returns that line."""
    try:
        code = tool.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'{prog}: error: '), lines
    return lines[0]
