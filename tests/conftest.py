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
