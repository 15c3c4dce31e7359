"""EfficientRep / CSPBepBackbone: config build, widths, strides, block types, freezing, fusion."""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det.models.backbones import CSPBepBackbone, EfficientRep
from qarep_det.models.layers import CSPSPPF, SPPF, BepC3, BottleRep, ConvBNAct, QARepVGGBlockV2, RepStage
from model_testing import assert_fusion_preserves_outputs, prepare

NANO = dict(deepen_factor=0.33, widen_factor=0.25)  # YOLOv6-N scale: fast
SILU = dict(type='SiLU')


def test_efficientrep_nano_widths_depths_and_strides() -> None:
    cfg = dict(type='EfficientRep', block_cfg=dict(type='QARepVGGBlockV2'), **NANO)
    backbone = MODELS.build(cfg)
    assert isinstance(backbone, EfficientRep)
    assert backbone.stem_channels == 16
    assert backbone.stage_channels == (32, 64, 128, 256)
    assert backbone.num_blocks == (2, 4, 6, 2)
    assert backbone.out_channels == (32, 64, 128, 256)
    outs = backbone(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 16, 24), (2, 64, 8, 12), (2, 128, 4, 6), (2, 256, 2, 3)]
    # stem + 4 downsampling blocks + 2 + 4 + 6 + 2 stage blocks, all of the configured type
    assert sum(isinstance(m, QARepVGGBlockV2) for m in backbone.modules()) == 19
    assert [len(stage[1]) for stage in backbone.stages] == [2, 4, 6, 2]
    assert all(isinstance(stage[1], RepStage) for stage in backbone.stages)
    assert isinstance(backbone.stages[-1][-1], CSPSPPF)  # v3.0 N/S default
    assert cfg['block_cfg'] == dict(type='QARepVGGBlockV2')  # the user's cfg is not mutated


def test_out_indices_and_sppf_choice() -> None:
    backbone = MODELS.build(dict(type='EfficientRep', out_indices=(1, 2, 3), use_cspsppf=False, **NANO))
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2)]
    assert backbone.out_channels == (64, 128, 256)
    assert type(backbone.stages[-1][-1]) is SPPF
    assert isinstance(backbone.stages[-1][-1].pre_conv.act, nn.ReLU)
    with pytest.raises(ValueError):
        EfficientRep(out_indices=(4,), **NANO)
    with pytest.raises(ValueError):
        EfficientRep(frozen_stages=5, **NANO)


def test_cspbep_medium_style_stages() -> None:
    backbone = MODELS.build(dict(type='CSPBepBackbone', csp_e=2 / 3, **NANO))
    assert isinstance(backbone, CSPBepBackbone)
    csp = [stage[1] for stage in backbone.stages]
    assert all(isinstance(layer, BepC3) for layer in csp)
    assert [len(layer.blocks) for layer in csp] == [1, 2, 3, 1]  # max(n // 2, 1) for n = 2, 4, 6, 2
    assert [layer.main_conv.conv.out_channels for layer in csp] == [21, 42, 85, 170]  # int(c * 2 / 3)
    assert type(backbone.stages[-1][-1]) is SPPF  # M/L default
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [o.shape[1:] for o in outs] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]


def test_cspbep_large_style_uses_silu_convs() -> None:
    block = dict(type='ConvBNAct', act_cfg=SILU)
    backbone = MODELS.build(dict(type='CSPBepBackbone', block_cfg=block, act_cfg=SILU, **NANO))
    downsample = backbone.stages[0][0]
    assert isinstance(downsample, ConvBNAct) and downsample.conv.kernel_size == (3, 3)
    assert downsample.conv.stride == (2, 2)
    bottle = backbone.stages[0][1].blocks[0]
    assert isinstance(bottle, BottleRep) and isinstance(bottle.conv1, ConvBNAct)
    acts = [m.act for m in backbone.modules() if isinstance(m, ConvBNAct)]
    assert acts and all(isinstance(a, nn.SiLU) for a in acts)
    assert len({id(a) for a in acts}) == len(acts)  # no shared activation modules


def test_frozen_stages_freeze_parameters_and_statistics() -> None:
    backbone = MODELS.build(dict(type='EfficientRep', frozen_stages=1, **NANO)).train()
    frozen, free = [backbone.stem, backbone.stages[0]], list(backbone.stages[1:])
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in free for p in m.parameters())
    frozen_bns = [m for f in frozen for m in f.modules() if isinstance(m, _BatchNorm)]
    free_bns = [m for f in free for m in f.modules() if isinstance(m, _BatchNorm)]
    assert frozen_bns and not any(bn.training for bn in frozen_bns)
    assert all(bn.training for bn in free_bns)
    before = [bn.running_mean.clone() for bn in frozen_bns + free_bns]
    sum(o.sum() for o in backbone(torch.randn(2, 3, 64, 64))).backward()
    after = [bn.running_mean for bn in frozen_bns + free_bns]
    assert all(torch.equal(b, a) for b, a in zip(before[:len(frozen_bns)], after[:len(frozen_bns)]))
    assert not any(torch.equal(b, a) for b, a in zip(before[len(frozen_bns):], after[len(frozen_bns):]))
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert all(p.grad is not None for p in backbone.stages[1].parameters())


def test_norm_eval_keeps_every_norm_in_eval_mode() -> None:
    backbone = MODELS.build(dict(type='CSPBepBackbone', norm_eval=True, **NANO)).train()
    bns = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    assert backbone.training and bns and not any(bn.training for bn in bns)
    stats = copy.deepcopy([bn.running_var for bn in bns])
    backbone(torch.randn(2, 3, 32, 32))
    assert all(torch.equal(s, bn.running_var) for s, bn in zip(stats, bns))
    assert all(p.requires_grad for p in backbone.parameters())
    assert all(bn.training for bn in MODELS.build(dict(type='CSPBepBackbone', **NANO)).train().modules()
               if isinstance(bn, _BatchNorm))


@pytest.mark.parametrize('cfg', [
    dict(type='EfficientRep', block_cfg=dict(type='QARepVGGBlockV2')),
    dict(type='EfficientRep', block_cfg=dict(type='RepVGGBlock'), use_cspsppf=False),
    dict(type='CSPBepBackbone', csp_e=2 / 3, block_cfg=dict(type='QARepVGGBlock')),
    dict(type='CSPBepBackbone', block_cfg=dict(type='ConvBNAct', act_cfg=SILU), act_cfg=SILU),
], ids=['N-qarepv2', 'N-repvgg-sppf', 'M-qarep', 'L-convsilu'])
def test_fused_backbone_gives_the_same_features(cfg) -> None:
    backbone = prepare(MODELS.build(dict(cfg, **NANO)))
    assert_fusion_preserves_outputs(backbone, torch.randn(1, 3, 64, 64, dtype=torch.float64))
