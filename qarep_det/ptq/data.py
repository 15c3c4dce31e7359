"""Data for PTQ: the evaluation set as the config defines it, and calibration images drawn from
the *training* split but read through the *test* pipeline (never the evaluation split).
"""
import copy
from typing import Tuple

import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS
from torch.utils.data import DataLoader, Dataset, Subset

from ..utils import BadInput

_WRAPPERS = ('MultiImageMixDataset', 'RepeatDataset', 'ClassBalancedDataset')


def _unwrap(dataset_cfg: ConfigDict) -> ConfigDict:
    """The base dataset of wrappers such as ``MultiImageMixDataset`` (mosaic) or ``RepeatDataset``."""
    while dataset_cfg.get('type') in _WRAPPERS:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def _build(dataset_cfg: ConfigDict, what: str) -> Dataset:
    """Build a dataset; whatever its files make the build raise is one line (they are input).

    ``DATASETS`` is mmengine's root registry: the build looks the type up under the config's
    default scope (mmdet, mmseg). The loaders here run in this process, so the dataset keeps its records as a list
    (``serialize_data=False``): that also lets an empty annotation file say so.
    """
    if dataset_cfg.get('type') not in _WRAPPERS:
        dataset_cfg = dict(dataset_cfg, serialize_data=False)
    try:
        dataset = DATASETS.build(dataset_cfg)
        size = len(dataset)
    except FileNotFoundError as exc:
        raise BadInput(f'the {what} set is missing: {exc}') from None
    except Exception as exc:  # noqa: BLE001  (an empty or malformed annotation file)
        raise BadInput(f'the {what} set cannot be read ({dataset_cfg.get("ann_file", "?")}): '
                       f'{type(exc).__name__}: {exc}') from None
    if size == 0:
        raise BadInput(f'the {what} set is empty ({dataset_cfg.get("ann_file", "?")})')
    return dataset


def _loader_dataset(cfg: Config, key: str) -> ConfigDict:
    """``cfg[key].dataset``; :class:`BadInput` when the config has no such loader (a demo checkpoint's
    stored config trains without validation)."""
    loader = cfg.get(key)
    if not isinstance(loader, dict) or not isinstance(loader.get('dataset'), dict):
        raise BadInput(f'the config has no {key}: pass a config file that has one with --config')
    return loader['dataset']


def eval_dataloader(cfg: Config, batch_size: int = 1) -> Tuple[DataLoader, Dataset]:
    """The validation set of ``cfg`` with its test-time pipeline, in order."""
    dataset = _build(copy.deepcopy(_loader_dataset(cfg, 'val_dataloader')), 'validation')
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate), dataset


def calibration_dataloader(cfg: Config, num_images: int, seed: int = 0, batch_size: int = 8) -> Tuple[DataLoader, int]:
    """``num_images`` training images (a fixed random subset) through the test pipeline.

    Returns:
        The loader and the number of images it yields.
    """
    if num_images <= 0:
        raise BadInput(f'--calib-images must be positive, got {num_images}')
    dataset_cfg = copy.deepcopy(_unwrap(_loader_dataset(cfg, 'train_dataloader')))
    dataset_cfg.pipeline = copy.deepcopy(_loader_dataset(cfg, 'val_dataloader').pipeline)
    dataset_cfg.test_mode = False
    dataset = _build(dataset_cfg, 'calibration (training)')
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.permutation(len(dataset))[:num_images]).tolist()
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate)
    return loader, len(indices)
