"""Shared YOLOv6 stage layers: scaling rules, structure, numerics, fusion."""
import pytest
import torch
from torch import nn

from qarep_det.models.layers import (CSPSPPF, SPPF, BepC3, BottleRep, ConvBNAct, QARepVGGBlockV2, RepStage,
                                     scale_depth, scale_width)
from qarep_det.models.layers.csp_layers import build_block
from model_testing import assert_fusion_preserves_outputs, prepare


@pytest.mark.parametrize('channels, factor, expected', [
    (1024, 0.25, 256), (64, 0.25, 16), (1024, 0.75, 768), (256, 0.5, 128), (100, 0.33, 40), (12, 0.5, 8)])
def test_scale_width_rounds_up_to_multiples_of_8(channels, factor, expected) -> None:
    assert scale_width(channels, factor) == expected


@pytest.mark.parametrize('num_blocks, factor, expected', [
    (6, 0.33, 2), (12, 0.33, 4), (18, 0.33, 6), (12, 0.6, 7), (18, 0.6, 11), (6, 0.6, 4), (1, 0.33, 1),
    (2, 0.1, 1), (18, 1.0, 18)])
def test_scale_depth_matches_yolov6(num_blocks, factor, expected) -> None:
    assert scale_depth(num_blocks, factor) == expected


def test_build_block_copies_cfg_and_sets_kernel_and_norm() -> None:
    cfg = dict(type='ConvBNAct', act_cfg=dict(type='SiLU'))
    block = build_block(cfg, 8, 16, stride=2, norm_cfg=dict(type='BN', eps=1e-3))
    assert cfg == dict(type='ConvBNAct', act_cfg=dict(type='SiLU'))
    assert isinstance(block, ConvBNAct) and isinstance(block.act, nn.SiLU)
    assert block.conv.kernel_size == (3, 3) and block.conv.stride == (2, 2) and block.bn.eps == 1e-3
    own_norm = build_block(dict(type='RepVGGBlock', norm_cfg=dict(type='BN', eps=0.5)), 4, 4, norm_cfg=dict(type='BN'))
    assert own_norm.identity.eps == 0.5


def test_rep_stage_widths() -> None:
    stage = RepStage(8, 16, 3, dict(type='QARepVGGBlockV2'))
    assert [type(b) for b in stage] == [QARepVGGBlockV2] * 3
    assert [(b.in_channels, b.out_channels) for b in stage] == [(8, 16), (16, 16), (16, 16)]
    with pytest.raises(ValueError):
        RepStage(8, 16, 0, dict(type='RepVGGBlock'))


@pytest.mark.parametrize('num_blocks, expected', [(1, 1), (2, 1), (3, 1), (4, 2), (7, 3), (12, 6)])
def test_bepc3_holds_half_as_many_bottlereps_as_blocks(num_blocks, expected) -> None:
    layer = BepC3(16, 24, num_blocks, 2 / 3, dict(type='RepVGGBlock'))
    assert len(layer.blocks) == expected
    assert layer.main_conv.conv.out_channels == 16  # int(24 * 2 / 3)
    assert layer.final_conv.conv.in_channels == 32
    assert layer(torch.randn(1, 16, 6, 6)).shape == (1, 24, 6, 6)


@torch.no_grad()
def test_bottlerep_shortcut_scaled_by_alpha() -> None:
    layer = BottleRep(8, 8, dict(type='RepVGGBlock')).eval()
    layer.alpha.fill_(0.25)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(layer(x), layer.conv2(layer.conv1(x)) + 0.25 * x)
    no_shortcut = BottleRep(8, 16, dict(type='RepVGGBlock')).eval()
    assert no_shortcut.alpha is None
    torch.testing.assert_close(no_shortcut(x), no_shortcut.conv2(no_shortcut.conv1(x)))


@torch.no_grad()
def test_sppf_equals_spp_with_kernels_5_9_13() -> None:
    """Chained 5x5 max-pools equal parallel 5/9/13 pools (the point of SPPF)."""
    layer = SPPF(16, 12).eval()
    layer.post_conv = nn.Identity()  # expose the concatenation
    x = torch.randn(1, 16, 9, 9)
    y = layer.pre_conv(x)
    spp = torch.cat([y] + [nn.functional.max_pool2d(y, k, 1, k // 2) for k in (5, 9, 13)], dim=1)
    torch.testing.assert_close(layer(x), spp)
    assert len({id(p) for p in layer.pools}) == 3  # one module per op


def test_cspsppf_structure_and_shape() -> None:
    layer = CSPSPPF(32, 24, act_cfg=dict(type='SiLU'))
    assert layer.short_conv.conv.out_channels == 12  # int(24 * 0.5)
    assert layer.pre_conv2.conv.kernel_size == (3, 3) and layer.post_conv2.conv.kernel_size == (3, 3)
    assert layer.post_conv1.conv.in_channels == 48 and layer.final_conv.conv.in_channels == 24
    assert all(isinstance(m.act, nn.SiLU) for m in layer.modules() if isinstance(m, ConvBNAct))
    assert layer(torch.randn(2, 32, 7, 7)).shape == (2, 24, 7, 7)


@pytest.mark.parametrize('make, in_channels', [
    (lambda: RepStage(8, 16, 3, dict(type='QARepVGGBlockV2')), 8),
    (lambda: BepC3(8, 16, 4, 0.5, dict(type='QARepVGGBlock')), 8),
    (lambda: BepC3(8, 16, 2, 0.5, dict(type='ConvBNAct', act_cfg=dict(type='SiLU')), act_cfg=dict(type='SiLU')), 8),
    (lambda: SPPF(16, 16), 16),
    (lambda: CSPSPPF(16, 16), 16),
], ids=['RepStage', 'BepC3-QARep', 'BepC3-ConvSiLU', 'SPPF', 'CSPSPPF'])
def test_fusion_preserves_outputs(make, in_channels) -> None:
    layer = prepare(make())
    assert_fusion_preserves_outputs(layer, torch.randn(2, in_channels, 9, 9, dtype=torch.float64))
