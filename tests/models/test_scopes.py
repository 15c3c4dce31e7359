"""Every shared qarep_det module builds, as our class, under the mmdet and the mmseg scope.

Shared modules live in mmengine's root registries and in mmdet's (see qarep_det/registry.py);
these tests check, for every such name, that both scopes' registries return our class by bare
name and by ``mmdet.``-prefixed name (nothing of the same name in mmdet or mmseg shadows it), and
that every backbone and neck builds and runs forward under each scope.
"""
import inspect

import pytest
import torch
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import MODELS as MMSEG_MODELS

import qarep_det

SCOPES = {'mmdet': (MMDET_MODELS, MMDET_HOOKS), 'mmseg': (MMSEG_MODELS, MMSEG_HOOKS)}
SHARED_MODELS = {name: cls for name, cls in ROOT_MODELS.module_dict.items() if cls.__module__.startswith('qarep_det.')}
SHARED_HOOKS = {name: cls for name, cls in ROOT_HOOKS.module_dict.items() if cls.__module__.startswith('qarep_det.')}
# name -> (kwargs, input channels of each input level at strides 4/8/16/32 for necks, or None for a backbone)
BACKBONES = {
    'RepVGG': dict(arch='A0'),
    'QARepVGG': dict(arch='A0'),
    'EfficientRep': dict(deepen_factor=0.33, widen_factor=0.25, out_indices=(1, 2, 3)),
    'CSPBepBackbone': dict(deepen_factor=0.33, widen_factor=0.25, out_indices=(1, 2, 3)),
}
NECKS = {  # in_channels are unscaled; at widen_factor 0.25 the inputs have a quarter of them
    'RepPANNeck': dict(in_channels=(256, 512, 1024), out_channels=(128, 256, 512)),
    'CSPRepPANNeck': dict(in_channels=(256, 512, 1024), out_channels=(128, 256, 512)),
    'RepBiFPANNeck': dict(in_channels=(128, 256, 512, 1024), out_channels=(128, 256, 512)),
    'CSPRepBiFPANNeck': dict(in_channels=(128, 256, 512, 1024), out_channels=(128, 256, 512)),
}


def test_the_shared_set_is_what_the_package_defines():
    expected = {'ConvBNAct', 'RepVGGBlock', 'QARepVGGBlock', 'QARepVGGBlockV2', 'RepVGG', 'QARepVGG', 'EfficientRep',
                'CSPBepBackbone', 'RepPANNeck', 'CSPRepPANNeck', 'RepBiFPANNeck', 'CSPRepBiFPANNeck'}
    assert set(SHARED_MODELS) == expected
    assert set(SHARED_HOOKS) == {'ReparamEvalHook', 'ProgressBarHook'}
    assert set(BACKBONES) | set(NECKS) <= set(SHARED_MODELS)
    # detection-only parts stay in mmdet's registry alone
    assert 'YOLOv6Head' in MMDET_MODELS.module_dict and 'YOLOv6Head' not in ROOT_MODELS.module_dict
    assert 'YOLOv6' in MMDET_MODELS.module_dict and 'YOLOv6' not in ROOT_MODELS.module_dict


@pytest.mark.parametrize('scope', sorted(SCOPES))
@pytest.mark.parametrize('prefix', ['', 'mmdet.'])
def test_every_shared_name_resolves_to_our_class(scope, prefix):
    models, hooks = SCOPES[scope]
    with DefaultScope.overwrite_default_scope(scope):
        for name, cls in SHARED_MODELS.items():
            assert models.get(prefix + name) is cls, (scope, prefix + name)
            assert inspect.getmodule(cls).__name__.startswith('qarep_det.models')
        for name, cls in SHARED_HOOKS.items():
            assert hooks.get(prefix + name) is cls, (scope, prefix + name)
    # nobody else registered a class of the same name in the scopes' own registries
    for name in SHARED_MODELS:
        assert MMSEG_MODELS.module_dict.get(name) in (None, SHARED_MODELS[name])
        assert MMDET_MODELS.module_dict.get(name) is SHARED_MODELS[name]


@pytest.mark.parametrize('scope', sorted(SCOPES))
@pytest.mark.parametrize('prefix', ['', 'mmdet.'])
@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_backbones_build_and_run_under_each_scope(scope, prefix, name):
    models, _ = SCOPES[scope]
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        backbone = models.build(dict(type=prefix + name, **BACKBONES[name])).eval()
    assert type(backbone) is SHARED_MODELS[name]
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, 64, 64))
    strides = [2 ** (i + 2) for i in backbone.out_indices]
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // s, 64 // s) for c, s in zip(backbone.out_channels, strides)]
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('scope', sorted(SCOPES))
@pytest.mark.parametrize('prefix', ['', 'mmdet.'])
@pytest.mark.parametrize('name', sorted(NECKS))
def test_necks_build_and_run_under_each_scope(scope, prefix, name):
    models, _ = SCOPES[scope]
    cfg = NECKS[name]
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        neck = models.build(dict(type=prefix + name, widen_factor=0.25, deepen_factor=0.33, **cfg)).eval()
    assert type(neck) is SHARED_MODELS[name]
    levels = len(cfg['in_channels'])
    first_stride = 32 // 2 ** (levels - 1)
    inputs = [torch.rand(1, c // 4, 64 // (first_stride * 2 ** i), 64 // (first_stride * 2 ** i))
              for i, c in enumerate(cfg['in_channels'])]
    with torch.no_grad():
        outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(1, c // 4, 64 // s, 64 // s)
                                              for c, s in zip(cfg['out_channels'], (8, 16, 32))]


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_blocks_inside_a_backbone_are_ours_under_each_scope(scope):
    models, _ = SCOPES[scope]
    with DefaultScope.overwrite_default_scope(scope):
        backbone = models.build(dict(type='mmdet.QARepVGG', arch='A0'))
    blocks = [m for m in backbone.modules() if isinstance(m, qarep_det.models.QARepVGGBlock)]
    assert len(blocks) == 1 + 2 + 4 + 14 + 1


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_hooks_build_under_each_scope(scope):
    _, hooks = SCOPES[scope]
    with DefaultScope.overwrite_default_scope(scope):
        hook = hooks.build(dict(type='ReparamEvalHook', validate=False))
        bar = hooks.build(dict(type='mmdet.ProgressBarHook'))
    assert type(hook) is SHARED_HOOKS['ReparamEvalHook'] and hook.validate is False and hook.test is True
    assert type(bar) is SHARED_HOOKS['ProgressBarHook']
