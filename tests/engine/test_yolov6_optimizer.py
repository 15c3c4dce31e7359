"""YOLOv6's parameter groups, weight-decay scaling, DDP loss scale and lr schedule.

Expected values follow the official trainer (meituan/YOLOv6 v3.0 ``yolov6/solver/build.py`` and
``yolov6/core/engine.py``), computed by hand here.
"""
import math

import pytest
import torch
from mmengine.config import Config
from torch import nn

import qarep_det.engine.optimizers as optimizers
from qarep_det.engine.optimizers import (GROUP_KEY, YOLOv6LR, YOLOv6Momentum, build_yolov6_optimizer,
                                         weight_decay_scale, yolov6_param_groups)


class Tiny(nn.Module):
    """conv (no bias) + BN, a conv with bias, and an ``alpha`` like BottleRep's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 2, 1)
        self.alpha = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)) * self.alpha)


def groups_by_tag(wrapper) -> dict:
    return {g[GROUP_KEY]: g for g in wrapper.optimizer.param_groups}


def test_weight_decay_scale_is_total_batch_times_accumulate_over_64() -> None:
    assert weight_decay_scale(256) == 4.0  # official 5e-4 -> 2e-3 at 8 x 32
    assert weight_decay_scale(32) == 1.0  # accumulate 2
    assert weight_decay_scale(16) == 1.0  # accumulate 4
    assert weight_decay_scale(100) == pytest.approx(100 / 64)  # accumulate max(1, round(0.64)) = 1
    assert weight_decay_scale(24) == pytest.approx(24 * 3 / 64)  # accumulate round(2.67) = 3


def test_param_groups_as_official_and_alpha_frozen() -> None:
    model = Tiny()
    groups = yolov6_param_groups(model)
    assert groups['bn_weight'] == [model.bn.weight]
    assert groups['weight'] == [model.conv.weight, model.head.weight]
    assert groups['bias'] == [model.bn.bias, model.head.bias]
    assert groups['frozen'] == [model.alpha]

    wrapper = build_yolov6_optimizer(model, lr=0.01, weight_decay=5e-4, paramwise_cfg=dict(batch_size_per_gpu=256))
    tagged = groups_by_tag(wrapper)
    assert [(name, g['lr'], g['weight_decay']) for name, g in tagged.items()] == [
        ('bn_weight', 0.01, 0.0), ('weight', 0.01, pytest.approx(2e-3)), ('bias', 0.01, 0.0), ('frozen', 0.0, 0.0)]
    assert tagged['weight']['nesterov'] and tagged['weight']['momentum'] == 0.937
    model(torch.rand(2, 3, 8, 8)).square().sum().backward()
    assert model.alpha.grad is not None and model.alpha.grad.abs().item() > 0
    wrapper.step()
    assert model.alpha.item() == 1.0  # YOLOv6 never updates alpha (it is in none of its groups)


def test_yolov6m_alphas_are_frozen_and_every_parameter_is_grouped_once() -> None:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model = MODELS.build(Config.fromfile('configs/yolov6m_qarep.py').model)
    groups = yolov6_param_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)].rsplit('.', 1)[1] for p in groups['frozen']) == ['alpha'] * 24
    assert sum(len(v) for v in groups.values()) == len(names) == 499
    bn_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in groups['bn_weight']} == bn_weights
    assert all(names[id(p)].endswith('.bias') for p in groups['bias'])


def test_ddp_loss_scale_is_emulated_exactly_by_lr_times_and_decay_over_world_size(monkeypatch) -> None:
    """SGD with loss x W equals SGD with lr x W and weight decay / W, step for step."""
    world = 4
    torch.manual_seed(0)
    official, emulated = Tiny(), Tiny()
    emulated.load_state_dict(official.state_dict())
    reference = torch.optim.SGD([{'params': [official.conv.weight, official.head.weight], 'weight_decay': 2e-3},
                                 {'params': [official.bn.weight, official.bn.bias, official.head.bias]}],
                                lr=0.01, momentum=0.937, nesterov=True)
    monkeypatch.setattr(optimizers, 'get_world_size', lambda: world)
    wrapper = build_yolov6_optimizer(emulated, lr=0.01, weight_decay=5e-4,
                                     paramwise_cfg=dict(batch_size_per_gpu=64, scale_loss_by_world_size=True))
    tagged = groups_by_tag(wrapper)
    assert tagged['weight']['lr'] == pytest.approx(0.04) and tagged['weight']['weight_decay'] == pytest.approx(5e-4)
    for step in range(3):
        x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(step))
        reference.zero_grad()
        (official(x).square().mean() * world).backward()
        reference.step()
        wrapper.update_params(emulated(x).square().mean())
    for (name, a), b in zip(official.named_parameters(), emulated.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)


def lf(epoch: int, max_epochs: int, lrf: float = 0.01) -> float:
    return ((1 - math.cos(epoch * math.pi / max_epochs)) / 2) * (lrf - 1) + 1  # official build_lr_scheduler


def lrs_over(scheduler: YOLOv6LR, wrapper, steps) -> dict:
    out, steps = {}, set(steps)
    for t in range(max(steps) + 1):
        if t in steps:
            out[t] = {g[GROUP_KEY]: g['lr'] for g in wrapper.optimizer.param_groups}
        scheduler.step()
    return out


def test_lr_warms_up_bias_from_0_1_others_from_0_then_cosine_per_epoch() -> None:
    wrapper = build_yolov6_optimizer(Tiny(), lr=0.02, weight_decay=5e-4)
    # 100 iterations per epoch: 3 warm-up epochs are 300 < 1000 iterations, so the warm-up is 1000
    scheduler = YOLOv6LR(wrapper, max_epochs=20, epoch_length=100)
    assert scheduler.warmup_iters == 1000
    lrs = lrs_over(scheduler, wrapper, [0, 250, 1000, 1001, 1099, 1100, 1999])
    assert lrs[0] == dict(bn_weight=0.0, weight=0.0, bias=pytest.approx(0.1), frozen=0.0)
    target = 0.02 * lf(2, 20)
    assert lrs[250]['weight'] == pytest.approx(0.25 * target)
    assert lrs[250]['bias'] == pytest.approx(0.1 + 0.25 * (target - 0.1))
    for t, epoch in ((1000, 10), (1001, 10), (1099, 10), (1100, 11), (1999, 19)):
        assert lrs[t] == dict(bn_weight=pytest.approx(0.02 * lf(epoch, 20)), weight=pytest.approx(0.02 * lf(epoch, 20)),
                              bias=pytest.approx(0.02 * lf(epoch, 20)), frozen=0.0), t
    assert lrs[1999]['weight'] == pytest.approx(0.02 * (1 + 0.99 * (math.cos(math.pi * 19 / 20) - 1) / 2))


def test_lr_warmup_of_three_epochs_when_longer_than_1000_iterations_and_bias_start_scaled(monkeypatch) -> None:
    monkeypatch.setattr(optimizers, 'get_world_size', lambda: 8)
    wrapper = build_yolov6_optimizer(Tiny(), lr=0.01, weight_decay=5e-4,
                                     paramwise_cfg=dict(batch_size_per_gpu=32, scale_loss_by_world_size=True))
    scheduler = YOLOv6LR(wrapper, max_epochs=300, epoch_length=463)  # COCO at 8 x 32
    assert scheduler.warmup_iters == 1389
    lrs = lrs_over(scheduler, wrapper, [0, 1389])
    assert lrs[0]['bias'] == pytest.approx(0.8) and lrs[0]['weight'] == 0.0  # 0.1 with the loss x 8
    assert lrs[1389]['weight'] == pytest.approx(0.08 * lf(3, 300))
    assert groups_by_tag(wrapper)['weight']['weight_decay'] == pytest.approx(2e-3 / 8)


def test_momentum_warms_up_from_0_8_over_the_same_iterations() -> None:
    wrapper = build_yolov6_optimizer(Tiny(), lr=0.01, weight_decay=5e-4)
    scheduler = YOLOv6Momentum.build_iter_from_epoch(wrapper, warmup_epochs=3, epoch_length=100, end=20)
    assert (scheduler.warmup_iters, scheduler.begin, scheduler.end) == (1000, 0, 2000)
    seen = {}
    for t in range(1501):
        seen[t] = [g['momentum'] for g in wrapper.optimizer.param_groups]
        scheduler.step()
    assert seen[0] == [pytest.approx(0.8)] * 4
    assert seen[250] == [pytest.approx(0.8 + 0.137 / 4)] * 4
    assert seen[999] == [pytest.approx(0.8 + 0.137 * 0.999)] * 4  # mmengine's LinearMomentum: 0.937 here
    assert seen[1000] == seen[1500] == [pytest.approx(0.937)] * 4


def test_scheduler_and_constructor_reject_bad_settings() -> None:
    wrapper = build_yolov6_optimizer(Tiny(), lr=0.01, weight_decay=5e-4)
    with pytest.raises(ValueError, match='iteration-based'):
        YOLOv6LR(wrapper, max_epochs=10, epoch_length=10, by_epoch=True)
    with pytest.raises(ValueError, match='unknown paramwise_cfg'):
        build_yolov6_optimizer(Tiny(), lr=0.01, weight_decay=5e-4, paramwise_cfg=dict(norm_decay_mult=0.))
    adamw = optimizers.YOLOv6OptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=0.001, weight_decay=0.05)), dict(scale_loss_by_world_size=True))
    with pytest.raises(ValueError, match='exact for SGD only, not AdamW'):
        adamw(Tiny())
