"""Rep-PAN / Rep-BiFPAN necks (+ CSP variants): widths, strides, wiring, P2 use, fusion."""
import pytest
import torch
from mmdet.registry import MODELS
from torch import nn

from qarep_det.models.layers import BepC3, ConvBNAct, QARepVGGBlockV2, RepStage
from qarep_det.models.necks import BiFusion, CSPRepBiFPANNeck, CSPRepPANNeck, RepBiFPANNeck, RepPANNeck
from model_testing import assert_fusion_preserves_outputs, prepare, random_features

NANO = dict(deepen_factor=0.33, widen_factor=0.25)
PAN_INPUTS = ((64, 128, 256), (8, 16, 32))  # N-scale backbone P3..P5 (channels, strides)
BIFPAN_INPUTS = ((32, 64, 128, 256), (4, 8, 16, 32))  # N-scale backbone P2..P5
EXPECTED_OUT = [(32, 8, 8), (64, 4, 4), (128, 2, 2)]  # for a 64x64 image


def run(neck: nn.Module, inputs: tuple, dtype: torch.dtype = torch.float32) -> list:
    feats = random_features(2, *inputs, size=64, dtype=dtype)
    return [tuple(o.shape[1:]) for o in neck(feats)]


@pytest.mark.parametrize('cfg, cls, inputs', [
    (dict(type='RepPANNeck'), RepPANNeck, PAN_INPUTS),
    (dict(type='CSPRepPANNeck', csp_e=2 / 3), CSPRepPANNeck, PAN_INPUTS),
    (dict(type='RepBiFPANNeck'), RepBiFPANNeck, BIFPAN_INPUTS),
    (dict(type='CSPRepBiFPANNeck', csp_e=2 / 3), CSPRepBiFPANNeck, BIFPAN_INPUTS),
], ids=['RepPAN', 'CSPRepPAN', 'RepBiFPAN', 'CSPRepBiFPAN'])
def test_builds_from_config_with_scaled_widths_and_input_strides(cfg, cls, inputs) -> None:
    neck = MODELS.build(dict(cfg, **NANO))
    assert type(neck) is cls
    assert neck.in_channels == inputs[0]
    assert neck.out_channels == (32, 64, 128)
    assert neck.num_blocks == 4
    assert run(neck, inputs) == EXPECTED_OUT


def test_rep_pan_wiring() -> None:
    neck = MODELS.build(dict(type='RepPANNeck', block_cfg=dict(type='QARepVGGBlockV2'), **NANO))
    assert [(m.conv.in_channels, m.conv.out_channels) for m in neck.reduce_layers] == [(256, 64), (64, 32)]
    assert [type(m) for m in neck.top_down_fusions] == [nn.ConvTranspose2d] * 2
    # top-down stage inputs: upsampled reduced feature + backbone feature
    assert [s[0].in_channels for s in neck.top_down_layers] == [64 + 128, 32 + 64]
    assert [s[0].in_channels for s in neck.bottom_up_layers] == [2 * 32, 2 * 64]
    assert [(m.conv.stride, m.conv.kernel_size) for m in neck.downsample_layers] == [((2, 2), (3, 3))] * 2
    stages = list(neck.top_down_layers) + list(neck.bottom_up_layers)
    assert all(isinstance(s, RepStage) and len(s) == 4 for s in stages)
    assert all(isinstance(b, QARepVGGBlockV2) for s in stages for b in s)
    with pytest.raises(ValueError):
        neck(random_features(1, *BIFPAN_INPUTS, size=64, dtype=torch.float32))
    with pytest.raises(ValueError):
        RepPANNeck(in_channels=(128, 256, 512, 1024))


def test_rep_bifpan_wiring_and_p2_is_used() -> None:
    neck = MODELS.build(dict(type='RepBiFPANNeck', **NANO)).eval()
    fusions = list(neck.top_down_fusions)
    assert all(isinstance(f, BiFusion) for f in fusions)
    # level P4 fuses P4 (128) and P3 (64) into 64; level P3 fuses P3 (64) and P2 (32) into 32
    assert [(f.lateral_conv.conv.in_channels, f.finer_conv.conv.in_channels, f.fuse_conv.conv.out_channels)
            for f in fusions] == [(128, 64, 64), (64, 32, 32)]
    assert [f.fuse_conv.conv.in_channels for f in fusions] == [3 * 64, 3 * 32]
    assert [s[0].in_channels for s in neck.top_down_layers] == [64, 32]
    feats = random_features(1, *BIFPAN_INPUTS, size=64, dtype=torch.float32)
    with torch.no_grad():
        base = neck(feats)
        again = neck(feats)
        changed = neck([feats[0] + 1.0] + feats[1:])
    assert all(torch.equal(a, b) for a, b in zip(base, again))
    assert all(not torch.allclose(a, b) for a, b in zip(base, changed))  # P2 reaches every output


def test_csp_necks_use_bepc3_and_their_own_activation() -> None:
    neck = MODELS.build(dict(type='CSPRepBiFPANNeck', csp_e=0.5, csp_act_cfg=dict(type='SiLU'),
                             block_cfg=dict(type='ConvBNAct', act_cfg=dict(type='SiLU')), **NANO))
    stages = list(neck.top_down_layers) + list(neck.bottom_up_layers)
    assert all(isinstance(s, BepC3) for s in stages)
    assert [s.main_conv.conv.out_channels for s in stages] == [32, 16, 32, 64]  # int(out * 0.5)
    assert [len(s.blocks) for s in stages] == [2] * 4  # 4 blocks -> 2 BottleReps
    assert isinstance(stages[0].main_conv.act, nn.SiLU) and isinstance(stages[0].blocks[0].conv1.act, nn.SiLU)
    assert isinstance(neck.reduce_layers[0].act, nn.ReLU) and isinstance(neck.downsample_layers[0].act, nn.ReLU)
    assert isinstance(neck.top_down_fusions[0].fuse_conv.act, nn.ReLU)
    assert all(isinstance(m, ConvBNAct) for s in stages for m in (s.blocks[0].conv1, s.blocks[0].conv2))


@pytest.mark.parametrize('cfg, inputs', [
    (dict(type='RepPANNeck', block_cfg=dict(type='QARepVGGBlock')), PAN_INPUTS),
    (dict(type='CSPRepPANNeck', block_cfg=dict(type='RepVGGBlock')), PAN_INPUTS),
    (dict(type='RepBiFPANNeck', block_cfg=dict(type='QARepVGGBlockV2')), BIFPAN_INPUTS),
    (dict(type='CSPRepBiFPANNeck', csp_e=2 / 3, block_cfg=dict(type='QARepVGGBlockV2')), BIFPAN_INPUTS),
], ids=['RepPAN', 'CSPRepPAN', 'RepBiFPAN', 'CSPRepBiFPAN'])
def test_fused_neck_gives_the_same_features(cfg, inputs) -> None:
    neck = prepare(MODELS.build(dict(cfg, **NANO)))
    fused = assert_fusion_preserves_outputs(neck, random_features(1, *inputs, size=64))
    assert run(fused, inputs, torch.float64) == EXPECTED_OUT
