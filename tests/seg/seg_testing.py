"""Helpers of the segmentation tests: a tiny CamVid-like set on disk and the options of a tiny run.

Provenance: qarep_det's own; the layout is that of ``qarep_det.datasets.camvid``.
"""
from pathlib import Path
from typing import List, Tuple

import numpy as np
from PIL import Image

NUM_CLASSES = 11
VOID = 11
REPO_ROOT = Path(__file__).resolve().parents[2]
SEG_CONFIGS = REPO_ROOT / 'configs' / 'seg'
TINY_CONFIG = SEG_CONFIGS / 'fcn_qarepvgg-a0_1xb8-1k_camvid-256x320.py'


def write_tiny_camvid(root: Path, num_train: int = 4, num_val: int = 2, size: Tuple[int, int] = (64, 48),
                      seed: int = 0) -> Path:
    """Write ``root/images/{train,val}/*.jpg`` and ``root/labels/{train,val}/*.png`` as CamVid lays them out.

    Each image is a few coloured, noisy vertical bands whose label is the band's class (0..10), with a
    void (11) strip at the bottom, so every label value, void included, occurs.

    Args:
        root: The dataset folder (created).
        num_train: Training images.
        num_val: Validation images.
        size: ``(width, height)`` of every image.
        seed: Seed of the colours and classes.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    for split, count in (('train', num_train), ('val', num_val)):
        (root / 'images' / split).mkdir(parents=True, exist_ok=True)
        (root / 'labels' / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            classes = rng.permutation(NUM_CLASSES)
            label = np.repeat(classes[(np.arange(width) * NUM_CLASSES) // width][None, :], height, axis=0)
            label[-height // 8:, :] = VOID
            palette = rng.integers(40, 216, size=(NUM_CLASSES + 1, 3))
            noise = rng.normal(0, 20, size=(height, width, 3))  # texture: flat bands give BN zero variance
            image = np.clip(palette[label] + noise, 0, 255).astype(np.uint8)
            name = f'{split}_{index:03d}'
            Image.fromarray(image).save(root / 'images' / split / f'{name}.jpg', quality=95)
            Image.fromarray(label.astype(np.uint8)).save(root / 'labels' / split / f'{name}.png')
    return root


def tiny_run_options(data_root: Path, iters: int = 4) -> List[str]:
    """``--cfg-options`` that shrink a CamVid config to ``iters`` iterations of batch 2 at 32x32 on ``data_root``."""
    options = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
               'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', f'param_scheduler.1.end={iters}',
               f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
               'train_dataloader.batch_size=2', 'model.data_preprocessor.size=(32,32)',
               'train_dataloader.dataset.pipeline.4.crop_size=(32,32)']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options
