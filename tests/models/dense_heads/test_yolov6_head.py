"""YOLOv6Head: losses, the ATSS -> TAL switch, post-processing with letterbox undo, and learning."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_overlaps
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from qarep_det.models.task_modules import BatchATSSAssigner, BatchTaskAlignedAssigner


def yolov6_tiny(reg_max: int = 0, initial_epoch: int = 0) -> torch.nn.Module:
    """YOLOv6-N layout, 3 classes."""
    scale = dict(deepen_factor=0.33, widen_factor=0.25)
    block = dict(type='QARepVGGBlockV2')
    head = dict(type='YOLOv6Head',
                head_module=dict(type='YOLOv6HeadModule', num_classes=3, widen_factor=0.25, reg_max=reg_max),
                loss_bbox=dict(type='SIoULoss' if reg_max else 'GIoULoss', reduction='sum', loss_weight=2.5),
                loss_dfl=dict(type='DistributionFocalLoss', reduction='sum', loss_weight=0.5) if reg_max else None)
    model = MODELS.build(dict(
        type='YOLOv6',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='EfficientRep', use_cspsppf=True, block_cfg=block, **scale),
        neck=dict(type='RepBiFPANNeck', block_cfg=block, **scale), bbox_head=head,
        train_cfg=dict(initial_epoch=initial_epoch, initial_assigner=dict(type='BatchATSSAssigner', topk=9),
                       assigner=dict(type='BatchTaskAlignedAssigner', topk=13, alpha=1.0, beta=6.0)),
        test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.65), max_per_img=100)))
    model.init_weights()
    return model


GT_BOXES = torch.tensor([[10., 20., 60., 90.], [70., 70., 120., 110.]])
GT_LABELS = torch.tensor([0, 2])


def batch(model: torch.nn.Module, num_boxes=(2, 1), size: int = 128, seed: int = 0) -> dict:
    images = torch.rand(len(num_boxes), 3, size, size, generator=torch.Generator().manual_seed(seed)) * 255
    samples = []
    for n in num_boxes:
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=GT_BOXES[:n], labels=GT_LABELS[:n])
        samples.append(sample)
    return model.data_preprocessor(dict(inputs=list(images.byte()), data_samples=samples), True)


@pytest.mark.parametrize('reg_max', [0, 16])
def test_losses_are_finite_and_reach_every_layer(reg_max: int) -> None:
    torch.manual_seed(0)
    model = yolov6_tiny(reg_max)
    data = batch(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_cls', 'loss_bbox'} | ({'loss_dfl'} if reg_max else set())
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    head = model.bbox_head.head_module
    assert all(conv.weight.grad.abs().sum() > 0 for conv in head.cls_preds)  # every prior is a cls sample
    assert any(conv.weight.grad.abs().sum() > 0 for conv in head.reg_preds)  # only assigned levels regress


def test_image_without_boxes_gives_zero_box_loss() -> None:
    model = yolov6_tiny(reg_max=16)
    data = batch(model, num_boxes=(0, 0))
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_bbox'].item() == 0 and losses['loss_dfl'].item() == 0 and losses['loss_cls'] > 0
    sum(losses.values()).backward()  # still differentiable (DDP needs every parameter in the graph)


def test_initial_epochs_use_atss_then_tal() -> None:
    head = yolov6_tiny(initial_epoch=2).bbox_head
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 1)
    assert isinstance(head._current_assigner(), BatchATSSAssigner)
    hub.update_info('epoch', 2)
    assert isinstance(head._current_assigner(), BatchTaskAlignedAssigner)
    hub.update_info('epoch', 0)


def test_reg_max_and_loss_dfl_must_agree() -> None:
    with pytest.raises(ValueError, match='loss_dfl must be given exactly when the head module regresses '
                                         r'distributions \(reg_max=16, distill_reg_max=0\)'):
        MODELS.build(dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=3, reg_max=16)))
    with pytest.raises(ValueError, match=r'\(reg_max=0, distill_reg_max=16\)'):  # the N/S distillation branch
        MODELS.build(dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=3, reg_max=0,
                                                              distill_reg_max=16)))


def test_predictions_undo_the_letterbox_exactly() -> None:
    """One confident prior; its box must come back in original-image pixels."""
    head = MODELS.build(dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=3, reg_max=0),
                             test_cfg=dict(score_thr=0.5, nms=dict(type='nms', iou_threshold=0.65), max_per_img=10)))
    sizes = [(8, 8), (4, 4), (2, 2)]  # a 64x64 letterboxed input, strides 8/16/32
    cls_scores = [torch.full((1, 3, h, w), -20.) for h, w in sizes]
    bbox_preds = [torch.ones(1, 4, h, w) for h, w in sizes]
    cls_scores[0][0, 1, 3, 2] = 20.  # class 1 at prior (x=2, y=3) of stride 8: centre (20, 28)
    bbox_preds[0][0, :, 3, 2] = torch.tensor([1., 2., 3., 1.])  # l, t, r, b in strides
    meta = dict(img_shape=(64, 64), ori_shape=(100, 200), scale_factor=(0.32, 0.32),
                pad_param=[16., 16., 0., 0.])  # 200x100 -> 64x32, padded 16 above and below
    result = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=[meta], rescale=True)[0]
    assert result.labels.tolist() == [1]
    expected = (torch.tensor([20 - 8., 28 - 16., 20 + 24., 28 + 8.]) - torch.tensor([0., 16., 0., 16.])) / 0.32
    expected[1] = expected[1].clamp(min=0)
    assert torch.allclose(result.bboxes[0], expected, atol=1e-4)


def test_learns_two_images() -> None:
    """A few dozen SGD steps fit two images: each box is found with its class (fixed seed)."""
    torch.manual_seed(0)
    model = yolov6_tiny(reg_max=0, initial_epoch=100)  # ATSS warm-up throughout, as on a fresh run
    data = batch(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    first = None
    for _ in range(50):
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        first = first if first is not None else total.item()
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert total.item() < 0.5 * first
    with torch.no_grad():  # train-mode BN: running statistics are not settled after 50 steps
        results = model.predict(data['inputs'], data['data_samples'])
    for result, num in zip(results, (2, 1)):
        pred = result.pred_instances
        for box, label in zip(GT_BOXES[:num], GT_LABELS[:num]):
            same_class = pred.labels == label
            assert same_class.any()
            assert bbox_overlaps(box[None], pred.bboxes[same_class]).max() > 0.5


def test_classification_loss_is_the_official_bce_of_probabilities() -> None:
    """VFL as meituan/YOLOv6 ``VarifocalLoss`` computes it, where mmdet's (of logits) differs.

    Prior 0 is background with a saturated logit (sigmoid(30) == 1 in float32): the official BCE of the
    probability is clamped to 100 and gives no gradient. Prior 1 is a positive of class 1 with target
    score 0: the official weight at its class is that score, 0 (mmdet would count it as a negative).
    """
    head = MODELS.build(dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=2, reg_max=0)))
    logits = torch.tensor([[[30., -2.], [0.5, 1.]]], requires_grad=True)
    targets = torch.zeros(1, 2, 2)
    labels = torch.tensor([[2, 1]])
    loss = head._loss_cls(logits, targets, labels)

    def negative(x: float) -> torch.Tensor:  # alpha * p**gamma * -log(1 - p)
        return 0.75 * torch.tensor(x).sigmoid() ** 2 * torch.nn.functional.softplus(torch.tensor(x))

    expected = 0.75 * 100 + negative(-2.) + negative(0.5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    mmdet = head.loss_cls(logits.reshape(-1, 2), targets.reshape(-1, 2), reduction_override='sum')
    assert mmdet.item() == pytest.approx((0.75 * 30 + negative(-2.) + negative(0.5) + negative(1.)).item(), rel=1e-6)
    loss.backward()
    assert logits.grad[0, 0, 0] == 0 and logits.grad[0, 1, 1] == 0 and logits.grad[0, 1, 0] > 0


def test_classification_loss_must_be_varifocal() -> None:
    head = MODELS.build(dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=2, reg_max=0),
                             loss_cls=dict(type='FocalLoss', use_sigmoid=True, reduction='sum')))
    with pytest.raises(TypeError, match='VarifocalLoss'):
        head._loss_cls(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), torch.tensor([[2, 2]]))
