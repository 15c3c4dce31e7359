"""Data for PTQ: the evaluation set as the config defines it, and calibration images drawn from
the *training* split but read through the *test* pipeline (never the evaluation split).
"""
import copy
from typing import Tuple

import numpy as np
from mmdet.registry import DATASETS
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, Dataset, Subset

from .loading import PTQInputError

_WRAPPERS = ('MultiImageMixDataset', 'RepeatDataset', 'ClassBalancedDataset')


def _unwrap(dataset_cfg: ConfigDict) -> ConfigDict:
    """The base dataset of wrappers such as ``MultiImageMixDataset`` (mosaic) or ``RepeatDataset``."""
    while dataset_cfg.get('type') in _WRAPPERS:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def _build(dataset_cfg: ConfigDict, what: str) -> Dataset:
    try:
        dataset = DATASETS.build(dataset_cfg)
    except FileNotFoundError as exc:
        raise PTQInputError(f'the {what} set is missing: {exc}') from None
    if len(dataset) == 0:
        raise PTQInputError(f'the {what} set is empty ({dataset_cfg.get("ann_file", "?")})')
    return dataset


def eval_dataloader(cfg: Config, batch_size: int = 1) -> Tuple[DataLoader, Dataset]:
    """The validation set of ``cfg`` with its test-time pipeline, in order."""
    dataset = _build(copy.deepcopy(cfg.val_dataloader.dataset), 'validation')
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate), dataset


def calibration_dataloader(cfg: Config, num_images: int, seed: int = 0, batch_size: int = 8) -> Tuple[DataLoader, int]:
    """``num_images`` training images (a fixed random subset) through the test pipeline.

    Returns:
        The loader and the number of images it yields.
    """
    if num_images <= 0:
        raise PTQInputError(f'--calib-images must be positive, got {num_images}')
    dataset_cfg = copy.deepcopy(_unwrap(cfg.train_dataloader.dataset))
    dataset_cfg.pipeline = copy.deepcopy(cfg.val_dataloader.dataset.pipeline)
    dataset_cfg.test_mode = False
    dataset = _build(dataset_cfg, 'calibration (training)')
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.permutation(len(dataset))[:num_images]).tolist()
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate)
    return loader, len(indices)
