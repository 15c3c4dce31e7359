"""The COCO configs build YOLOv6's optimizer, lr/momentum schedule and M/L MixUp as the official trainer.

Official values: meituan/YOLOv6 v3.0 ``yolov6/core/engine.py`` (warm-up max(3 epochs, 1000
iters), bias lr from 0.1, momentum 0.8 -> 0.937, cosine ``lf`` per epoch to lrf 0.01) and
``configs/yolov6m.py`` (mixup 0.1).
"""
import math
from pathlib import Path

import numpy as np
import pytest
from mmdet.registry import DATASETS, MODELS, PARAM_SCHEDULERS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import qarep_det  # noqa: F401  (registers the constructor, scheduler and transforms)
from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.engine.optimizers import GROUP_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
register_all_modules(init_default_scope=False)


def lf(epoch: int) -> float:
    return ((1 - math.cos(epoch * math.pi / 300)) / 2) * (0.01 - 1) + 1


def test_yolov6s_config_builds_the_official_groups_and_schedule() -> None:
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'yolov6s_qarep.py'))
    model = MODELS.build(cfg.model)
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        epoch_length = 463  # COCO train2017 at 8 x 32 (one process here: the lr is not scaled)
        # as Runner.build_param_scheduler: the default end is the last epoch
        schedulers = [PARAM_SCHEDULERS.build(dict(s, end=s.get('end', 300)),
                                             default_args=dict(optimizer=wrapper, epoch_length=epoch_length))
                      for s in cfg.param_scheduler]
    assert (schedulers[0].begin, schedulers[0].end, schedulers[0].warmup_iters) == (0, 300 * 463, 1389)
    groups = {g[GROUP_KEY]: g for g in wrapper.optimizer.param_groups}
    assert sorted(groups) == ['bias', 'bn_weight', 'weight']  # no alpha in N/S
    num_bn = sum(1 for m in model.modules() if type(m).__name__ == 'BatchNorm2d')
    assert len(groups['bn_weight']['params']) == num_bn
    assert sum(len(g['params']) for g in groups.values()) == len(list(model.parameters()))
    assert groups['weight']['weight_decay'] == pytest.approx(5e-4)  # 32 x 1 process: x 32 * 2 / 64 = 1
    assert groups['bias']['weight_decay'] == groups['bn_weight']['weight_decay'] == 0

    seen = {}
    for t in range(1390):
        if t in (0, 463, 1389):
            seen[t] = ({k: g['lr'] for k, g in groups.items()}, groups['weight']['momentum'])
        for s in schedulers:
            s.step()
    (lrs0, momentum0), (lrs463, momentum463), (lrs1389, momentum1389) = seen[0], seen[463], seen[1389]
    assert lrs0 == dict(bn_weight=0.0, weight=0.0, bias=pytest.approx(0.1)) and momentum0 == pytest.approx(0.8)
    assert lrs463['weight'] == pytest.approx(0.01 * lf(1) * 463 / 1389)
    assert lrs463['bias'] == pytest.approx(0.1 + (0.01 * lf(1) - 0.1) * 463 / 1389)
    assert momentum463 == pytest.approx(0.8 + 0.137 * 463 / 1389)
    assert lrs1389 == {k: pytest.approx(0.01 * lf(3)) for k in groups} and momentum1389 == pytest.approx(0.937)


def test_yolov6m_config_mixes_a_second_mosaic_sample_until_the_mode_switch(tmp_path: Path) -> None:
    root = generate_synthetic_coco(tmp_path / 'synthetic', num_train=5, num_val=1, seed=4)['data_root']
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'yolov6m_qarep.py'))
    inner = cfg.train_dataloader.dataset.dataset
    inner.update(data_root=f'{root}/', ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 metainfo=dict(classes=('circle', 'square', 'triangle')))
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'YOLOv6MixUp':
            step.prob = 1.0
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    mixup = next(t for t in dataset.pipeline if type(t).__name__ == 'YOLOv6MixUp')
    assert [type(t).__name__ for t in mixup.pre_transform.transforms] == ['Mosaic', 'LetterResize',
                                                                          'YOLOv6RandomAffine']
    np.random.seed(1)
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 640, 640) and mixup._counts == [3, 0, 0]
    boxes = sample['data_samples'].gt_instances.bboxes.tensor
    assert boxes.min() >= 0 and boxes.max() <= 640
    dataset.update_skip_type_keys(cfg.custom_hooks[-1].skip_type_keys)  # the last 15 epochs
    mixup._counts = []
    assert tuple(dataset[1]['inputs'].shape) == (3, 640, 640) and mixup._counts == []
