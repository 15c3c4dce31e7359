"""YOLOv6 head: training targets, losses and post-processing around :class:`YOLOv6HeadModule`.

Provenance: Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023, Sec. 2.2-2.3 (ATSS warm-up
then task-aligned assignment; VariFocal loss for classification, GIoU/SIoU for boxes, DFL for
M/L; loss weights 1.0 / 2.5 / 0.5; all normalized by the sum of the soft targets). VariFocal loss:
Zhang et al., "VarifocalNet", CVPR 2021, Sec. 3.2. The layers live in :class:`YOLOv6HeadModule`
so that fusion and quantization see only them; decoding and NMS here stay in float.

Anchor-aided training (YOLOv6 v3.0 Sec. 2.2, official ``--fuse_ab``; ``anchors`` given): an
anchor-based branch trained beside the anchor-free one and dropped at inference. As meituan/YOLOv6
(e86a483) ``yolov6/models/heads/effidehead_fuseab.py`` decodes it (``x, y`` offsets added to the
cell centre, ``w, h = (2 * sigmoid) ** 2 * anchor``, in strides) and ``yolov6/core/engine.py`` /
``yolov6/models/losses/loss_fuseab.py`` train it: task-aligned assignment with its own top-k (26),
the same VariFocal and IoU losses and weights (no DFL), normalized by the sum of the soft targets
when it is positive, added to the anchor-free losses.

Self-distillation (YOLOv6 v3.0 Sec. 2.4, official ``--distill``; ``distill`` given): the detector
passes the teacher's anchor-free outputs to :meth:`YOLOv6Head.loss_distill`. As
``yolov6/models/losses/loss_distill_ns.py`` (N/S: the head module's DFL branch assigns and is
trained with DFL, both branches with the IoU loss) and ``loss_distill.py`` (M/L) compute it: the
usual losses, normalized by the sum of the soft targets when it is positive, plus the class and
DFL distillation terms of :mod:`qarep_det.models.losses.yolov6_distill`, weighted as the
official ``loss_weight`` x ``distill_weight`` x the cosine decay.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.losses import VarifocalLoss
from mmdet.models.utils import filter_scores_and_topk, unpack_gt_instances
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList
from mmdet.structures.bbox import distance2bbox, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor

from ..losses.yolov6_distill import class_distill_loss, dfl_distill_loss, distill_decay


@MODELS.register_module()
class YOLOv6Head(BaseDenseHead):
    """Anchor-free decoupled head of YOLOv6 (targets, losses, predictions).

    Args:
        head_module: Config of the layers (:class:`YOLOv6HeadModule`).
        prior_generator: Point generator; one prior per location at offset 0.5.
        loss_cls: ``VarifocalLoss`` (``use_sigmoid``, ``iou_weighted``) on soft targets; its ``alpha``,
            ``gamma`` and ``loss_weight`` are applied as the official code does (:meth:`_loss_cls`).
        loss_bbox: IoU-type box loss on xyxy boxes (``GIoULoss`` or ``SIoULoss``).
        loss_dfl: ``DistributionFocalLoss`` when the head module regresses distributions
            (``reg_max > 0``), else ``None``.
        anchors: Anchor-aided training: per level, the ``(w, h)`` pairs in pixels of the anchor-based
            branch, ``2 * head_module.num_anchors`` numbers (official ``anchors_init``); given exactly
            when the head module has that branch. ``None``: anchor-free only.
        distill: Self-distillation settings, used by :meth:`loss_distill`: ``temperature`` (official
            20), ``cls_weight`` and ``dfl_weight`` (official ``distill_weight``: N/S 1.0 / 1.0, M 0.8 /
            1.0, L 2.0 / 1.0). ``None``: no distillation.
        train_cfg: ``initial_epoch``, ``initial_assigner`` (used for the first ``initial_epoch``
            epochs) and ``assigner``; with ``anchors`` also ``anchor_aided_assigner`` (the
            anchor-based branch's, official: task-aligned, top 26).
        test_cfg: ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img``, ``min_bbox_size``.
        init_cfg: mmengine initialization config.
    """

    def __init__(self, head_module: dict,
                 prior_generator: dict = dict(type='MlvlPointGenerator', offset=0.5, strides=(8, 16, 32)),
                 loss_cls: dict = dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75, gamma=2.0,
                                       iou_weighted=True, reduction='sum', loss_weight=1.0),
                 loss_bbox: dict = dict(type='GIoULoss', reduction='sum', loss_weight=2.5),
                 loss_dfl: Optional[dict] = None, anchors: Optional[Sequence[Sequence[float]]] = None,
                 distill: Optional[dict] = None, train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.head_module = MODELS.build(head_module)
        self.num_classes = self.head_module.num_classes
        self.reg_max = self.head_module.reg_max
        self.distill_reg_max = self.head_module.distill_reg_max
        if (loss_dfl is None) != (self.reg_max == 0 and self.distill_reg_max == 0):
            raise ValueError(f'loss_dfl must be given exactly when the head module regresses distributions '
                             f'(reg_max={self.reg_max}, distill_reg_max={self.distill_reg_max})')
        self.distill = self._check_distill(distill)
        self.prior_generator = TASK_UTILS.build(prior_generator)
        self.anchors = self._check_anchors(anchors)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_dfl = MODELS.build(loss_dfl) if loss_dfl is not None else None
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        if train_cfg is not None:
            self.initial_epoch = train_cfg.get('initial_epoch', 0)
            self.assigner = TASK_UTILS.build(dict(train_cfg['assigner'], num_classes=self.num_classes))
            initial = train_cfg.get('initial_assigner')
            self.initial_assigner = (TASK_UTILS.build(dict(initial, num_classes=self.num_classes))
                                     if initial is not None else None)
            if self.anchors is not None:
                if 'anchor_aided_assigner' not in train_cfg:
                    raise ValueError('train_cfg needs anchor_aided_assigner when the head has anchors')
                self.anchor_aided_assigner = TASK_UTILS.build(dict(train_cfg['anchor_aided_assigner'],
                                                                   num_classes=self.num_classes))

    def _check_anchors(self, anchors: Optional[Sequence[Sequence[float]]]) -> Optional[Tensor]:
        """``(L, A, 2)`` anchor sizes in pixels, checked against the head module and the strides."""
        num_anchors = self.head_module.num_anchors
        if (anchors is None) != (num_anchors == 0):
            raise ValueError(f'anchors must be given exactly when the head module has an anchor-based branch '
                             f'(num_anchors={num_anchors}, anchors={anchors})')
        if anchors is None:
            return None
        num_levels = len(self.prior_generator.strides)
        if len(anchors) != num_levels or any(len(level) != 2 * num_anchors for level in anchors):
            raise ValueError(f'anchors must hold {2 * num_anchors} numbers (w, h pairs) for each of '
                             f'{num_levels} levels, got {anchors}')
        return torch.tensor(anchors, dtype=torch.float32).reshape(num_levels, num_anchors, 2)

    @staticmethod
    def _check_distill(distill: Optional[dict]) -> Optional[dict]:
        if distill is None:
            return None
        unknown = set(distill) - {'temperature', 'cls_weight', 'dfl_weight'}
        if unknown:
            raise ValueError(f'distill takes temperature, cls_weight and dfl_weight, not {sorted(unknown)}')
        distill = dict(dict(temperature=20.0, cls_weight=1.0, dfl_weight=1.0), **distill)
        if distill['temperature'] <= 0:
            raise ValueError(f'distill temperature must be positive, got {distill["temperature"]}')
        return distill

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor]]:
        return self.head_module(x)

    def _flatten(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Per-level maps -> ``(B, N, C)`` logits, ``(B, N, 4)`` distances in strides, ``(B, N, 4, R+1)`` logits."""
        return (self._flatten_cls(cls_scores), *self._flatten_reg(bbox_preds, self.head_module.integral, self.reg_max))

    def _flatten_cls(self, cls_scores: Sequence[Tensor]) -> Tensor:
        """Per-level ``(B, C, H, W)`` maps -> ``(B, N, C)``, levels concatenated."""
        return torch.cat([s.permute(0, 2, 3, 1).reshape(s.shape[0], -1, self.num_classes) for s in cls_scores], 1)

    @staticmethod
    def _flatten_reg(bbox_preds: Sequence[Tensor], integral: torch.nn.Module, reg_max: int) -> Tuple[Tensor, Tensor]:
        """Per-level box maps -> ``(B, N, 4)`` distances in strides and ``(B, N, 4, reg_max + 1)`` logits."""
        batch = bbox_preds[0].shape[0]
        distances = torch.cat([integral(p).permute(0, 2, 3, 1).reshape(batch, -1, 4) for p in bbox_preds], 1)
        # (B, 4 * (R + 1), H, W) -> (B, 4, R + 1, H*W) -> (B, H*W, 4, R + 1)
        dist_logits = torch.cat([p.reshape(batch, 4, reg_max + 1, -1).permute(0, 3, 1, 2) for p in bbox_preds], 1)
        return distances, dist_logits

    def _priors(self, cls_scores: Sequence[Tensor]) -> Tuple[Tensor, List[int]]:
        """``(N, 4)`` ``[x, y, stride_w, stride_h]`` priors and the number per level."""
        sizes = [s.shape[-2:] for s in cls_scores]
        priors = self.prior_generator.grid_priors(sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device,
                                                  with_stride=True)
        return torch.cat(priors), [p.shape[0] for p in priors]

    @staticmethod
    def _pad_gts(batch_gt_instances: InstanceList, device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """Ground truth as ``(B, M, 1)`` labels, ``(B, M, 4)`` boxes and ``(B, M, 1)`` validity."""
        num = max([len(gt) for gt in batch_gt_instances] + [0])
        batch = len(batch_gt_instances)
        labels = torch.zeros(batch, num, 1, device=device)
        bboxes = torch.zeros(batch, num, 4, device=device)
        valid = torch.zeros(batch, num, 1, device=device)
        for i, gt in enumerate(batch_gt_instances):
            n = len(gt)
            labels[i, :n, 0] = gt.labels.to(device).float()
            bboxes[i, :n] = get_box_tensor(gt.bboxes).to(device).float()
            valid[i, :n] = 1
        return labels, bboxes, valid

    def _current_assigner(self):
        epoch = MessageHub.get_current_instance().get_info('epoch')
        if self.initial_assigner is not None and (epoch or 0) < self.initial_epoch:
            return self.initial_assigner
        return self.assigner

    def loss_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor], batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict], batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """Losses of a batch: ``loss_cls``, ``loss_bbox`` and (with a DFL head, ``reg_max > 0``) ``loss_dfl``."""
        flat_cls, distances, dist_logits = self._flatten(cls_scores, bbox_preds)
        priors, num_level_priors = self._priors(cls_scores)
        pred_bboxes = distance2bbox(priors[:, :2], distances * priors[:, 2:3])  # (B, N, 4) pixels
        assigned = self._assign(flat_cls, pred_bboxes, priors, num_level_priors, batch_gt_instances)
        target_scores = assigned.scores.to(flat_cls.dtype)
        avg_factor = target_scores.sum().clamp(min=1).item()  # official: divide only by a sum above 1
        losses = dict(loss_cls=self._loss_cls(flat_cls, target_scores, assigned.labels) / avg_factor,
                      loss_bbox=self._loss_iou(pred_bboxes, assigned, priors, avg_factor))
        if self.reg_max > 0:
            losses['loss_dfl'] = self._loss_dfl(dist_logits, assigned, priors, avg_factor)
        return losses

    def _assign(self, flat_cls: Tensor, pred_bboxes: Tensor, priors: Tensor, num_level_priors: List[int],
                batch_gt_instances: InstanceList):
        """The current assigner's targets for ``(B, N, C)`` logits and ``(B, N, 4)`` boxes in pixels."""
        gt_labels, gt_bboxes, valid = self._pad_gts(batch_gt_instances, flat_cls.device)
        return self._current_assigner().assign(flat_cls.detach().sigmoid(), pred_bboxes.detach().float(),
                                               priors, num_level_priors, gt_labels, gt_bboxes, valid)

    def _loss_iou(self, pred_bboxes: Tensor, assigned, priors: Tensor, avg_factor: float) -> Tensor:
        """The configured IoU loss of the positives' ``(B, N, 4)`` boxes (pixels), weighted by their scores."""
        fg = assigned.fg_mask
        if not fg.any():
            return pred_bboxes.sum() * 0  # keep every parameter in the graph (DDP) with an exact zero
        # IoU losses are scale-free: compare boxes in stride units as YOLOv6 does.
        stride_fg = priors[:, 2:3].expand(fg.shape[0], -1, -1)[fg]  # (P, 1)
        return self.loss_bbox(pred_bboxes[fg] / stride_fg, assigned.bboxes[fg] / stride_fg,
                              weight=assigned.scores.to(pred_bboxes.dtype).sum(-1)[fg],
                              reduction_override='sum') / avg_factor

    def _loss_dfl(self, dist_logits: Tensor, assigned, priors: Tensor, avg_factor: float) -> Tensor:
        """DFL of the positives' ``(B, N, 4, R + 1)`` logits towards their target sides, weighted by their scores."""
        fg = assigned.fg_mask
        if not fg.any():
            return dist_logits.sum() * 0
        reg_max = dist_logits.shape[-1] - 1
        stride_fg = priors[:, 2:3].expand(fg.shape[0], -1, -1)[fg]  # (P, 1)
        points_fg = priors[:, :2].expand(fg.shape[0], -1, -1)[fg] / stride_fg
        target_fg = assigned.bboxes[fg] / stride_fg
        ltrb = torch.cat([points_fg - target_fg[:, :2], target_fg[:, 2:] - points_fg], -1)
        ltrb = ltrb.clamp(0, reg_max - 0.01)  # (P, 4) targets in bins
        weight = assigned.scores.to(dist_logits.dtype).sum(-1)[fg]
        return self.loss_dfl(dist_logits[fg].reshape(-1, reg_max + 1), ltrb.reshape(-1),
                             weight=weight[:, None].expand(-1, 4).reshape(-1) / 4,
                             reduction_override='sum') / avg_factor

    def loss_distill(self, x: Tuple[Tensor, ...], batch_data_samples: SampleList,
                     teacher_outputs: Tuple[List[Tensor], List[Tensor]]) -> dict:
        """Self-distillation losses of a batch, given the teacher head module's outputs on it.

        Args:
            x: The student's neck features.
            batch_data_samples: With the ground truth.
            teacher_outputs: The teacher's per-level ``cls_scores`` (logits) and ``bbox_preds`` (DFL
                logits with as many bins as the student's DFL branch).
        """
        if self.distill is None:
            raise RuntimeError('this head has no distill settings: YOLOv6Head(distill=dict(...))')
        if self.distill_reg_max:
            cls_scores, bbox_preds, bbox_preds_distill = self.head_module.forward_distill(x)
        else:
            (cls_scores, bbox_preds), bbox_preds_distill = self.head_module(x), None
        batch_gt_instances, batch_img_metas, _ = unpack_gt_instances(batch_data_samples)
        return self.loss_by_feat_distill(cls_scores, bbox_preds, bbox_preds_distill, *teacher_outputs,
                                         batch_gt_instances, batch_img_metas)

    def loss_by_feat_distill(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                             bbox_preds_distill: Optional[List[Tensor]], teacher_cls_scores: List[Tensor],
                             teacher_bbox_preds: List[Tensor], batch_gt_instances: InstanceList,
                             batch_img_metas: List[dict]) -> dict:
        """``loss_cls``, ``loss_bbox``, ``loss_dfl``, ``loss_cls_distill`` and ``loss_dfl_distill``, with
        the N/S DFL branch (``bbox_preds_distill``) also ``loss_bbox_distill`` (its boxes' IoU loss).

        The DFL branch (N/S) or the DFL head itself (M/L) gives the boxes the targets are assigned
        to and the DFL and distillation terms; with the N/S branch both it and the deployed plain
        distances get the IoU loss. Provenance: meituan/YOLOv6 ``loss_distill_ns.py`` / ``loss_distill.py``.
        """
        if self.loss_dfl is None:
            raise RuntimeError('self-distillation needs a DFL head or DFL branch (loss_dfl)')
        flat_cls, distances, dist_logits = self._flatten(cls_scores, bbox_preds)
        if bbox_preds_distill is not None:
            distances_dfl, dist_logits = self._flatten_reg(bbox_preds_distill, self.head_module.integral_distill,
                                                           self.distill_reg_max)
        else:
            distances_dfl = distances
        teacher_cls = self._flatten_cls(teacher_cls_scores)
        bins = dist_logits.shape[-1]
        if any(p.shape[1] != 4 * bins for p in teacher_bbox_preds):
            raise ValueError(f'the teacher regresses {teacher_bbox_preds[0].shape[1] // 4} bins per side, the '
                             f'student {bins}: distill from a teacher with reg_max={bins - 1}')
        teacher_logits = torch.cat([p.reshape(p.shape[0], 4, bins, -1).permute(0, 3, 1, 2)
                                    for p in teacher_bbox_preds], 1)
        priors, num_level_priors = self._priors(cls_scores)
        points, strides = priors[:, :2], priors[:, 2:3]
        boxes_dfl = distance2bbox(points, distances_dfl * strides)  # (B, N, 4) pixels
        assigned = self._assign(flat_cls, boxes_dfl, priors, num_level_priors, batch_gt_instances)
        target_scores = assigned.scores.to(flat_cls.dtype)
        scores_sum = target_scores.sum().item()
        avg_factor = scores_sum if scores_sum > 0 else 1.0  # official: divide by any positive sum
        losses = dict(loss_cls=self._loss_cls(flat_cls, target_scores, assigned.labels) / avg_factor)
        if bbox_preds_distill is not None:
            losses['loss_bbox'] = self._loss_iou(distance2bbox(points, distances * strides), assigned, priors,
                                                 avg_factor)
            losses['loss_bbox_distill'] = self._loss_iou(boxes_dfl, assigned, priors, avg_factor)
        else:
            losses['loss_bbox'] = self._loss_iou(boxes_dfl, assigned, priors, avg_factor)
        losses['loss_dfl'] = self._loss_dfl(dist_logits, assigned, priors, avg_factor)

        hub = MessageHub.get_current_instance()
        decay = distill_decay(hub.get_info('epoch'), hub.get_info('max_epochs'))
        temperature = self.distill['temperature']
        losses['loss_cls_distill'] = class_distill_loss(flat_cls.sigmoid(), teacher_cls.sigmoid(), temperature) \
            * (self.loss_cls.loss_weight * self.distill['cls_weight'] * decay)
        fg = assigned.fg_mask
        if fg.any():
            weight_sum = target_scores.sum(-1)[fg].sum()
            dfl_term = dfl_distill_loss(dist_logits[fg], teacher_logits[fg], temperature) * weight_sum / avg_factor
        else:
            dfl_term = dist_logits.sum() * 0
        losses['loss_dfl_distill'] = dfl_term * (self.loss_dfl.loss_weight * self.distill['dfl_weight'] * decay)
        return losses

    def loss(self, x: Tuple[Tensor, ...], batch_data_samples: SampleList) -> dict:
        """Losses of a batch; with anchors also those of the anchor-based branch (``*_ab``), summed by
        the runner with the others as the official trainer sums the two branches' losses."""
        if self.anchors is None:
            return super().loss(x, batch_data_samples)
        cls_scores, bbox_preds, cls_scores_ab, bbox_preds_ab = self.head_module.forward_train(x)
        batch_gt_instances, batch_img_metas, _ = unpack_gt_instances(batch_data_samples)
        losses = self.loss_by_feat(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas)
        losses.update(self.loss_by_feat_ab(cls_scores_ab, bbox_preds_ab, batch_gt_instances, batch_img_metas))
        return losses

    def _decode_ab(self, cls_scores_ab: Sequence[Tensor], bbox_preds_ab: Sequence[Tensor]
                   ) -> Tuple[Tensor, Tensor, Tensor, List[int]]:
        """``(B, N', C)`` logits, ``(B, N', 4)`` xyxy boxes in strides, ``(N', 4)`` priors and the number per
        level, ``N' = num_anchors * N`` ordered level, anchor, row, column (official ``mode='ab'``)."""
        batch, num_anchors = cls_scores_ab[0].shape[0], self.head_module.num_anchors
        points, num_level_points = self._priors(cls_scores_ab)
        flat_cls, boxes, priors = [], [], []
        for level, (cls, reg, level_priors) in enumerate(zip(cls_scores_ab, bbox_preds_ab,
                                                             points.split(num_level_points))):
            height, width = cls.shape[-2:]
            # (B, A * C, H, W) -> (B, A, H, W, C) -> (B, A * H * W, C); the same for the 4 box numbers
            flat_cls.append(cls.reshape(batch, num_anchors, -1, height, width).permute(0, 1, 3, 4, 2)
                            .reshape(batch, -1, self.num_classes))
            reg = reg.reshape(batch, num_anchors, 4, height, width).permute(0, 1, 3, 4, 2)
            level_priors = level_priors.repeat(num_anchors, 1)  # (A * H * W, 4)
            anchors = (self.anchors[level].to(reg) / level_priors[0, 2]).reshape(1, num_anchors, 1, 1, 2)
            centres = reg[..., :2].reshape(batch, -1, 2) + level_priors[:, :2] / level_priors[:, 2:]
            sizes = ((reg[..., 2:].sigmoid() * 2) ** 2 * anchors).reshape(batch, -1, 2)
            top_left = centres - sizes * 0.5
            boxes.append(torch.cat([top_left, top_left + sizes], -1))  # x2 = x1 + w, as the official
            priors.append(level_priors)
        return (torch.cat(flat_cls, 1), torch.cat(boxes, 1), torch.cat(priors),
                [p.shape[0] for p in priors])

    def loss_by_feat_ab(self, cls_scores_ab: List[Tensor], bbox_preds_ab: List[Tensor],
                        batch_gt_instances: InstanceList, batch_img_metas: List[dict]) -> dict:
        """Losses of the anchor-based branch: ``loss_cls_ab`` and ``loss_bbox_ab``.

        Provenance: meituan/YOLOv6 ``yolov6/models/losses/loss_fuseab.py`` ``ComputeLoss`` as
        ``yolov6/core/engine.py`` builds it for ``--fuse_ab`` (``use_dfl=False``, the config's IoU type).
        """
        flat_cls, boxes, priors, num_level_priors = self._decode_ab(cls_scores_ab, bbox_preds_ab)
        strides = priors[:, 2:3]
        gt_labels, gt_bboxes, valid = self._pad_gts(batch_gt_instances, flat_cls.device)
        assigned = self.anchor_aided_assigner.assign(flat_cls.detach().sigmoid(), (boxes.detach() * strides).float(),
                                                     priors, num_level_priors, gt_labels, gt_bboxes, valid)
        target_scores = assigned.scores.to(flat_cls.dtype)
        scores_sum = target_scores.sum().item()
        avg_factor = scores_sum if scores_sum > 0 else 1.0  # official: divide by any positive sum
        losses = dict(loss_cls_ab=self._loss_cls(flat_cls, target_scores, assigned.labels) / avg_factor)
        fg = assigned.fg_mask
        if fg.any():
            stride_fg = strides.expand(fg.shape[0], -1, -1)[fg]  # (P, 1)
            losses['loss_bbox_ab'] = self.loss_bbox(boxes[fg], assigned.bboxes[fg] / stride_fg,
                                                    weight=target_scores.sum(-1)[fg],
                                                    reduction_override='sum') / avg_factor
        else:
            losses['loss_bbox_ab'] = sum(p.sum() for p in bbox_preds_ab) * 0  # every parameter in the graph
        return losses

    def _loss_cls(self, flat_cls: Tensor, target_scores: Tensor, labels: Tensor) -> Tensor:
        """Summed classification loss: the configured ``VarifocalLoss`` computed as the official code does.

        Args:
            flat_cls: ``(B, N, C)`` logits.
            target_scores: ``(B, N, C)`` soft targets of the assigner.
            labels: ``(B, N)`` assigned class, ``num_classes`` for background.

        Provenance: meituan/YOLOv6 ``yolov6/models/losses/loss.py`` (``VarifocalLoss``, as ``ComputeLoss``
        calls it); Zhang et al., "VarifocalNet", CVPR 2021, Eq. 2.
        """
        vfl = self.loss_cls
        if not (isinstance(vfl, VarifocalLoss) and vfl.use_sigmoid and vfl.iou_weighted):
            raise TypeError(f'YOLOv6Head needs loss_cls=VarifocalLoss(use_sigmoid=True, iou_weighted=True), got {vfl}')
        # The official loss is a BCE of the probabilities, not of the logits (mmdet's varifocal_loss).
        # Following it on purpose: torch clamps the logs at -100, so a logit the float32 sigmoid
        # saturates (above ~16.6, p == 1; below ~-88, p == 0) costs 100 times its weight instead of
        # ~|logit|, with a zero gradient; and a positive is weighted by its target score at its class
        # even when that score is 0, where mmdet's ``target > 0`` test would make it a negative.
        one_hot = torch.nn.functional.one_hot(labels, self.num_classes + 1)[..., :-1].float()
        probabilities = flat_cls.sigmoid()  # in the logits' dtype, as the official head outputs them
        with torch.autocast(device_type=flat_cls.device.type, enabled=False):
            scores, targets = probabilities.float(), target_scores.float()
            weight = vfl.alpha * scores.pow(vfl.gamma) * (1 - one_hot) + targets * one_hot
            loss = torch.nn.functional.binary_cross_entropy(scores, targets, reduction='none') * weight
        return vfl.loss_weight * loss.sum()

    def predict_by_feat(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None, batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None, rescale: bool = False, with_nms: bool = True) -> InstanceList:
        """Decode, filter, (optionally) map back to the original image and NMS, per image.

        A letterbox's ``pad_param`` (``[top, bottom, left, right]``) in the image meta is removed
        before dividing by ``scale_factor``.
        """
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        flat_cls, distances, _ = self._flatten(cls_scores, bbox_preds)
        priors, _ = self._priors(cls_scores)
        bboxes = distance2bbox(priors[:, :2], distances * priors[:, 2:3])  # (B, N, 4)
        scores = flat_cls.sigmoid()
        results = []
        nms_pre = cfg.get('nms_pre', -1)
        nms_pre = nms_pre if nms_pre > 0 else scores[0].numel()  # -1: keep every candidate
        for img_scores, img_bboxes, meta in zip(scores, bboxes, batch_img_metas):
            img_scores, labels, keep, _ = filter_scores_and_topk(img_scores, cfg.get('score_thr', 0.0), nms_pre)
            img_bboxes = img_bboxes[keep]
            height, width = meta['img_shape'][:2]
            img_bboxes[:, 0::2] = img_bboxes[:, 0::2].clamp(0, width)
            img_bboxes[:, 1::2] = img_bboxes[:, 1::2].clamp(0, height)
            if rescale:
                if 'pad_param' in meta:
                    top, _, left, _ = (float(v) for v in meta['pad_param'])
                    img_bboxes = img_bboxes - img_bboxes.new_tensor([left, top, left, top])
                img_bboxes = img_bboxes / img_bboxes.new_tensor(meta['scale_factor']).repeat(2)
                ori_h, ori_w = meta['ori_shape'][:2]
                img_bboxes[:, 0::2] = img_bboxes[:, 0::2].clamp(0, ori_w)
                img_bboxes[:, 1::2] = img_bboxes[:, 1::2].clamp(0, ori_h)
            result = InstanceData(bboxes=img_bboxes, scores=img_scores, labels=labels)
            results.append(self._bbox_post_process(result, cfg, rescale=False, with_nms=with_nms, img_meta=meta))
        return results
