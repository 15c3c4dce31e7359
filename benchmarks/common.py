"""What the benchmark scripts share: the repository root, the results writer, the BCCD runs' layout
and the channels_last copy of a model.

The scripts run as ``python benchmarks/<name>.py``, so this folder is first on ``sys.path`` and
they import this module as ``common``; none of them imports another script.

Provenance: qarep_det's own benchmark conventions; results are written with the package's one
atomic-write module (:mod:`qarep_det.utils.io`).
"""
import copy
from pathlib import Path
from typing import Dict

import torch
from torch import nn

from qarep_det.utils import write_atomic, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'

BCCD_CONFIGS = {'qarep': 'configs/bccd_det/yolov6n_qarep_bccd.py',
                'repvgg': 'configs/bccd_det/yolov6n_repvgg_bccd.py'}
"""The BCCD models that ``bccd_train.py`` trains and ``bccd_ptq.py`` quantizes."""


def write_results(out: Path, data: Dict, md: str) -> None:
    """``out.json`` and ``out.md``, each written atomically; the Markdown is also printed.

    Raises:
        BadInput: A file cannot be written there (one line under :func:`qarep_det.utils.run_tool`).
    """
    write_json_atomic(out.with_suffix('.json'), data)
    write_atomic(out.with_suffix('.md'), md)
    print(md)


def finished_epoch(work_dir: Path) -> int:
    """The epoch of a training run's newest checkpoint (0 if none)."""
    epochs = [int(p.stem.split('_')[1]) for p in work_dir.glob('epoch_*.pth')]
    return max(epochs, default=0)


def best_checkpoint(work_dir: Path) -> Path:
    """The checkpoint the run's validation picked (``best_*``), else its newest one."""
    best = sorted(work_dir.glob('best_coco_bbox_mAP_epoch_*.pth'), key=lambda p: int(p.stem.rsplit('_', 1)[1]))
    if best:
        return best[-1]
    return work_dir / f'epoch_{finished_epoch(work_dir)}.pth'


def channels_last(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its 4-D weights in channels_last (NHWC) memory format."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)
