"""Label assignment for dense anchor-free heads, vectorized over the batch (no per-image loop).

Provenance: Feng et al., "TOOD: Task-aligned One-stage Object Detection", ICCV 2021, Sec. 3.2
(task-aligned assignment, ``t = s**alpha * u**beta``, top-k per object, normalized soft targets);
Zhang et al., "Bridging the Gap Between Anchor-based and Anchor-free Detection via ATSS", CVPR 2020,
Sec. 3.1 (adaptive IoU threshold mean + std over per-level top-k closest priors); as used by
YOLOv6 v3.0 (Li et al., 2023, Sec. 2.2: ATSS warm-up epochs, then TAL with topk 13, alpha 1, beta 6).
The selection (strict ``> 1e-9`` inside test, top-k, mean + unbiased std, highest-IoU resolution)
and the soft targets follow meituan/YOLOv6 ``yolov6/assigners/{tal,atss}_assigner.py``; on float32
inputs both give the same assignment (checked on random cases with tied boxes and scores).

Shapes: ``B`` images, ``N`` priors (all levels), ``M`` ground-truth boxes per image after padding,
``C`` classes. Every assigner returns a :class:`BatchAssignResult`.
"""
from typing import NamedTuple, Sequence

import torch
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor


class BatchAssignResult(NamedTuple):
    """Assignment of every prior of every image.

    Attributes:
        labels: ``(B, N)`` class index, ``num_classes`` for background.
        bboxes: ``(B, N, 4)`` xyxy target box (zeros for background).
        scores: ``(B, N, C)`` soft classification targets (zeros for background).
        fg_mask: ``(B, N)`` bool, True for foreground priors.
    """
    labels: Tensor
    bboxes: Tensor
    scores: Tensor
    fg_mask: Tensor


def priors_inside_gts(points: Tensor, gt_bboxes: Tensor, eps: float = 1e-9) -> Tensor:
    """``(N, 2)`` prior centres, ``(B, M, 4)`` boxes -> ``(B, M, N)`` bool: centre strictly inside."""
    lt = points[None, None] - gt_bboxes[..., None, :2]  # (B, M, N, 2)
    rb = gt_bboxes[..., None, 2:] - points[None, None]  # (B, M, N, 2)
    return torch.cat([lt, rb], dim=-1).amin(dim=-1) > eps


def resolve_multiple_gts(mask_pos: Tensor, overlaps: Tensor) -> Tensor:
    """Keep, for a prior claimed by several boxes, only the box it overlaps most. ``(B, M, N)``."""
    multi = mask_pos.sum(dim=1, keepdim=True) > 1  # (B, 1, N)
    best = torch.zeros_like(mask_pos).scatter_(1, overlaps.argmax(dim=1, keepdim=True), 1)
    return torch.where(multi, best, mask_pos)


def gather_targets(mask_pos: Tensor, gt_labels: Tensor, gt_bboxes: Tensor, num_classes: int) -> BatchAssignResult:
    """Targets from a resolved ``(B, M, N)`` positive mask (scores are one-hot, to be rescaled)."""
    batch, num_gts, _ = mask_pos.shape
    fg_mask = mask_pos.sum(dim=1) > 0  # (B, N)
    gt_index = mask_pos.argmax(dim=1)  # (B, N)
    flat_index = gt_index + torch.arange(batch, device=gt_index.device)[:, None] * num_gts
    labels = gt_labels.reshape(-1)[flat_index].long()  # (B, N)
    labels = torch.where(fg_mask, labels, torch.full_like(labels, num_classes))
    bboxes = gt_bboxes.reshape(-1, 4)[flat_index] * fg_mask[..., None]  # (B, N, 4)
    scores = torch.nn.functional.one_hot(labels, num_classes + 1)[..., :num_classes].to(gt_bboxes.dtype)
    return BatchAssignResult(labels, bboxes, scores, fg_mask)


def empty_result(num_priors: int, gt_bboxes: Tensor, num_classes: int) -> BatchAssignResult:
    batch = gt_bboxes.shape[0]
    device, dtype = gt_bboxes.device, gt_bboxes.dtype
    return BatchAssignResult(torch.full((batch, num_priors), num_classes, dtype=torch.long, device=device),
                             torch.zeros(batch, num_priors, 4, dtype=dtype, device=device),
                             torch.zeros(batch, num_priors, num_classes, dtype=dtype, device=device),
                             torch.zeros(batch, num_priors, dtype=torch.bool, device=device))


def topk_mask(metric: Tensor, k: int, valid: Tensor, largest: bool = True) -> Tensor:
    """``(B, M, N)`` metric -> ``(B, M, N)`` mask of each valid box's ``k`` best priors."""
    k = min(k, metric.shape[-1])
    index = metric.topk(k, dim=-1, largest=largest).indices  # (B, M, k)
    mask = torch.zeros_like(metric).scatter_(-1, index, 1.0)
    return mask * valid


@TASK_UTILS.register_module()
class BatchTaskAlignedAssigner:
    """Task-aligned assignment (TOOD/TAL) for a whole batch.

    Args:
        num_classes: Number of classes (background is ``num_classes``).
        topk: Candidates per object, ranked by the alignment metric.
        alpha: Exponent of the classification score in the metric.
        beta: Exponent of the IoU in the metric.
        eps: Numerical floor.
    """

    def __init__(self, num_classes: int, topk: int = 13, alpha: float = 1.0, beta: float = 6.0,
                 eps: float = 1e-9) -> None:
        self.num_classes = num_classes
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def assign(self, pred_scores: Tensor, pred_bboxes: Tensor, priors: Tensor, num_level_priors: Sequence[int],
               gt_labels: Tensor, gt_bboxes: Tensor, pad_flag: Tensor) -> BatchAssignResult:
        """Assign priors to boxes.

        Args:
            pred_scores: ``(B, N, C)`` sigmoid scores.
            pred_bboxes: ``(B, N, 4)`` decoded xyxy boxes in pixels.
            priors: ``(N, 4)`` ``[x, y, stride_w, stride_h]``.
            num_level_priors: Priors per level (unused: TAL ranks over all levels at once).
            gt_labels: ``(B, M, 1)`` labels of the padded boxes.
            gt_bboxes: ``(B, M, 4)`` xyxy boxes, padding rows are zeros.
            pad_flag: ``(B, M, 1)`` 1 for real boxes, 0 for padding.
        """
        if gt_bboxes.shape[1] == 0:
            return empty_result(priors.shape[0], gt_bboxes, self.num_classes)
        valid = pad_flag.to(pred_scores.dtype)  # (B, M, 1)
        # (B, N, C) -> (B, C, N) -> score of each box's own class at every prior: (B, M, N)
        scores = pred_scores.permute(0, 2, 1).gather(1, gt_labels.long().expand(-1, -1, pred_scores.shape[1]))
        overlaps = bbox_overlaps(gt_bboxes, pred_bboxes).clamp(min=0)  # (B, M, N)
        align = scores.pow(self.alpha) * overlaps.pow(self.beta)
        inside = priors_inside_gts(priors[:, :2], gt_bboxes).to(align.dtype)
        mask_pos = topk_mask(align * inside, self.topk, valid) * inside * valid
        mask_pos = resolve_multiple_gts(mask_pos, overlaps)
        result = gather_targets(mask_pos, gt_labels, gt_bboxes, self.num_classes)
        # Soft targets: the metric normalized per box so its best prior gets that prior's IoU.
        align = align * mask_pos
        norm = align * (overlaps * mask_pos).amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + self.eps)
        return result._replace(scores=result.scores * norm.amax(dim=1)[..., None])


@TASK_UTILS.register_module()
class BatchATSSAssigner:
    """ATSS for a whole batch, with YOLOv6's soft targets (IoU of the predicted box).

    Priors are taken as square anchors of side ``anchor_scale * stride`` centred on the points.

    Args:
        num_classes: Number of classes (background is ``num_classes``).
        topk: Closest priors per level taken as candidates.
        anchor_scale: Anchor side in strides (YOLOv6: 5.0).
    """

    def __init__(self, num_classes: int, topk: int = 9, anchor_scale: float = 5.0) -> None:
        self.num_classes = num_classes
        self.topk = topk
        self.anchor_scale = anchor_scale

    @torch.no_grad()
    def assign(self, pred_scores: Tensor, pred_bboxes: Tensor, priors: Tensor, num_level_priors: Sequence[int],
               gt_labels: Tensor, gt_bboxes: Tensor, pad_flag: Tensor) -> BatchAssignResult:
        """Assign priors to boxes; arguments as :meth:`BatchTaskAlignedAssigner.assign`."""
        if gt_bboxes.shape[1] == 0:
            return empty_result(priors.shape[0], gt_bboxes, self.num_classes)
        valid = pad_flag.to(gt_bboxes.dtype)  # (B, M, 1)
        points, half = priors[:, :2], priors[:, 2:] * self.anchor_scale / 2
        anchors = torch.cat([points - half, points + half], dim=-1)  # (N, 4)
        overlaps = bbox_overlaps(gt_bboxes, anchors[None].expand(gt_bboxes.shape[0], -1, -1))  # (B, M, N)
        gt_centres = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2  # (B, M, 2)
        distances = (gt_centres[..., None, :] - points[None, None]).norm(dim=-1)  # (B, M, N)
        candidates = torch.cat([topk_mask(level, self.topk, valid, largest=False)
                                for level in distances.split(list(num_level_priors), dim=-1)], dim=-1)
        # Adaptive threshold per box: mean + std of its candidates' IoUs.
        count = candidates.sum(-1, keepdim=True).clamp(min=1)
        mean = (overlaps * candidates).sum(-1, keepdim=True) / count
        var = ((overlaps - mean).square() * candidates).sum(-1, keepdim=True) / (count - 1).clamp(min=1)
        positive = candidates * (overlaps > mean + var.sqrt())
        inside = priors_inside_gts(points, gt_bboxes).to(overlaps.dtype)
        mask_pos = resolve_multiple_gts(positive * inside * valid, overlaps)
        result = gather_targets(mask_pos, gt_labels, gt_bboxes, self.num_classes)
        pred_iou = (bbox_overlaps(gt_bboxes, pred_bboxes).clamp(min=0) * mask_pos).amax(dim=1)  # (B, N)
        return result._replace(scores=result.scores * pred_iou[..., None])
