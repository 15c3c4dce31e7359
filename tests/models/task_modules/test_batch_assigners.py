"""Batched TAL and ATSS assigners on hand-made cases with known answers."""
import torch

from qarep_det.models.task_modules import BatchATSSAssigner, BatchTaskAlignedAssigner


def grid_priors(size: int = 64, strides=(8, 16)) -> tuple:
    """``(N, 4)`` priors ``[x, y, stride, stride]`` at offset 0.5, and the count per level."""
    levels = []
    for s in strides:
        n = size // s
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
        points = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1).float() * s + s / 2
        levels.append(torch.cat([points, torch.full_like(points, s)], -1))
    return torch.cat(levels), [len(level) for level in levels]


def test_tal_assigns_topk_priors_inside_the_box_with_normalized_scores() -> None:
    priors, counts = grid_priors()
    n = len(priors)
    gt_bboxes = torch.tensor([[[8., 8., 40., 40.], [0., 0., 0., 0.]]])  # one real box, one padding row
    gt_labels = torch.tensor([[[2.], [0.]]])
    pad_flag = torch.tensor([[[1.], [0.]]])
    # Predictions: a box that equals the gt at the priors near its centre, scores 0.5 for class 2.
    pred_bboxes = priors[None, :, :2].repeat(1, 1, 2) + torch.tensor([-16., -16., 16., 16.])
    pred_scores = torch.full((1, n, 3), 0.5)
    result = BatchTaskAlignedAssigner(num_classes=3, topk=5).assign(pred_scores, pred_bboxes, priors, counts,
                                                                    gt_labels, gt_bboxes, pad_flag)
    fg = result.fg_mask[0]
    assert fg.sum() == 5  # exactly topk, all inside the box
    centres = priors[fg, :2]
    assert ((centres > 8) & (centres < 40)).all()
    assert (result.labels[0, fg] == 2).all() and (result.labels[0, ~fg] == 3).all()
    assert torch.equal(result.bboxes[0, fg], gt_bboxes[0, :1].expand(5, -1))
    # The best-aligned prior's soft target is its IoU with the box; others are scaled below it.
    ious = result.scores[0, fg, 2]
    assert result.scores[0, :, :2].abs().sum() == 0 and result.scores[0, ~fg].abs().sum() == 0
    assert 0 < ious.min() <= ious.max() <= 1
    best_pred = pred_bboxes[0, fg][ious.argmax()]
    lower, upper = torch.max(best_pred[:2], gt_bboxes[0, 0, :2]), torch.min(best_pred[2:], gt_bboxes[0, 0, 2:])
    inter = (upper - lower).clamp(0).prod()
    union = (best_pred[2:] - best_pred[:2]).prod() + 32 * 32 - inter
    assert torch.isclose(ious.max(), inter / union)


def test_tal_prior_claimed_by_two_boxes_goes_to_the_higher_iou() -> None:
    priors, counts = grid_priors(32, strides=(8,))
    gt_bboxes = torch.tensor([[[0., 0., 20., 20.], [4., 4., 32., 32.]]])
    pred_bboxes = torch.tensor([[0., 0., 20., 20.]]).expand(1, len(priors), 4).clone()
    result = BatchTaskAlignedAssigner(num_classes=2, topk=16).assign(
        torch.ones(1, len(priors), 2), pred_bboxes, priors, counts, torch.tensor([[[0.], [1.]]]), gt_bboxes,
        torch.ones(1, 2, 1))
    shared = (priors[:, :2] > 4).all(-1) & (priors[:, :2] < 20).all(-1)  # inside both boxes
    assert (result.labels[0, shared] == 0).all()  # the prediction overlaps box 0 exactly


def test_assigners_without_boxes_give_background() -> None:
    priors, counts = grid_priors()
    for assigner in (BatchTaskAlignedAssigner(num_classes=3), BatchATSSAssigner(num_classes=3)):
        result = assigner.assign(torch.rand(2, len(priors), 3), torch.rand(2, len(priors), 4), priors, counts,
                                 torch.zeros(2, 0, 1), torch.zeros(2, 0, 4), torch.zeros(2, 0, 1))
        assert not result.fg_mask.any() and (result.labels == 3).all() and result.scores.sum() == 0


def test_atss_positive_priors_are_near_the_centre_and_scored_by_predicted_iou() -> None:
    priors, counts = grid_priors()
    gt_bboxes = torch.tensor([[[10., 12., 42., 40.]], [[0., 0., 0., 0.]]])  # image 2 has only padding
    pad_flag = torch.tensor([[[1.]], [[0.]]])
    pred_bboxes = gt_bboxes[:1].expand(2, len(priors), 4).clone()  # perfect boxes everywhere
    result = BatchATSSAssigner(num_classes=1, topk=4).assign(torch.rand(2, len(priors), 1), pred_bboxes, priors,
                                                             counts, torch.zeros(2, 1, 1), gt_bboxes, pad_flag)
    fg = result.fg_mask[0]
    assert 0 < fg.sum() <= 8 and not result.fg_mask[1].any()
    distances = (priors[fg, :2] - torch.tensor([26., 26.])).norm(dim=-1)
    assert distances.max() <= 12  # among the 4 closest priors of its level
    assert torch.allclose(result.scores[0, fg, 0], torch.ones(int(fg.sum())))  # IoU of a perfect prediction


def test_a_prior_on_the_box_edge_is_not_inside_one_a_rounding_error_inside_is() -> None:
    """Strictly inside by more than 1e-9, as meituan/YOLOv6 ``select_candidates_in_gts``: an edge that a
    float32 round trip through normalized ``xywh`` moves by 2.4e-6 (12 -> 11.9999976) adds a column."""
    priors, counts = grid_priors(64, strides=(8,))  # centres 4, 12, ..., 60
    assigner = BatchTaskAlignedAssigner(num_classes=1, topk=16)
    for x1, columns in ((12., 3), (11.9999976, 4)):
        gt_bboxes = torch.tensor([[[x1, 12., 44., 44.]]])
        pred_bboxes = gt_bboxes.expand(1, len(priors), 4).clone()  # perfect boxes everywhere
        result = assigner.assign(torch.ones(1, len(priors), 1), pred_bboxes, priors, counts, torch.zeros(1, 1, 1),
                                 gt_bboxes, torch.ones(1, 1, 1))
        assert result.fg_mask.sum() == 3 * columns  # rows 20, 28, 36: y = 12 and 44 are on the edges
