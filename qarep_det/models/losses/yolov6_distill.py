"""The two distillation terms of YOLOv6 v3.0 self-distillation and their schedule, as pure functions.

Provenance: Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023, Sec. 2.4 (self-distillation:
the student learns the teacher's class and box distributions by KL divergence; the weight of
the soft labels decays with a cosine over training). Followed as meituan/YOLOv6 (e86a483)
computes it, in ``yolov6/models/losses/loss_distill_ns.py`` and ``loss_distill.py``
(``distill_loss_cls``, ``BboxLoss.distill_loss_dfl``, ``distill_weightdecay``); the official
choices that the paper does not state are kept and named in each docstring.
"""
import math
from typing import Optional

import torch
from torch import Tensor


def distill_decay(epoch: Optional[int], max_epochs: Optional[int]) -> float:
    """Weight of the distillation terms at ``epoch`` (0-based) of ``max_epochs``: a cosine from 1 to 0.01.

    ``((1 - cos(pi * epoch / max_epochs)) / 2) * (0.01 - 1) + 1``, evaluated once per epoch as the
    official trainer does. Outside a training loop (no epoch or no length known) it is 1.
    """
    if epoch is None or not max_epochs:
        return 1.0
    return ((1 - math.cos(epoch * math.pi / max_epochs)) / 2) * (0.01 - 1) + 1


def _tempered_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Per row, ``KL(softmax(teacher / T) || softmax(student / T))`` summed over the last dimension.

    With ``d = (teacher - student) / T``: ``KL = sum(p_t * d) - log(sum(p_s * exp(d)))``, the log
    taken as ``log1p(sum(p_s * expm1(d)))``, so that two near-equal distributions (the usual case at
    T = 20) do not cancel two large logs: in float32 it is within ~1e-7 of the float64 value, where
    the official ``kl_div(log(softmax(s)), softmax(t))`` is ~1e-5 off on 80-class score rows. Rows
    with ``|d| >= 30`` anywhere take the overflow-free ``logsumexp(log p_s + d)``.
    """
    student = student_logits.float() / temperature
    teacher = teacher_logits.float() / temperature
    d = teacher - student
    log_p_s = student.log_softmax(-1)
    near = d.abs().amax(-1) < 30
    log_mean_ratio = torch.where(near, torch.log1p((log_p_s.exp() * torch.expm1(d.clamp(max=30))).sum(-1)),
                                 (log_p_s + d).logsumexp(-1))
    return (teacher.softmax(-1) * d).sum(-1) - log_mean_ratio


def class_distill_loss(student_scores: Tensor, teacher_scores: Tensor, temperature: float) -> Tensor:
    """KL divergence from the teacher's to the student's class distribution, summed over every prior.

    Official choice kept: the distributions are softmaxes over the classes of the *sigmoid
    probabilities* divided by the temperature (not of the logits), the KL is summed over all
    priors of the batch (not normalized) and multiplied by ``temperature ** 2``.

    Args:
        student_scores: ``(..., C)`` sigmoid probabilities of the student (gradients flow here).
        teacher_scores: ``(..., C)`` sigmoid probabilities of the teacher.
        temperature: Softmax temperature (official ``--temperature``, 20).
    """
    return _tempered_kl(student_scores, teacher_scores, temperature).sum() * temperature ** 2


def dfl_distill_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """KL divergence from the teacher's to the student's box-side distributions, mean over sides.

    Official choice kept: per side of each positive box the KL of the tempered softmaxes over the
    ``reg_max + 1`` bins, summed over the bins, averaged over every side of every box and multiplied
    by ``temperature ** 2``; the caller weights it by the sum of the positives' target scores.

    Args:
        student_logits: ``(P, 4, reg_max + 1)`` DFL logits of the positive priors.
        teacher_logits: The teacher's, same shape.
        temperature: Softmax temperature.
    """
    return _tempered_kl(student_logits, teacher_logits, temperature).mean() * temperature ** 2


__all__ = ['distill_decay', 'class_distill_loss', 'dfl_distill_loss']
