"""YOLOv6HeadModule: layer shapes, reg_max variants, YOLOv6 initialization, DFL integral, fusion."""
import math

import pytest
import torch
from mmdet.registry import MODELS
from torch import nn

from qarep_det.models.dense_heads import DFLIntegral, YOLOv6HeadModule
from qarep_det.models.layers import ConvBNAct
from model_testing import assert_fusion_preserves_outputs, prepare, random_features

NANO_FEATS = ((32, 64, 128), (8, 16, 32))  # N-scale neck outputs (channels, strides)


@pytest.mark.parametrize('reg_max, reg_channels', [(0, 4), (16, 68)])
def test_layers_and_output_shapes(reg_max, reg_channels) -> None:
    head = MODELS.build(dict(type='YOLOv6HeadModule', num_classes=3, widen_factor=0.25, reg_max=reg_max))
    assert isinstance(head, YOLOv6HeadModule) and head.in_channels == (32, 64, 128)
    for i, c in enumerate(head.in_channels):
        assert head.stems[i].conv.kernel_size == (1, 1) and head.stems[i].conv.out_channels == c
        assert head.cls_convs[i].conv.kernel_size == (3, 3) and head.reg_convs[i].conv.kernel_size == (3, 3)
        assert (head.cls_preds[i].in_channels, head.cls_preds[i].out_channels) == (c, 3)
        assert (head.reg_preds[i].in_channels, head.reg_preds[i].out_channels) == (c, reg_channels)
    convs = [m for m in head.modules() if isinstance(m, ConvBNAct)]
    assert len(convs) == 9 and all(isinstance(m.act, nn.SiLU) for m in convs)
    assert isinstance(head.integral, DFLIntegral if reg_max else nn.Identity)
    cls_scores, bbox_preds = head(random_features(2, *NANO_FEATS, size=64, dtype=torch.float32))
    assert [tuple(t.shape) for t in cls_scores] == [(2, 3, 8, 8), (2, 3, 4, 4), (2, 3, 2, 2)]
    assert [tuple(t.shape) for t in bbox_preds] == [(2, reg_channels, s, s) for s in (8, 4, 2)]
    with pytest.raises(ValueError):
        head(random_features(2, *NANO_FEATS, size=64, dtype=torch.float32)[:2])


def test_init_weights_follows_yolov6() -> None:
    head = YOLOv6HeadModule(num_classes=5, widen_factor=0.25, reg_max=16)
    head.init_weights()
    for conv in head.cls_preds:
        assert not conv.weight.any()
        torch.testing.assert_close(conv.bias, torch.full((5,), -math.log(99.0)))
    for conv in head.reg_preds:
        assert not conv.weight.any() and torch.equal(conv.bias, torch.ones(68))
    cls_scores, bbox_preds = head.eval()(random_features(1, *NANO_FEATS, size=64, dtype=torch.float32))
    for score in cls_scores:  # prior probability everywhere
        torch.testing.assert_close(score.sigmoid(), torch.full_like(score, 0.01))
    for pred in bbox_preds:  # equal logits -> uniform distribution -> distance reg_max / 2
        torch.testing.assert_close(head.integral(pred), torch.full((1, 4, *pred.shape[2:]), 8.0))


def test_dfl_integral_is_the_expected_bin() -> None:
    integral = DFLIntegral(4)
    logits = torch.full((1, 4 * 5, 1, 2), -1e4)
    for side, bin_idx in enumerate((0, 1, 3, 4)):  # side-major layout: channel = side * 5 + bin
        logits[0, side * 5 + bin_idx] = 0.0
    torch.testing.assert_close(integral(logits)[0, :, 0, 0], torch.tensor([0.0, 1.0, 3.0, 4.0]))
    two_bins = torch.full((1, 20, 1, 1), -1e4)
    two_bins[0, 5 + 1] = two_bins[0, 5 + 2] = 0.0  # side 1: half on bin 1, half on bin 2
    assert integral(two_bins)[0, 1, 0, 0].item() == pytest.approx(1.5)
    assert 'project' not in integral.state_dict()
    with pytest.raises(ValueError):
        DFLIntegral(0)


@pytest.mark.parametrize('reg_max', [0, 16])
def test_fused_head_gives_the_same_outputs(reg_max) -> None:
    head = prepare(YOLOv6HeadModule(num_classes=7, widen_factor=0.25, reg_max=reg_max))
    assert_fusion_preserves_outputs(head, random_features(1, *NANO_FEATS, size=64))
