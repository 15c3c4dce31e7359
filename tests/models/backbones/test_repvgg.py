"""RepVGG / QARepVGG: published architectures and parameter counts, features, freezing, fusion."""
import pytest
import torch
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det.models.backbones import QARepVGG, RepVGG
from qarep_det.models.layers import QARepVGGBlock, QARepVGGBlockV2, RepVGGBlock
from model_testing import assert_fusion_preserves_outputs, prepare

# Ding et al., CVPR 2021, Sec. 3.4 (widths incl. stem, blocks per stage after the stem, groups) and
# its ImageNet results (inference-time parameters in millions, with the 1000-class linear classifier).
TABLE = {
    'A0': ((48, 48, 96, 192, 1280), (2, 4, 14, 1), 1, 8.30),
    'A1': ((64, 64, 128, 256, 1280), (2, 4, 14, 1), 1, 12.78),
    'A2': ((64, 96, 192, 384, 1408), (2, 4, 14, 1), 1, 25.49),
    'B0': ((64, 64, 128, 256, 1280), (4, 6, 16, 1), 1, 14.33),
    'B1': ((64, 128, 256, 512, 2048), (4, 6, 16, 1), 1, 51.82),
    'B1g2': ((64, 128, 256, 512, 2048), (4, 6, 16, 1), 2, 41.36),
    'B1g4': ((64, 128, 256, 512, 2048), (4, 6, 16, 1), 4, 36.12),
    'B2': ((64, 160, 320, 640, 2560), (4, 6, 16, 1), 1, 80.31),
    'B2g4': ((64, 160, 320, 640, 2560), (4, 6, 16, 1), 4, 55.77),
    'B3': ((64, 192, 384, 768, 2560), (4, 6, 16, 1), 1, 110.96),
    'B3g4': ((64, 192, 384, 768, 2560), (4, 6, 16, 1), 4, 75.62),
}


def build_on_meta(arch: str) -> RepVGG:
    """Deploy-form build on the meta device: shapes and counts without allocating weights."""
    with torch.device('meta'):
        return MODELS.build(dict(type='RepVGG', arch=arch, block_cfg=dict(type='RepVGGBlock', deploy=True)))


@pytest.mark.parametrize('arch', sorted(TABLE))
def test_architecture_and_published_parameter_count(arch) -> None:
    widths, depths, groups, published_m = TABLE[arch]
    backbone = build_on_meta(arch)
    assert (backbone.stem_channels, *backbone.stage_channels) == widths
    assert tuple(len(stage) for stage in backbone.stages) == depths
    layers = [backbone.stem] + [block for stage in backbone.stages for block in stage]
    assert len(layers) == 1 + sum(depths)
    grouped = [i for i, block in enumerate(layers) if block.reparam_conv.groups > 1]
    assert grouped == ([] if groups == 1 else list(range(2, 27, 2)))
    assert all(layers[i].reparam_conv.groups == groups for i in grouped)
    classifier = widths[-1] * 1000 + 1000
    params_m = (sum(p.numel() for p in backbone.parameters()) + classifier) / 1e6
    assert params_m == pytest.approx(published_m, rel=2e-3)


def test_qarepvgg_a0_features_through_the_registry() -> None:
    backbone = MODELS.build(dict(type='QARepVGG', arch='A0'))
    assert isinstance(backbone, QARepVGG)
    blocks = [m for m in backbone.modules() if isinstance(m, (RepVGGBlock, QARepVGGBlock))]
    assert len(blocks) == 22 and all(type(b) is QARepVGGBlock for b in blocks)
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 48, 16, 16), (1, 96, 8, 8), (1, 192, 4, 4), (1, 1280, 2, 2)]
    assert backbone.out_channels == (48, 96, 192, 1280)
    assert all(type(b) is RepVGGBlock for b in MODELS.build(dict(type='RepVGG', arch='A0')).modules()
               if isinstance(b, (RepVGGBlock, QARepVGGBlock)))


def test_out_indices_select_strides_8_to_32() -> None:
    backbone = MODELS.build(dict(type='RepVGG', arch='A0', out_indices=(1, 2, 3),
                                 block_cfg=dict(type='QARepVGGBlockV2')))
    outs = backbone(torch.randn(2, 3, 96, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 96, 12, 8), (2, 192, 6, 4), (2, 1280, 3, 2)]
    assert isinstance(backbone.stages[2][5], QARepVGGBlockV2)
    with pytest.raises(KeyError):
        RepVGG(arch='C0')


def test_frozen_stages_and_norm_eval() -> None:
    backbone = MODELS.build(dict(type='QARepVGG', arch='A0', frozen_stages=2)).train()
    assert not any(p.requires_grad for m in (backbone.stem, *backbone.stages[:2]) for p in m.parameters())
    assert all(p.requires_grad for m in backbone.stages[2:] for p in m.parameters())
    assert not any(bn.training for bn in backbone.stages[1].modules() if isinstance(bn, _BatchNorm))
    assert all(bn.training for bn in backbone.stages[2].modules() if isinstance(bn, _BatchNorm))
    backbone = MODELS.build(dict(type='QARepVGG', arch='A0', norm_eval=True)).train()
    assert backbone.training and not any(m.training for m in backbone.modules() if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('cfg', [dict(type='QARepVGG', arch='A0'), dict(type='RepVGG', arch='A0')],
                         ids=['QARepVGG-A0', 'RepVGG-A0'])
def test_fused_backbone_gives_the_same_features(cfg) -> None:
    backbone = prepare(MODELS.build(cfg))
    assert_fusion_preserves_outputs(backbone, torch.randn(1, 3, 32, 32, dtype=torch.float64))
