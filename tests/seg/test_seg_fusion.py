"""A segmentor's fused (re-parameterized) form computes what its training form computes, strides included."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

from qarep_det.models import RepModule
from qarep_det.models.backbones import QARepVGG
from qarep_det.reparam import reparameterize_model

NORM = dict(type='BN', requires_grad=True)


def _fcn(strides=(2, 2, 1, 1), block='QARepVGGBlock'):
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=dict(type='QARepVGG', arch='A0', strides=strides, block_cfg=dict(type=block)),
        decode_head=dict(type='FCNHead', in_channels=1280, in_index=3, channels=32, num_convs=2, concat_input=True,
                         num_classes=11, norm_cfg=NORM),
        auxiliary_head=dict(type='FCNHead', in_channels=192, in_index=2, channels=16, num_convs=1,
                            concat_input=False, num_classes=11, norm_cfg=NORM),
        test_cfg=dict(mode='whole'))


def _effrep_fpn():
    block = dict(type='QARepVGGBlock')
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=dict(type='EfficientRep', deepen_factor=0.33, widen_factor=0.25, block_cfg=block,
                      out_indices=(1, 2, 3)),
        neck=dict(type='RepPANNeck', deepen_factor=0.33, widen_factor=0.25, block_cfg=block),
        decode_head=dict(type='FPNHead', in_channels=[32, 64, 128], in_index=[0, 1, 2], feature_strides=[8, 16, 32],
                         channels=16, num_classes=11, norm_cfg=NORM),
        test_cfg=dict(mode='whole'))


def _trained_like(cfg: dict) -> torch.nn.Module:
    """The model with non-trivial BN statistics and affine parameters (as after training), in eval mode."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(ConfigDict(cfg))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        model.train()
        for _ in range(3):
            model(torch.rand(2, 3, 64, 64) * 2, mode='tensor')
    return model.eval()


@pytest.mark.parametrize('cfg,stride', [(_fcn(), 8), (_fcn(strides=(2, 2, 2, 2), block='RepVGGBlock'), 32),
                                        (_effrep_fpn(), 8)],
                         ids=['fcn-qarepvgg-a0-s8', 'fcn-repvgg-a0', 'fpn-efficientrep-reppan'])
def test_fused_segmentor_equals_unfused(cfg, stride):
    model = _trained_like(cfg)
    fused = reparameterize_model(model)
    reps = [m for m in model.modules() if isinstance(m, RepModule)]
    assert reps and all(m.reparam_conv is None for m in reps)  # the original is untouched
    assert all(m.reparam_conv is not None for m in fused.modules() if isinstance(m, RepModule))
    x = torch.rand(2, 3, 64, 96) * 2
    with torch.no_grad():
        expected, got = model(x, mode='tensor'), fused(x, mode='tensor')
    assert got.shape == expected.shape == (2, 11, 64 // stride, 96 // stride)
    assert expected.abs().max() > 1e-2  # the comparison is not between two zero maps
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # the predicted label maps agree too
        agree = (model.predict(x)[0].pred_sem_seg.data == fused.predict(x)[0].pred_sem_seg.data).float().mean()
    assert agree > 0.999


def test_strides_set_the_output_stride_and_fuse():
    torch.manual_seed(0)
    backbone = QARepVGG(arch='A0', strides=(2, 2, 1, 1)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = backbone(x)
        fused = reparameterize_model(backbone)(x)
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 16), (8, 8), (8, 8), (8, 8)]
    assert backbone.stages[2][0].stride == 1 and backbone.stages[1][0].stride == 2
    for a, b in zip(outs, fused):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert len(backbone.state_dict()) == len(QARepVGG(arch='A0').state_dict())  # same weights, other strides


@pytest.mark.parametrize('strides', [(2, 2, 1), (2, 2, 3, 1), (0, 2, 2, 2)])
def test_bad_strides_are_refused(strides):
    with pytest.raises(ValueError, match='strides must be four values of 1 or 2'):
        QARepVGG(arch='A0', strides=strides)
