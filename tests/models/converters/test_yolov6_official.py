"""Converted YOLOv6 checkpoints compute what the official network computes (before NMS).

Runs the official code beside the project, never copied into it: set ``QAREP_YOLOV6_SRC`` to a
checkout of meituan/YOLOv6 (tested at e86a483); skipped when unset or absent. Each case builds an
official network (``build_model`` of its ``configs/yolov6{n,s,m,l}.py`` with the training mode),
gives it random weights and calibrated BN statistics, rounds them to half precision as the
official trainer saves them, pickles it the official way (``torch.save({'model': model.half(),
'ema': ...})``), fused (``fuse_model`` + ``switch_to_deploy``) or not, converts it with the tool's
library call and loads the result through the tools' checkpoint path (config from the metadata);
outputs are compared in float64 (see the test).
The box losses of the configs are compared with the official ``IOUloss``, and the training losses
with the official ``ComputeLoss`` on one batch (N: SIoU, S: GIoU, M: GIoU + DFL; ATSS and TAL); the
anchor-aided (``--fuse_ab``) configs' losses with the official pair of ``ComputeLoss`` (anchor-free
branch) and ``loss_fuseab.ComputeLoss`` (anchor-based branch) as ``yolov6/core/engine.py`` builds them.

Provenance: meituan/YOLOv6 ``yolov6/core/engine.py`` (checkpoint layout), ``tools/eval.py`` /
``yolov6/utils/torch_utils.py`` (fusing), ``yolov6/models/effidehead.py`` (eval output:
``xywh`` boxes in pixels, objectness 1, class scores), ``yolov6/models/losses/loss.py``,
``yolov6/utils/figure_iou.py``, ``yolov6/models/heads/effidehead_fuseab.py``,
``yolov6/models/losses/loss_fuseab.py``.
"""
import copy
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from mmengine.structures import InstanceData

from qarep_det import reparameterize_model
from qarep_det.models.converters import convert_yolov6_checkpoint
from qarep_det.utils.checkpoint import model_from_checkpoint

OFFICIAL = Path(os.environ.get('QAREP_YOLOV6_SRC', '/nonexistent'))
pytestmark = pytest.mark.skipif(not (OFFICIAL / 'yolov6' / 'models' / 'yolo.py').is_file(),
                                reason='official YOLOv6 code not found (set QAREP_YOLOV6_SRC)')
TOLERANCE = 1e-4
SIZE = 128


@pytest.fixture(scope='module')
def official():
    """The official network builder, fusion and losses (``requests``, used for downloads only, stubbed if absent)."""
    sys.path.insert(0, str(OFFICIAL))
    added = []
    try:
        __import__('requests')
    except ImportError:
        sys.modules['requests'] = types.ModuleType('requests')
        added.append('requests')
    try:
        from yolov6.models.losses.loss import ComputeLoss
        from yolov6.models.losses.loss_fuseab import ComputeLoss as ComputeLossAB
        from yolov6.models.losses.loss_distill import ComputeLoss as ComputeLossDistill
        from yolov6.models.losses.loss_distill_ns import ComputeLoss as ComputeLossDistillNS
        from yolov6.utils.figure_iou import IOUloss
        from yolov6.models.yolo import build_model
        from yolov6.utils.config import Config
        from yolov6.utils.torch_utils import fuse_model

        def build(name: str, mode, fuse_ab: bool = False, distill_ns: bool = False):
            cfg = Config.fromfile(str(OFFICIAL / 'configs' / f'{name}.py'))
            if mode is not None:
                cfg.training_mode = mode
            if fuse_ab or distill_ns:  # both official steps (docs/Train_coco_data.md): "use_dfl=True, reg_max=16"
                cfg.model.head.use_dfl, cfg.model.head.reg_max = True, 16
            return build_model(cfg, 80, 'cpu', fuse_ab=fuse_ab, distill_ns=distill_ns)

        def deploy(model):
            fuse_model(model)  # conv-BN pairs (tools/eval.py), then every rep block
            for module in model.modules():
                if hasattr(module, 'switch_to_deploy'):
                    module.switch_to_deploy()
            return model

        yield types.SimpleNamespace(build=build, deploy=deploy, ComputeLoss=ComputeLoss, ComputeLossAB=ComputeLossAB,
                                    ComputeLossDistill=ComputeLossDistill, ComputeLossDistillNS=ComputeLossDistillNS,
                                    IOUloss=IOUloss)
    finally:
        sys.path.remove(str(OFFICIAL))
        for name in added:
            sys.modules.pop(name, None)


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Random weights, BN statistics of a random batch, O(1) head outputs; rounded to half precision."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.named_parameters():
        if 'proj' in name:
            continue
        if t.dim() == 4:
            t.copy_(torch.randn(t.shape, generator=g) / (t[0].numel() ** 0.5) * (0.01 if '_preds.' in name else 1))
        elif name.endswith('weight') or name.endswith('alpha'):
            t.copy_(0.5 + 0.05 * torch.randn(t.shape, generator=g))
        else:
            t.copy_(0.2 * torch.randn(t.shape, generator=g))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
    model.train()
    model(torch.rand(2, 3, SIZE, SIZE, generator=g))
    for m in bns:
        m.momentum = 0.03
        m.running_var.mul_(0.95 + 0.1 * torch.rand(m.running_var.shape, generator=g))
        m.num_batches_tracked.fill_(7)
    return model.half().float().eval()


def official_outputs(model: torch.nn.Module, x: torch.Tensor):
    """``(boxes xywh in pixels, class scores)`` of the official eval forward."""
    out = model(x)[0]
    return out[..., :4], out[..., 5:]


def our_outputs(model: torch.nn.Module, x: torch.Tensor):
    """The same from our backbone, neck and head module, decoded as the official ``Detect`` decodes."""
    head = model.bbox_head.head_module
    cls_scores, bbox_preds = head(model.neck(model.backbone(x)))
    boxes, scores = [], []
    for cls, reg, stride in zip(cls_scores, bbox_preds, (8, 16, 32)):
        dist = head.integral(reg)  # (B, 4, H, W): left, top, right, bottom in stride units
        ys, xs = torch.meshgrid(torch.arange(dist.shape[2]) + 0.5, torch.arange(dist.shape[3]) + 0.5, indexing='ij')
        left, top, right, bottom = dist.unbind(1)
        x1, y1, x2, y2 = xs - left, ys - top, xs + right, ys + bottom
        # 4 x (B, H, W) -> (B, H * W, 4)
        boxes.append(torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1).flatten(1, 2) * stride)
        scores.append(cls.sigmoid().flatten(2).transpose(1, 2))  # (B, C, H, W) -> (B, H * W, C)
    return torch.cat(boxes, 1), torch.cat(scores, 1)


@torch.no_grad()
def exact_pass_through_in_float64(model: torch.nn.Module) -> None:
    """The converter's pass-through BNs (``running_var = 1 - eps`` in float32: exactly ``x + bias`` in
    float32) made exact in float64 too, where ``float32(1 - eps) + eps`` is 1 only to ~1e-9."""
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d) and bool((bn.running_mean == 0).all()) and \
                bool((bn.running_var == torch.tensor(1 - bn.eps, dtype=torch.float32).double()).all()):
            bn.running_var.fill_(1.0 - bn.eps)


def relative(ours, theirs) -> float:
    return max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(ours, theirs))


CASES = [('yolov6n', 'repvgg', 'configs/yolov6n_repvgg.py'), ('yolov6n', 'qarepvgg', 'configs/yolov6n_qarep_v1.py'),
         ('yolov6n', 'qarepvggv2', 'configs/yolov6n_qarep.py'), ('yolov6s', 'repvgg', 'configs/yolov6s_repvgg.py'),
         ('yolov6s', 'qarepvggv2', 'configs/yolov6s_qarep.py'),
         ('yolov6s', 'qarepvgg', "configs/yolov6s_qarep.py with block_cfg=dict(type='QARepVGGBlock')"),
         pytest.param('yolov6m', 'repvgg', 'configs/yolov6m_repvgg.py', marks=pytest.mark.slow),
         pytest.param('yolov6m', 'qarepvggv2', 'configs/yolov6m_qarep.py', marks=pytest.mark.slow),
         pytest.param('yolov6l', None, 'configs/yolov6l.py', marks=pytest.mark.slow),
         # anchor-aided training checkpoints (--fuse_ab): the anchor-free outputs of the official head
         ('yolov6n', 'qarepvggv2', 'configs/yolov6n_qarep_fuseab.py'),
         ('yolov6s', 'repvgg', "configs/yolov6s_qarep_fuseab.py with block_cfg=dict(type='RepVGGBlock')"),
         # self-distillation checkpoints of N/S (--distill, as published): the deployed reg_preds
         ('yolov6n', 'qarepvggv2', 'configs/yolov6n_qarep_distill.py'),
         ('yolov6s', 'repvgg', "configs/yolov6s_qarep_distill.py with block_cfg=dict(type='RepVGGBlock')")]


@pytest.mark.parametrize('fused', [False, True], ids=['training', 'fused'])
@pytest.mark.parametrize('name,mode,config', CASES)
def test_converted_outputs_equal_the_official_network(official, tmp_path, name, mode, config, fused) -> None:
    torch.manual_seed(0)
    model = randomize(official.build(name, mode, fuse_ab='fuseab' in config, distill_ns='distill' in config))
    if fused:  # fused by the official code, then as a half-precision file holds it
        model = official.deploy(model).half().float()
    src, dst = tmp_path / 'official.pt', tmp_path / 'converted.pth'
    torch.save({'model': copy.deepcopy(model).half(), 'ema': copy.deepcopy(model).half(), 'updates': 7,
                'epoch': 3}, src)
    variant = convert_yolov6_checkpoint(str(src), str(dst))
    assert (variant.mode, variant.deployed, variant.num_classes) == (mode or 'conv_silu', fused, 80)
    converted, _, checkpoint = model_from_checkpoint(str(dst))
    assert checkpoint['meta']['config'] == config
    # In float64: deep random networks amplify float32 rounding (a bias added inside or after a
    # conv) to ~1e-4, which is not what is tested here; the weights themselves are the file's.
    x = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model, converted = model.double(), converted.double()
    exact_pass_through_in_float64(converted)
    with torch.no_grad():
        theirs = official_outputs(model, x)
        unfused = relative(our_outputs(converted, x), theirs)
        refused = relative(our_outputs(reparameterize_model(converted), x), theirs)
    print(f'{name} {mode} {"fused" if fused else "training"}: max relative difference {unfused:.2e} '
          f'(fused again by us: {refused:.2e})')
    assert unfused < TOLERANCE and refused < TOLERANCE


def test_synthetic_checkpoints_have_the_official_keys(official) -> None:
    """The always-run tests' stand-in networks have the official key names and shapes."""
    from yolov6_standins import build_published
    for name, mode, fuse_ab, distill in (
            ('yolov6n', 'qarepvggv2', False, False), ('yolov6s', 'repvgg', False, False),
            ('yolov6m', 'qarepvgg', False, False), ('yolov6l', None, False, False),
            ('yolov6n', 'qarepvggv2', True, False), ('yolov6m', 'repvgg', True, False),
            ('yolov6n', 'qarepvggv2', False, True), ('yolov6s', 'qarepvgg', False, True)):
        theirs = official.build(name, mode, fuse_ab, distill)
        published = build_published(name[-1].upper(), mode or 'conv_silu', fuse_ab=fuse_ab, distill=distill)
        ours = {k: tuple(v.shape) for k, v in published.state_dict().items()}
        assert ours == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}, (name, mode, fuse_ab, distill)
        assert list(ours) == list(theirs.state_dict()), (name, mode, fuse_ab, distill)  # registration order too
        if fuse_ab:
            assert torch.equal(published.detect.anchors_init, theirs.detect.anchors_init)


# Two 160x128 images: (image, class, x1, y1, x2, y2) in pixels, small and large, overlapping.
BOXES = [(0, 3, 10., 12., 60., 70.), (0, 17, 40., 30., 150., 120.), (0, 3, 100., 8., 124., 40.),
         (1, 0, 4., 4., 30., 28.), (1, 79, 60., 20., 158., 126.)]
HEIGHT, WIDTH = 128, 160


@pytest.mark.parametrize('config', ['yolov6n_qarep.py', 'yolov6s_qarep.py', 'yolov6m_qarep.py'])
def test_box_loss_of_each_config_is_the_official_one(official, config) -> None:
    """The configs' box losses (N: SIoU with ``neg_gamma``, S/M: GIoU) equal the official ``IOUloss`` per box."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    loss_cfg = Config.fromfile(str(Path(__file__).resolve().parents[3] / 'configs' / config)).model.bbox_head.loss_bbox
    ours = MODELS.build(dict(loss_cfg, reduction='none', loss_weight=1.0))
    theirs = official.IOUloss(box_format='xyxy', iou_type='siou' if config.startswith('yolov6n') else 'giou',
                              eps=1e-10)
    g = torch.Generator().manual_seed(4)
    xy = torch.rand(500, 2, generator=g) * 20
    pred = torch.cat([xy, xy + 0.5 + torch.rand(500, 2, generator=g) * 10], 1)
    target = pred + torch.randn(500, 4, generator=g) * 2
    target[:, 2:] = torch.maximum(target[:, 2:], target[:, :2] + 0.5)
    assert ours(pred, target) == pytest.approx(theirs(pred, target).flatten(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize('assigner', ['ATSS', 'TAL'])
@pytest.mark.parametrize('name', ['yolov6n', 'yolov6s', pytest.param('yolov6m', marks=pytest.mark.slow)])
def test_losses_equal_the_official_compute_loss(official, tmp_path, name, assigner) -> None:
    """Classification (VFL), box (N: SIoU, S/M: GIoU) and DFL (M) losses on one batch and one set of weights.

    Measured: at most 7e-7 relative (M's classification loss). The official targets are normalized
    ``xywh`` in float64: its ``preprocess`` scales them back to pixels in float64, so its boxes are
    ``BOXES`` to ~1e-14, under the 1e-9 of the strict inside test. In float32 the round trip moves edges
    that sit on prior centres (x1 = 100 becomes 99.9999976) and the official assigners then take two more
    positives (priors (100, 20) and (100, 28) of stride 8), which is the data, not the loss. M's random
    network saturates some sigmoids (p == 1), where the official BCE of probabilities is clamped (see
    ``YOLOv6Head._loss_cls``).
    """
    from mmengine.logging import MessageHub
    model = randomize(official.build(name, 'repvgg'))
    with torch.no_grad():  # prediction biases as Detect.initialize_biases sets them: a network early in training
        for conv in model.detect.cls_preds:
            conv.bias.fill_(-4.595)
        for conv in model.detect.reg_preds:
            conv.bias.fill_(1.0)
    model = model.half().float()  # the weights as the half-precision checkpoint holds them
    src, dst = tmp_path / 'official.pt', tmp_path / 'converted.pth'
    torch.save({'model': copy.deepcopy(model).half(), 'ema': None}, src)
    convert_yolov6_checkpoint(str(src), str(dst))
    converted, cfg, _ = model_from_checkpoint(str(dst))
    x = torch.rand(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(3))
    boxes = torch.tensor(BOXES)

    # official: ComputeLoss as yolov6/core/engine.py builds it (atss_warmup_epoch=0: TAL from epoch 0)
    head = model.detect
    model.eval()
    head.training = True  # the training outputs of Detect with every layer in eval mode
    reg_max = 16 if name == 'yolov6m' else 0
    compute = official.ComputeLoss(num_classes=80, ori_img_size=640, warmup_epoch=1 if assigner == 'ATSS' else 0,
                                   use_dfl=reg_max > 0, reg_max=reg_max,
                                   iou_type='siou' if name == 'yolov6n' else 'giou', fpn_strides=[8, 16, 32])
    boxes64 = boxes.double()  # see the docstring
    xywh = torch.cat([(boxes64[:, 2:4] + boxes64[:, 4:6]) / 2, boxes64[:, 4:6] - boxes64[:, 2:4]], 1)
    targets = torch.cat([boxes64[:, :2], xywh / torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT])], 1)
    with torch.no_grad():
        _, items = compute(model(x)[0], targets, epoch_num=0, step_num=1, batch_height=HEIGHT, batch_width=WIDTH)
    theirs = dict(loss_bbox=items[0].item(), loss_dfl=items[1].item(), loss_cls=items[2].item())

    # ours: the same batch through the converted model's head loss
    ours_head = converted.bbox_head
    ours_head.initial_epoch = 1 if assigner == 'ATSS' else 0
    MessageHub.get_current_instance().update_info('epoch', 0)
    gts = [InstanceData(bboxes=boxes[boxes[:, 0] == i, 2:], labels=boxes[boxes[:, 0] == i, 1].long())
           for i in range(2)]
    metas = [dict(img_shape=(HEIGHT, WIDTH), batch_input_shape=(HEIGHT, WIDTH))] * 2
    with torch.no_grad():
        cls_scores, bbox_preds = ours_head(converted.neck(converted.backbone(x)))
        ours = {k: v.item() for k, v in ours_head.loss_by_feat(cls_scores, bbox_preds, gts, metas).items()}
    print(f'{name} {assigner}: ours {ours}, official {theirs}')
    assert ours.keys() == ({'loss_cls', 'loss_bbox', 'loss_dfl'} if reg_max else {'loss_cls', 'loss_bbox'})
    assert ours == pytest.approx({k: theirs[k] for k in ours}, rel=1e-5)
    assert theirs['loss_bbox'] > 0 and theirs['loss_cls'] > 0


REPVGG = " with block_cfg=dict(type='RepVGGBlock')"
FUSE_AB_CASES = [('yolov6n', 'repvgg', 'configs/yolov6n_qarep_fuseab.py' + REPVGG),
                 ('yolov6s', 'repvgg', 'configs/yolov6s_qarep_fuseab.py' + REPVGG),
                 pytest.param('yolov6m', 'repvgg', 'configs/yolov6m_qarep_fuseab.py' + REPVGG, marks=pytest.mark.slow)]
"""L is not compared: this randomization saturates its scores (the losses are equal, but there are no
anchor-based positives), and its head is M's at another width."""


@pytest.mark.parametrize('name,mode,config', FUSE_AB_CASES)
def test_anchor_aided_losses_equal_the_official_fuse_ab_losses(official, tmp_path, name, mode, config) -> None:
    """``--fuse_ab`` step 1: an official anchor-aided network (N/S with ``use_dfl=True, reg_max=16``), pickled,
    converted into our ``*_fuseab.py`` config, and both branches' losses on one batch and one set of weights.

    Measured: at most 4e-7 relative (N's anchor-free classification loss).

    The official trainer sums ``ComputeLoss`` of the anchor-free outputs and ``loss_fuseab.ComputeLoss``
    (``use_dfl=False``, ``reg_max=0``, the config's IoU type) of the anchor-based ones; ours are
    ``loss_{cls,bbox,dfl}`` and ``loss_{cls,bbox}_ab``. Targets in float64 as in the test above.
    """
    model = randomize(official.build(name, mode, fuse_ab=True))
    head = model.detect
    with torch.no_grad():  # a network early in training: prior-probability scores, O(1) box outputs
        for conv in list(head.cls_preds) + list(head.cls_preds_ab):
            conv.bias.fill_(-4.595)
        for conv in head.reg_preds:
            conv.bias.fill_(1.0)
        for conv in list(head.cls_preds_ab) + list(head.reg_preds_ab):
            conv.weight.mul_(0.01)
    model = model.half().float()
    src, dst = tmp_path / 'official.pt', tmp_path / 'converted.pth'
    torch.save({'model': copy.deepcopy(model).half(), 'ema': copy.deepcopy(model).half()}, src)
    variant = convert_yolov6_checkpoint(str(src), str(dst))
    assert variant.anchor_aided
    converted, _, checkpoint = model_from_checkpoint(str(dst))
    assert checkpoint['meta']['config'] == config
    x = torch.rand(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(3))
    boxes = torch.tensor(BOXES)

    model.eval()
    head.training = True  # the training outputs of Detect with every layer in eval mode
    iou_type = 'siou' if name == 'yolov6n' else 'giou'
    common = dict(num_classes=80, ori_img_size=640, warmup_epoch=0, iou_type=iou_type, fpn_strides=[8, 16, 32])
    compute_af = official.ComputeLoss(use_dfl=True, reg_max=16, **common)
    compute_ab = official.ComputeLossAB(use_dfl=False, reg_max=0, **common)
    boxes64 = boxes.double()
    xywh = torch.cat([(boxes64[:, 2:4] + boxes64[:, 4:6]) / 2, boxes64[:, 4:6] - boxes64[:, 2:4]], 1)
    targets = torch.cat([boxes64[:, :2], xywh / torch.tensor([WIDTH, HEIGHT, WIDTH, HEIGHT])], 1)
    with torch.no_grad():
        preds = model(x)[0]  # feats, cls_ab, reg_ab, cls_af, reg_af
        total_af, af = compute_af((preds[0], preds[3], preds[4]), targets, epoch_num=0, step_num=1,
                                  batch_height=HEIGHT, batch_width=WIDTH)
        total_ab, ab = compute_ab(preds[:3], targets, epoch_num=0, step_num=1, batch_height=HEIGHT, batch_width=WIDTH)
    theirs = dict(loss_bbox=af[0].item(), loss_dfl=af[1].item(), loss_cls=af[2].item(),
                  loss_bbox_ab=ab[0].item(), loss_cls_ab=ab[2].item())
    assert ab[1].item() == 0  # no DFL in the anchor-based branch

    ours_head = converted.bbox_head
    gts = [InstanceData(bboxes=boxes[boxes[:, 0] == i, 2:], labels=boxes[boxes[:, 0] == i, 1].long())
           for i in range(2)]
    metas = [dict(img_shape=(HEIGHT, WIDTH), batch_input_shape=(HEIGHT, WIDTH))] * 2
    with torch.no_grad():
        cls_scores, bbox_preds, cls_ab, reg_ab = ours_head.head_module.forward_train(
            converted.neck(converted.backbone(x)))
        ours = ours_head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
        ours.update(ours_head.loss_by_feat_ab(cls_ab, reg_ab, gts, metas))
    ours = {k: v.item() for k, v in ours.items()}
    print(f'{name} fuse_ab: ours {ours}, official {theirs}')
    assert ours == pytest.approx(theirs, rel=1e-5)
    assert sum(ours.values()) == pytest.approx((total_af + total_ab).item(), rel=1e-5)
    assert all(v > 0 for k, v in theirs.items())
