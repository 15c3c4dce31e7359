"""Fixtures of the segmentation tests: the tiny CamVid-like set, written once per session."""
from pathlib import Path

import pytest
from mmengine.registry import init_default_scope
from seg_testing import write_tiny_camvid


@pytest.fixture(scope='session')
def tiny_camvid(tmp_path_factory) -> Path:
    return write_tiny_camvid(tmp_path_factory.mktemp('tiny_camvid') / 'camvid')


@pytest.fixture(autouse=True)
def _back_to_the_mmdet_scope():
    """``build_model`` switches the default scope to the config's; the rest of the suite expects mmdet's."""
    yield
    init_default_scope('mmdet')
