"""Layers of the YOLOv6 efficient decoupled head (no loss, assigner or post-processing).

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2.1 (efficient decoupled head: one stem, one cls and one reg conv per
level, anchor-free); Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023, Sec. 2.3 (M/L
regress a distribution with DFL, ``reg_max=16``; N/S deploy plain distances, ``reg_max=0``).
DFL itself is Li et al., "Generalized Focal Loss", NeurIPS 2020, Sec. 3.3. Initialization as the
official ``Detect.initialize_biases`` (prior probability 1e-2, Lin et al., ICCV 2017, Sec. 4.1).
The optional anchor-based prediction layers (``num_anchors > 0``) are the training-only branch of
anchor-aided training (YOLOv6 v3.0 Sec. 2.2, official ``--fuse_ab``): meituan/YOLOv6 (e86a483)
``yolov6/models/heads/effidehead_fuseab.py`` (``cls_preds_ab`` / ``reg_preds_ab`` on the same
``cls_convs`` / ``reg_convs`` features, initialized as the anchor-free ones). The optional DFL
branch (``distill_reg_max > 0``) is the training-only layer of the N/S self-distillation head
(YOLOv6 v3.0 Sec. 2.4): ``yolov6/models/heads/effidehead_distill_ns.py`` (``reg_preds_dist`` beside
``reg_preds`` on the ``reg_convs`` features, initialized as ``reg_preds``; inference uses ``reg_preds``).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers.conv import ConvBNAct
from ..layers.csp_layers import YOLOV6_NORM_CFG, scale_width


class DFLIntegral(nn.Module):
    """Expected distance of a discrete distribution over ``0..reg_max`` for each box side.

    Args:
        reg_max: Largest bin value; the input has ``4 * (reg_max + 1)`` channels.
    """

    def __init__(self, reg_max: int) -> None:
        super().__init__()
        if reg_max < 1:
            raise ValueError(f'DFL needs reg_max >= 1, got {reg_max}')
        self.reg_max = reg_max
        self.register_buffer('project', torch.linspace(0, reg_max, reg_max + 1), persistent=False)

    def forward(self, bbox_pred: Tensor) -> Tensor:
        """``(B, 4 * (reg_max + 1), H, W)`` logits -> ``(B, 4, H, W)`` distances in stride units."""
        b, _, h, w = bbox_pred.shape
        # (B, 4 * (R + 1), H, W) -> (B, 4, R + 1, H, W): side-major, bins second (official layout)
        prob = bbox_pred.reshape(b, 4, self.reg_max + 1, h, w).softmax(dim=2)
        # (B, 4, R + 1, H, W) * (R + 1,) summed over bins -> (B, 4, H, W)
        return (prob * self.project.view(1, 1, -1, 1, 1)).sum(dim=2)


@MODELS.register_module()
class YOLOv6HeadModule(BaseModule):
    """Per level: ``stem`` (1x1) -> ``cls_conv`` (3x3) -> ``cls_pred`` (1x1) and
    ``stem`` -> ``reg_conv`` (3x3) -> ``reg_pred`` (1x1). Anchor-free, one prior per location.

    With ``num_anchors > 0`` each level also has ``cls_pred_ab`` (1x1, ``num_anchors * num_classes``
    channels) on the ``cls_conv`` features and ``reg_pred_ab`` (1x1, ``num_anchors * 4``) on the
    ``reg_conv`` features: the anchor-based branch of anchor-aided training. Only
    :meth:`forward_train` runs it; :meth:`forward` (prediction, ``mode='tensor'``, fusion,
    quantization) gives the anchor-free outputs alone.

    With ``distill_reg_max > 0`` (N/S self-distillation) each level also has ``reg_preds_distill``
    (1x1, ``4 * (distill_reg_max + 1)`` channels) on the ``reg_conv`` features: a DFL branch that
    the distillation losses train and that only :meth:`forward_distill` runs.

    Args:
        num_classes: Number of classes (channels of each ``cls_pred``).
        in_channels: Unscaled widths of the neck features (finest first).
        widen_factor: Width multiplier applied to ``in_channels``.
        reg_max: ``0``: ``reg_pred`` outputs 4 distances (v3.0 N/S); ``> 0``: 4 distributions
            over ``0..reg_max`` (DFL, 16 in v3.0 M/L), turned into distances by :attr:`integral`.
        prior_prob: Initial foreground probability of the classification bias.
        num_anchors: Anchors per location of the anchor-based training branch; ``0`` (default): no
            such branch (official ``--fuse_ab``: 3).
        distill_reg_max: ``> 0``: the training-only DFL branch of N/S self-distillation, regressing
            distributions over ``0..distill_reg_max`` (official 16); ``0`` (default): none.
        norm_cfg: Norm config of the stems and convs.
        act_cfg: Activation of the stems and convs.
        init_cfg: mmengine initialization config (applied before the prediction-layer init).

    Attributes:
        integral: ``DFLIntegral`` if ``reg_max > 0`` else ``nn.Identity``: maps a ``bbox_pred``
            to ``(B, 4, H, W)`` distances in either case.
        integral_distill: ``DFLIntegral(distill_reg_max)`` when the DFL branch exists, else ``None``.
    """

    def __init__(self, num_classes: int = 80, in_channels: Sequence[int] = (128, 256, 512),
                 widen_factor: float = 1.0, reg_max: int = 16, prior_prob: float = 1e-2, num_anchors: int = 0,
                 distill_reg_max: int = 0, norm_cfg: dict = YOLOV6_NORM_CFG,
                 act_cfg: Optional[dict] = dict(type='SiLU'), init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if reg_max < 0:
            raise ValueError(f'reg_max must be >= 0, got {reg_max}')
        if num_anchors < 0:
            raise ValueError(f'num_anchors must be >= 0, got {num_anchors}')
        if distill_reg_max < 0 or (distill_reg_max and reg_max):
            raise ValueError(f'distill_reg_max (the DFL branch beside plain distances) needs reg_max=0 and must be '
                             f'>= 0, got reg_max={reg_max}, distill_reg_max={distill_reg_max}')
        if distill_reg_max and num_anchors:
            raise ValueError('a head has either the anchor-aided branch (num_anchors) or the distillation branch '
                             '(distill_reg_max), not both (official: distillation runs without --fuse_ab)')
        self.num_classes = num_classes
        self.in_channels = tuple(scale_width(c, widen_factor) for c in in_channels)
        self.reg_max = reg_max
        self.prior_prob = prior_prob
        self.num_anchors = num_anchors
        self.distill_reg_max = distill_reg_max
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stems = nn.ModuleList(ConvBNAct(c, c, 1, **conv) for c in self.in_channels)
        self.cls_convs = nn.ModuleList(ConvBNAct(c, c, 3, **conv) for c in self.in_channels)
        self.reg_convs = nn.ModuleList(ConvBNAct(c, c, 3, **conv) for c in self.in_channels)
        self.cls_preds = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in self.in_channels)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, 4 * (reg_max + 1), 1) for c in self.in_channels)
        if num_anchors:  # registered after reg_preds, as the official head lists them
            self.cls_preds_ab = nn.ModuleList(nn.Conv2d(c, num_anchors * num_classes, 1) for c in self.in_channels)
            self.reg_preds_ab = nn.ModuleList(nn.Conv2d(c, num_anchors * 4, 1) for c in self.in_channels)
        if distill_reg_max:
            self.reg_preds_distill = nn.ModuleList(nn.Conv2d(c, 4 * (distill_reg_max + 1), 1)
                                                   for c in self.in_channels)
        self.integral = DFLIntegral(reg_max) if reg_max > 0 else nn.Identity()
        self.integral_distill = DFLIntegral(distill_reg_max) if distill_reg_max else None

    def init_weights(self) -> None:
        """``init_cfg`` first, then zero prediction weights, prior-probability cls bias, reg bias 1
        (every branch)."""
        super().init_weights()
        cls_bias = -math.log((1 - self.prior_prob) / self.prior_prob)
        cls_preds, reg_preds = list(self.cls_preds), list(self.reg_preds)
        if self.num_anchors:
            cls_preds += list(self.cls_preds_ab)
            reg_preds += list(self.reg_preds_ab)
        if self.distill_reg_max:
            reg_preds += list(self.reg_preds_distill)
        with torch.no_grad():
            for conv in cls_preds:
                conv.weight.zero_()
                conv.bias.fill_(cls_bias)
            for conv in reg_preds:
                conv.weight.zero_()
                conv.bias.fill_(1.0)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Neck features -> per level ``cls_scores`` ``(B, num_classes, H, W)`` (logits) and
        ``bbox_preds`` ``(B, 4 * (reg_max + 1), H, W)``; the anchor-based layers do not run."""
        cls_scores, bbox_preds, _ = self._features(feats)
        return cls_scores, bbox_preds

    def forward_train(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Both branches: :meth:`forward`'s outputs, then per level ``cls_scores_ab``
        ``(B, num_anchors * num_classes, H, W)`` (logits, anchor-major) and ``bbox_preds_ab``
        ``(B, num_anchors * 4, H, W)`` (raw ``x, y, w, h`` per anchor, anchor-major)."""
        if not self.num_anchors:
            raise RuntimeError('this head module has no anchor-based branch (num_anchors=0)')
        cls_scores, bbox_preds, (cls_feats, reg_feats) = self._features(feats)
        cls_scores_ab = [conv(f) for conv, f in zip(self.cls_preds_ab, cls_feats)]
        bbox_preds_ab = [conv(f) for conv, f in zip(self.reg_preds_ab, reg_feats)]
        return cls_scores, bbox_preds, cls_scores_ab, bbox_preds_ab

    def forward_distill(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """:meth:`forward`'s outputs, then per level the DFL branch's ``bbox_preds_distill``
        ``(B, 4 * (distill_reg_max + 1), H, W)`` (logits, side-major as ``bbox_preds`` of a DFL head)."""
        if not self.distill_reg_max:
            raise RuntimeError('this head module has no distillation branch (distill_reg_max=0)')
        cls_scores, bbox_preds, (_, reg_feats) = self._features(feats)
        return cls_scores, bbox_preds, [conv(f) for conv, f in zip(self.reg_preds_distill, reg_feats)]

    def _features(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor], Tuple[list, list]]:
        """Anchor-free outputs and the per-level ``cls_conv`` / ``reg_conv`` features they come from."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} feature levels, got {len(feats)}')
        cls_scores, bbox_preds, cls_feats, reg_feats = [], [], [], []
        for i, feat in enumerate(feats):
            feat = self.stems[i](feat)
            cls_feats.append(self.cls_convs[i](feat))
            cls_scores.append(self.cls_preds[i](cls_feats[-1]))
            reg_feats.append(self.reg_convs[i](feat))
            bbox_preds.append(self.reg_preds[i](reg_feats[-1]))
        return cls_scores, bbox_preds, (cls_feats, reg_feats)
