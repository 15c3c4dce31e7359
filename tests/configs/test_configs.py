"""Every config loads; the YOLOv6 configs hold the official (or their documented) settings.

Official values: meituan/YOLOv6 v3.0 ``configs/yolov6{n,s,m,l}.py`` (solver, data_aug, head) and
its trainer (warm-up 3 epochs, momentum 0.8 -> 0.937, cosine to lrf = 0.01, EMA decay 0.9999).
"""
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional

import pytest
from mmengine.config import Config

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
# The detection configs (the segmentation ones, configs/seg/, are tested in tests/seg/).
ALL_CONFIGS = sorted(str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
                     if p.relative_to(CONFIG_DIR).parts[0] != 'seg')


class Expected(NamedTuple):
    block: str
    backbone: str
    widen: float
    deepen: float
    reg_max: int
    loss_bbox: str
    lr: float
    max_epochs: int
    num_classes: int = 80
    optimizer: str = 'SGD'


N, S = dict(widen=0.25, deepen=0.33), dict(widen=0.5, deepen=0.33)
N_COCO = dict(backbone='EfficientRep', reg_max=0, loss_bbox='SIoULoss', lr=0.02, max_epochs=300, **N)
S_COCO = dict(backbone='EfficientRep', reg_max=0, loss_bbox='GIoULoss', lr=0.01, max_epochs=300, **S)
M_COCO = dict(backbone='CSPBepBackbone', widen=0.75, deepen=0.6, reg_max=16, loss_bbox='GIoULoss', lr=0.01,
              max_epochs=300)
N_BCCD = dict(N_COCO, lr=0.002, max_epochs=40, num_classes=3, optimizer='AdamW')
N_SYNTHETIC = dict(N_COCO, lr=0.002, max_epochs=80, num_classes=3, optimizer='AdamW')
EXPECTED = {
    'yolov6n_qarep.py': Expected('QARepVGGBlockV2', **N_COCO),
    'yolov6n_qarep_v1.py': Expected('QARepVGGBlock', **N_COCO),
    'yolov6n_repvgg.py': Expected('RepVGGBlock', **N_COCO),
    'yolov6s_qarep.py': Expected('QARepVGGBlockV2', **S_COCO),
    'yolov6s_repvgg.py': Expected('RepVGGBlock', **S_COCO),
    'yolov6m_qarep.py': Expected('QARepVGGBlockV2', **M_COCO),
    'yolov6m_repvgg.py': Expected('RepVGGBlock', **M_COCO),
    'yolov6l.py': Expected('ConvBNAct', **dict(M_COCO, widen=1.0, deepen=1.0)),
    # step 1 of the official recipe (--fuse_ab): DFL heads for N/S too, N at batch 16 x 8 with lr 0.01
    'yolov6n_qarep_fuseab.py': Expected('QARepVGGBlockV2', **dict(N_COCO, reg_max=16, lr=0.01)),
    'yolov6s_qarep_fuseab.py': Expected('QARepVGGBlockV2', **dict(S_COCO, reg_max=16)),
    'yolov6m_qarep_fuseab.py': Expected('QARepVGGBlockV2', **M_COCO),
    'yolov6l_fuseab.py': Expected('ConvBNAct', **dict(M_COCO, widen=1.0, deepen=1.0)),
    # step 2 (--distill): N/S deploy plain distances (their DFL branch is training-only); N and L at batch 16 x 8
    'yolov6n_qarep_distill.py': Expected('QARepVGGBlockV2', **dict(N_COCO, lr=0.01)),
    'yolov6s_qarep_distill.py': Expected('QARepVGGBlockV2', **S_COCO),
    'yolov6m_qarep_distill.py': Expected('QARepVGGBlockV2', **M_COCO),
    'yolov6l_distill.py': Expected('ConvBNAct', **dict(M_COCO, widen=1.0, deepen=1.0, lr=0.005)),
    'bccd_det/yolov6n_qarep_bccd.py': Expected('QARepVGGBlockV2', **N_BCCD),
    'bccd_det/yolov6n_repvgg_bccd.py': Expected('RepVGGBlock', **N_BCCD),
    'synthetic/yolov6n_qarep_synthetic.py': Expected('QARepVGGBlockV2', **N_SYNTHETIC),
    'synthetic/yolov6n_repvgg_synthetic.py': Expected('RepVGGBlock', **N_SYNTHETIC),
}
COCO_CONFIGS = [name for name in EXPECTED if '/' not in name]


@lru_cache(maxsize=None)
def load(name: str) -> Config:
    """The loaded config (cached: the tests only read it)."""
    return Config.fromfile(str(CONFIG_DIR / name))


def types(pipeline) -> list:
    return [t['type'] for t in pipeline]


def find(pipeline, type_name: str) -> Optional[dict]:
    return next((t for t in pipeline if t['type'] == type_name), None)


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_every_config_loads(name: str) -> None:
    cfg = load(name)
    if not name.startswith('_base_/'):
        assert cfg.default_scope == 'mmdet'
        assert 'qarep_det' in cfg.custom_imports['imports'] and cfg.model.type in ('YOLOv6', 'RetinaNet')


def test_every_yolov6_config_is_listed_here() -> None:
    listed = [n for n in ALL_CONFIGS if not n.startswith('_base_/') and load(n).model.type == 'YOLOv6']
    assert sorted(listed) == sorted(EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_yolov6_model_optimizer_and_epochs(name: str) -> None:
    cfg, exp = load(name), EXPECTED[name]
    model = cfg.model
    assert model.backbone.type == exp.backbone
    assert model.neck.type == {'EfficientRep': 'RepBiFPANNeck', 'CSPBepBackbone': 'CSPRepBiFPANNeck'}[exp.backbone]
    assert model.backbone.block_cfg.type == model.neck.block_cfg.type == exp.block
    head = model.bbox_head.head_module
    assert model.backbone.widen_factor == model.neck.widen_factor == head.widen_factor == exp.widen
    assert model.backbone.deepen_factor == model.neck.deepen_factor == exp.deepen
    # the top-level variables a derived config reads (``_base_.widen_factor``, ...) describe this model
    assert (cfg.widen_factor, cfg.deepen_factor, cfg.block_cfg) == (exp.widen, exp.deepen, model.backbone.block_cfg)
    if exp.backbone == 'CSPBepBackbone':
        assert cfg.csp_e == model.backbone.csp_e == model.neck.csp_e
    assert head.num_classes == exp.num_classes and head.reg_max == exp.reg_max
    assert model.bbox_head.loss_cls == dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75, gamma=2.0,
                                            iou_weighted=True, reduction='sum', loss_weight=1.0)
    # the COCO N configs use the official SIoU (gamma = angle_cost - 2: mmdet's neg_gamma=True)
    official_siou = dict(neg_gamma=True) if exp.loss_bbox == 'SIoULoss' and '/' not in name else {}
    assert model.bbox_head.loss_bbox == dict(type=exp.loss_bbox, reduction='sum', loss_weight=2.5, **official_siou)
    dfl = exp.reg_max or head.get('distill_reg_max')  # the DFL head, or the N/S distillation branch
    expected_dfl = dict(type='DistributionFocalLoss', reduction='sum', loss_weight=0.5) if dfl else None
    assert model.bbox_head.loss_dfl == expected_dfl
    assert model.train_cfg.assigner == dict(type='BatchTaskAlignedAssigner', topk=13, alpha=1.0, beta=6.0)
    assert model.train_cfg.initial_epoch == 0
    assert model.test_cfg.nms.iou_threshold == 0.65 and model.test_cfg.max_per_img == 300
    assert model.data_preprocessor.std == [255.] * 3 and model.data_preprocessor.bgr_to_rgb
    optimizer = cfg.optim_wrapper.optimizer
    if exp.optimizer == 'SGD':
        assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay, optimizer.nesterov) == (
            'SGD', exp.lr, 0.937, 5e-4, True)
    else:  # the small-data schedules
        assert optimizer == dict(type='AdamW', lr=exp.lr, weight_decay=0.05)
    if exp.optimizer == 'SGD':  # YOLOv6's groups, decay scaling and DDP loss scale (see test_yolov6_recipe.py)
        assert cfg.optim_wrapper.constructor == 'YOLOv6OptimWrapperConstructor'
        assert cfg.optim_wrapper.paramwise_cfg == dict(batch_size_per_gpu=cfg.train_dataloader.batch_size,
                                                       nominal_batch_size=64, scale_loss_by_world_size=True)
    else:
        assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0., bias_decay_mult=0.)
    assert cfg.train_cfg.max_epochs == exp.max_epochs
    ema = next(h for h in cfg.custom_hooks if h.type == 'EMAHook')
    assert ema.ema_type == 'ExpMomentumEMA' and ema.update_buffers
    if exp.optimizer == 'SGD':  # YOLOv6's ModelEMA (the small-data configs are checked below)
        assert (ema.momentum, ema.gamma) == (1e-4, 2000)


def test_yolov6l_uses_silu_conv_blocks_and_half_csp() -> None:
    model = load('yolov6l.py').model
    assert model.backbone.block_cfg == model.neck.block_cfg == dict(type='ConvBNAct', act_cfg=dict(type='SiLU'))
    assert model.backbone.act_cfg == model.neck.csp_act_cfg == dict(type='SiLU')
    assert model.backbone.csp_e == model.neck.csp_e == 0.5
    assert load('yolov6m_qarep.py').model.backbone.csp_e == pytest.approx(2 / 3)


@pytest.mark.parametrize('name', COCO_CONFIGS)
def test_coco_schedule_data_and_runtime(name: str) -> None:
    cfg = load(name)
    lr, momentum = cfg.param_scheduler
    assert lr == dict(type='YOLOv6LR', max_epochs=300, warmup_epochs=3, min_warmup_iters=1000, warmup_bias_lr=0.1,
                      lrf=0.01, by_epoch=True, convert_to_iter_based=True)
    assert momentum == dict(type='YOLOv6Momentum', warmup_epochs=3, min_warmup_iters=1000, warmup_momentum=0.8,
                            by_epoch=True, convert_to_iter_based=True)
    assert cfg.train_cfg.val_interval == 10 and cfg.default_hooks.checkpoint.interval == 10
    m_or_l = 'CSPBep' in cfg.model.backbone.type
    switch = next(h for h in cfg.custom_hooks if h.type == 'YOLOXModeSwitchHook')
    assert switch.num_last_epochs == 15
    assert tuple(switch.skip_type_keys) == (('Mosaic', 'YOLOv6MixUp') if m_or_l else ('Mosaic',))
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=256)
    assert cfg.sync_bn is None  # the official trainer wraps the model in plain DDP: per-GPU BN statistics
    assert (cfg.runner_type, cfg.eval_protocol) == ('YOLOv6Runner', 'letterbox')
    assert cfg.eval_protocols.yolov6_640 == dict(shrink_size=6 if 'yolov6s' in name else 4, score_thr=0.03,
                                                 iou_threshold=0.65, nms_pre=30000, max_per_img=300)
    loader = cfg.train_dataloader
    batch_16 = ('yolov6n_qarep_fuseab.py', 'yolov6n_qarep_distill.py', 'yolov6l_distill.py')  # 128 images on 8 GPUs
    assert (loader.batch_size, loader.num_workers) == (16 if name in batch_16 else 32, 8)
    assert loader.dataset.type == 'MultiImageMixDataset' and loader.dataset.dataset.data_root == 'data/coco/'
    pipeline = loader.dataset.pipeline
    assert types(pipeline) == ['Mosaic', 'LetterResize', 'YOLOv6RandomAffine'] + ['YOLOv6MixUp'] * m_or_l + [
        'YOLOv6HSVRandomAug', 'RandomFlip', 'PackDetInputs']
    assert find(pipeline, 'YOLOv6HSVRandomAug') == dict(type='YOLOv6HSVRandomAug', hue_gain=0.015,
                                                         saturation_gain=0.7, value_gain=0.4)
    if m_or_l:  # official mixup 0.1 on a second Mosaic sample made as the first
        mixup = find(pipeline, 'YOLOv6MixUp')
        assert mixup.prob == 0.1 and mixup.pre_transform == pipeline[:3]
    affine = find(pipeline, 'YOLOv6RandomAffine')
    assert tuple(affine.border) == (-320, -320) and affine.max_translate_ratio == 0.1
    assert affine.max_rotate_degree == affine.max_shear_degree == 0
    # official data_aug scale: 0.5 (N/S), 0.9 (M/L)
    assert tuple(affine.scaling_ratio_range) == ((0.1, 1.9) if m_or_l else (0.5, 1.5))
    assert tuple(find(pipeline, 'LetterResize').scale) == (1280, 1280)
    assert cfg.val_evaluator.type == 'CocoMetric' and cfg.val_evaluator.metric == 'bbox'


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_evaluation_letterboxes_to_the_training_size_and_packs_pad_param(name: str) -> None:
    cfg = load(name)
    size = {'bccd_det': 416, 'synthetic': 128}.get(name.split('/')[0], 640)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        pipeline = loader.dataset.pipeline
        assert types(pipeline) == ['LoadImageFromFile', 'LetterResize', 'LoadAnnotations', 'PackDetInputs']
        letter = find(pipeline, 'LetterResize')
        assert tuple(letter.scale) == (size, size) and letter.pad_val == 114 and letter.get('allow_scale_up', True)
        assert {'pad_param', 'scale_factor', 'ori_shape', 'img_id'} <= set(find(pipeline, 'PackDetInputs').meta_keys)


def test_bccd_splits_schedule_and_runtime() -> None:
    cfg = load('bccd_det/yolov6n_qarep_bccd.py')
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.ann_file == 'annotations/instances_train.json' and inner.data_root == 'data/bccd/'
    assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val.json'
    assert cfg.test_dataloader.dataset.ann_file == 'annotations/instances_test.json'
    assert cfg.test_evaluator.ann_file == 'data/bccd/annotations/instances_test.json'
    for dataset in (inner, cfg.val_dataloader.dataset, cfg.test_dataloader.dataset):
        assert dataset.metainfo.classes == ('RBC', 'WBC', 'Platelets') and dataset.data_prefix == dict(img='')
    assert (cfg.train_dataloader.batch_size, cfg.train_dataloader.num_workers) == (8, 2)
    mosaic = find(cfg.train_dataloader.dataset.pipeline, 'Mosaic')
    assert mosaic.prob == 0.5 and tuple(mosaic.img_scale) == (416, 416)
    warmup, cosine = cfg.param_scheduler
    # 5 epochs = 130 iterations of batch 8; the cosine ends with the train loop (the Runner's default end)
    assert (warmup.end, cosine.begin, cosine.get('end'), cfg.train_cfg.max_epochs) == (5, 5, None, 40)
    assert cfg.train_cfg.val_interval == 5 and cfg.sync_bn is None
    assert [(h.type, h.momentum, h.gamma) for h in cfg.custom_hooks] == [('EMAHook', 0.005, 200)]


def test_synthetic_data_schedule_and_runtime() -> None:
    cfg = load('synthetic/yolov6n_qarep_synthetic.py')
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'CocoDataset' and dataset.data_root == 'data/synthetic/'
    assert dataset.data_prefix == dict(img='train/') and cfg.val_dataloader.dataset.data_prefix == dict(img='val/')
    assert dataset.metainfo.classes == ('circle', 'square', 'triangle')
    assert 'Mosaic' not in types(dataset.pipeline) and cfg.train_dataloader.batch_size == 16
    for pipeline in (dataset.pipeline, cfg.val_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline):
        assert tuple(find(pipeline, 'LetterResize').scale) == (128, 128)  # the 256x256 images read at 128
    assert (cfg.train_cfg.val_interval, cfg.train_cfg.max_epochs) == (20, 80)  # 800 iterations
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.get('end'), cosine.eta_min_ratio) == (8, 8, None, 0.01)
    assert [(h.type, h.momentum, h.gamma) for h in cfg.custom_hooks] == [('EMAHook', 0.01, 100)]
    assert cfg.sync_bn is None


@pytest.mark.parametrize('name', ['yolov6n_repvgg.py', 'yolov6s_repvgg.py', 'yolov6m_repvgg.py', 'yolov6n_qarep_v1.py',
                                  'bccd_det/yolov6n_repvgg_bccd.py', 'synthetic/yolov6n_repvgg_synthetic.py'])
def test_variants_differ_from_their_base_only_by_the_block(name: str) -> None:
    cfg = load(name).to_dict()
    base = load(name.replace('_repvgg', '_qarep').replace('_qarep_v1', '_qarep')).to_dict()
    for c in (cfg, base):
        c.pop('block_cfg')
        for part in ('backbone', 'neck'):
            c['model'][part].pop('block_cfg')
    assert cfg == base
