"""Every configs/seg config loads, is named as mmseg names configs, and its model builds and runs at a tiny size."""
import re

import pytest
import torch
from mmengine.registry import DefaultScope
from seg_testing import SEG_CONFIGS

from qarep_det.models import QARepVGGBlock, RepVGGBlock
from qarep_det.utils import load_config
from qarep_det.utils.checkpoint import build_model

CONFIGS = sorted(SEG_CONFIGS.glob('*.py'))
NAME = re.compile(r'^(?P<algo>[a-z0-9]+)_(?P<backbone>[a-z0-9-]+)_(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<iters>\d+)k_'
                  r'(?P<dataset>cityscapes|ade20k|camvid)-(?P<h>\d+)x(?P<w>\d+)\.py$')
CLASSES = {'cityscapes': 19, 'ade20k': 150, 'camvid': 11}


def test_the_set_of_configs():
    names = {c.name for c in CONFIGS}
    assert len(names) == 27  # 10 Cityscapes, 10 ADE20K, 7 CamVid (BiSeNetV2 included)
    for dataset in ('cityscapes', 'ade20k', 'camvid'):
        for algo in ('fcn_qarepvgg-a0', 'fcn_repvgg-a0', 'fpn_qarepvgg-a0', 'fpn_repvgg-a0',
                     'fpn_efficientrep-s-qarep-reppan', 'fpn_efficientrep-s-repvgg-reppan'):
            assert any(n.startswith(algo) and f'_{dataset}-' in n for n in names), (algo, dataset)
    assert 'bisenetv2_fcn_1xb8-1k_camvid-256x320.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_loads_and_its_name_matches_its_values(path):
    cfg = load_config(str(path))
    match = NAME.match(path.name)
    assert match, path.name
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports['imports'] == ['qarep_det']
    crop = (int(match['h']), int(match['w']))
    assert tuple(cfg.crop_size) == crop
    assert tuple(cfg.model.data_preprocessor.size) == crop
    assert cfg.train_dataloader.batch_size == int(match['batch'])
    assert cfg.train_cfg.max_iters == int(match['iters']) * 1000
    assert cfg.param_scheduler[-1]['end'] == cfg.train_cfg.max_iters
    heads = [cfg.model.decode_head] + ([] if 'auxiliary_head' not in cfg.model else
                                       cfg.model.auxiliary_head if isinstance(cfg.model.auxiliary_head, list) else
                                       [cfg.model.auxiliary_head])
    assert {h['num_classes'] for h in heads} == {CLASSES[match['dataset']]}
    assert cfg.val_evaluator['type'] == 'IoUMetric'
    if match['dataset'] == 'camvid':  # the CPU schedule: plain BN, the same schedule for every model
        assert cfg.sync_bn is None and cfg.train_cfg.max_iters == 1000 and crop == (256, 320)
        assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
    else:
        assert cfg.sync_bn == 'torch' and int(match['gpus']) * int(match['batch']) in (8, 16)
    if '-s8' in match['backbone']:
        assert tuple(cfg.model.backbone.strides) == (2, 2, 1, 1)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_model_builds_and_runs_at_a_tiny_size(path):
    cfg = load_config(str(path))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    backbone = cfg.model.backbone
    blocks = {type(m) for m in model.modules() if isinstance(m, (RepVGGBlock, QARepVGGBlock))}
    if 'qarep' in path.name:
        assert blocks == {QARepVGGBlock}
    elif 'repvgg' in path.name:
        assert blocks == {RepVGGBlock}
    else:
        assert backbone.type == 'BiSeNetV2' and not blocks
    if 'b1g4' in path.name:
        assert model.backbone.arch == 'B1g4' and model.backbone.groups == 4
    with DefaultScope.overwrite_default_scope('mmseg'), torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape[:2] == (1, model.decode_head.num_classes)
    assert torch.isfinite(logits).all()
