"""The anchor-aided (``--fuse_ab``) COCO configs: step 1 of the official v3.0 recipe as `_base_` diffs.

Official values: meituan/YOLOv6 (e86a483) ``configs/yolov6{n,s,m,l}.py`` (``anchors_init``),
``yolov6/models/yolo.py`` (3 anchors), ``yolov6/core/engine.py`` (the anchor-based loss: top-26
task-aligned assignment, no DFL, the config's IoU type) and ``docs/Train_coco_data.md`` (step 1:
``--fuse_ab``, 300 epochs, ``use_dfl=True, reg_max=16``, batch 128 for N and 256 for S/M/L).
A checkpoint of these configs is tested and deployed with the same config (the branch is inert
outside training); the plain configs refuse it in one line.
"""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import qarep_det  # noqa: F401  (registers the modules)
from qarep_det.engine.optimizers import GROUP_KEY
from qarep_det.utils import BadInput
from qarep_det.utils.checkpoint import model_from_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
register_all_modules(init_default_scope=False)
ANCHORS = [[10, 13, 19, 19, 33, 23], [30, 61, 59, 59, 59, 119], [116, 90, 185, 185, 373, 326]]
CONFIGS = [('yolov6n_qarep_fuseab.py', 'yolov6n_qarep.py'), ('yolov6s_qarep_fuseab.py', 'yolov6s_qarep.py'),
           ('yolov6m_qarep_fuseab.py', 'yolov6m_qarep.py'), ('yolov6l_fuseab.py', 'yolov6l.py')]


def load(name: str) -> Config:
    return Config.fromfile(str(REPO_ROOT / 'configs' / name))


def differences(a, b, prefix: str = '') -> dict:
    """``{dotted key: (a value, b value)}`` where two nested dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key in sorted(set(a) | set(b)):
            out.update(differences(a.get(key), b.get(key), f'{prefix}{key}.'))
        return out
    return {} if a == b else {prefix[:-1]: (a, b)}


@pytest.mark.parametrize('config,base', CONFIGS)
def test_each_config_is_its_base_plus_the_anchor_aided_branch(config, base) -> None:
    ours, theirs = load(config), load(base)
    diff = differences(ours.to_dict(), theirs.to_dict())
    expected = {'model.bbox_head.head_module.num_anchors': (3, None), 'model.bbox_head.anchors': (ANCHORS, None),
                'model.train_cfg.anchor_aided_assigner': (
                    dict(type='BatchTaskAlignedAssigner', topk=26, alpha=1.0, beta=6.0), None),
                'anchors': (ANCHORS, None)}
    if config[6] in 'ns':  # the official step 1: use_dfl=True, reg_max=16 (N/S otherwise regress distances)
        expected.update({'model.bbox_head.head_module.reg_max': (16, 0), 'model.bbox_head.loss_dfl': (
            dict(type='DistributionFocalLoss', reduction='sum', loss_weight=0.5), None)})
    if config.startswith('yolov6n'):  # --batch 128 on 8 GPUs; lr 0.02 x 16 / 32
        expected.update({'train_dataloader.batch_size': (16, 32), 'optim_wrapper.optimizer.lr': (0.01, 0.02),
                         'optim_wrapper.paramwise_cfg.batch_size_per_gpu': (16, 32)})
    assert diff == expected
    assert ours.train_cfg.max_epochs == 300


def test_the_nano_config_builds_and_groups_the_branch() -> None:
    cfg = load('yolov6n_qarep_fuseab.py')
    model = MODELS.build(cfg.model)
    model.init_weights()
    head = model.bbox_head.head_module
    assert head.num_anchors == 3 and head.reg_max == 16 and model.bbox_head.anchor_aided_assigner.topk == 26
    assert [conv.out_channels for conv in head.cls_preds_ab] == [240] * 3
    assert [conv.out_channels for conv in head.reg_preds_ab] == [12] * 3
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g[GROUP_KEY] for g in wrapper.optimizer.param_groups for p in g['params']}
    for conv in list(head.cls_preds_ab) + list(head.reg_preds_ab):  # as the official g_w / g_b groups
        assert groups[id(conv.weight)] == 'weight' and groups[id(conv.bias)] == 'bias'
    assert len(groups) == len(list(model.parameters()))


def _save(model: torch.nn.Module, cfg: Config, path: Path) -> None:
    """A checkpoint as training writes it: the weights and the config text."""
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)


@pytest.mark.parametrize('config,plain', [('yolov6n_qarep_fuseab.py', 'yolov6n_qarep.py'),
                                          ('yolov6m_qarep_fuseab.py', 'yolov6m_qarep.py')])
def test_checkpoint_is_tested_with_its_config_and_refused_by_the_plain_one(tmp_path, config, plain) -> None:
    cfg = load(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = tmp_path / 'epoch_300.pth'
    _save(model, cfg, path)
    loaded, loaded_cfg, _ = model_from_checkpoint(str(path))  # config from the metadata, strict loading
    assert loaded_cfg.model.bbox_head.head_module.num_anchors == 3
    with torch.no_grad():
        outputs = loaded(torch.rand(1, 3, 64, 64), mode='tensor')
    assert len(outputs) == 2 and [tuple(t.shape) for t in outputs[0]] == [(1, 80, 8, 8), (1, 80, 4, 4), (1, 80, 2, 2)]
    with pytest.raises(BadInput, match='does not fit the model of the config') as error:
        model_from_checkpoint(str(path), config=str(REPO_ROOT / 'configs' / plain))
    assert '\n' not in str(error.value)
    if plain == 'yolov6m_qarep.py':  # the same anchor-free head: only the branch is in the way
        assert '12 unexpected (bbox_head.head_module.cls_preds_ab.0.weight' in str(error.value)


# Parameters of the official anchor-aided networks (build_model(cfg, 80, fuse_ab=True) of configs/yolov6{n,s,m,l}.py
# with use_dfl=True, reg_max=16, without the constant DFL projection), measured with the official code (e86a483).
OFFICIAL_FUSEAB_TRAIN_PARAMS = {'yolov6n_qarep_fuseab.py': 5_124_464, 'yolov6s_qarep_fuseab.py': 20_278_832,
                                'yolov6m_qarep_fuseab.py': 37_892_872, 'yolov6l_fuseab.py': 59_865_245}


@pytest.mark.parametrize('config', sorted(OFFICIAL_FUSEAB_TRAIN_PARAMS))
def test_parameters_equal_the_official_anchor_aided_network(config) -> None:
    model = MODELS.build(load(config).model)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_FUSEAB_TRAIN_PARAMS[config]


def test_the_nano_config_trains_one_step_on_both_branches() -> None:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    model = MODELS.build(load('yolov6n_qarep_fuseab.py').model)
    model.init_weights()
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 20., 60., 90.], [70., 30., 120., 64.]]),
                                       labels=torch.tensor([0, 79]))
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8)],
                                        data_samples=[sample]), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl', 'loss_cls_ab', 'loss_bbox_ab'}
    loss, logs = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(sum(v.item() for v in losses.values()))
    loss.backward()
    assert not [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
