"""Shared test fixtures. Importing qarep_det registers its modules and the checkpoint allow-list."""
import os
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

import qarep_det  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    # As every mmdet config does (default_scope='mmdet'): registry lookups start in mmdet's scope.
    init_default_scope('mmdet')


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def synthetic_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint as training writes it (weights + the config text in ``meta``) for a 4+4-image synthetic set
    in ``<checkpoint folder>/data``."""
    from mmdet.registry import MODELS
    from qarep_det.datasets.synthetic import generate_synthetic_coco
    root = tmp_path_factory.mktemp('synthetic_checkpoint')
    generate_synthetic_coco(root / 'data', num_train=4, num_val=4)
    from testing_utils import tiny_synthetic_config
    cfg = tiny_synthetic_config(root / 'data')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # settle BN statistics on real-looking inputs
        model.train()
        model(torch.rand(4, 3, 256, 256), mode='tensor')
    path = root / 'epoch_1.pth'
    torch.save(dict(meta=dict(cfg=cfg.pretty_text, epoch=1), state_dict=model.state_dict()), path)
    return path
