"""The YOLOv6 detector: backbone -> neck -> :class:`YOLOv6Head` on mmdet's single-stage base, with
optional self-distillation from a teacher checkpoint.

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2 (overall design); images normalized to [0, 1] by the data preprocessor.
Self-distillation: Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023, Sec. 2.4, trained as
meituan/YOLOv6 (e86a483) ``yolov6/core/engine.py`` does with ``--distill --teacher_model_path``:
the teacher is the step-1 network (built from its own config, ``--fuse_ab``), run without
gradients on the same batch, its BatchNorm layers set to ``track_running_stats=False`` and never
switched to eval mode, so it normalizes with the statistics of each batch and never updates its
own. The teacher is kept out of the module tree as mmdet's ``KnowledgeDistillationSingleStageDetector``
keeps it: not in ``state_dict``, the optimizer, DDP or the EMA.
"""
from typing import List, Optional, Tuple, Union

import torch
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from torch import Tensor, nn

from ...utils.checkpoint import model_from_checkpoint
from ...utils.errors import BadInput


@MODELS.register_module()
class YOLOv6(SingleStageDetector):
    """Single-stage detector with the YOLOv6 layout.

    Args:
        teacher_ckpt: Self-distillation: the teacher's checkpoint (a step-1 checkpoint of this
            package, or an official one converted by ``tools/model_converters/yolov6_to_qarep.py``).
            Read at the first training step, so testing, fusing and quantizing a distilled model
            never need it; ``tools/train.py`` checks it before training starts. The head needs
            ``distill`` settings. ``None`` (default): no distillation.
        teacher_config: The teacher's config file; default: the config stored in ``teacher_ckpt``.
        eval_teacher: Run the teacher in eval mode (its running BatchNorm statistics) instead of the
            official batch statistics.
        **kwargs: As ``SingleStageDetector``.
    """

    def __init__(self, *args, teacher_ckpt: Optional[str] = None, teacher_config: Optional[str] = None,
                 eval_teacher: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if teacher_ckpt is None and teacher_config is not None:
            raise ValueError('teacher_config without teacher_ckpt: the teacher needs its weights')
        if teacher_ckpt is not None and getattr(self.bbox_head, 'distill', None) is None:
            raise ValueError('teacher_ckpt needs a head with distill settings: bbox_head=dict(distill=dict(...))')
        self.teacher_ckpt = teacher_ckpt
        self.teacher_config = teacher_config
        self.eval_teacher = eval_teacher
        object.__setattr__(self, 'teacher', None)  # not a submodule: see the module docstring

    def build_teacher(self) -> nn.Module:
        """Build the teacher from ``teacher_ckpt`` (and ``teacher_config``), check that it fits this
        student and set it up for distillation; kept as ``self.teacher``.

        Raises:
            BadInput: The checkpoint or config cannot be read or do not fit each other, or the
                teacher's head does not fit the student's (classes, strides, DFL bins); one line.
        """
        if self.teacher_ckpt is None:
            raise RuntimeError('this detector has no teacher_ckpt')
        try:
            teacher, _, _ = model_from_checkpoint(self.teacher_ckpt, self.teacher_config)
        except BadInput as err:
            raise BadInput(f'the distillation teacher (model.teacher_ckpt): {err}') from None
        head, ours = getattr(teacher, 'bbox_head', None), self.bbox_head
        bins = (ours.distill_reg_max or ours.reg_max) + 1
        if getattr(head, 'num_classes', None) != ours.num_classes or \
                getattr(head, 'reg_max', None) != bins - 1 or \
                head.prior_generator.strides != ours.prior_generator.strides:
            raise BadInput(f'the teacher {self.teacher_ckpt} does not fit the student: it needs '
                             f'{ours.num_classes} classes, strides {ours.prior_generator.strides} and a DFL head '
                             f'with reg_max={bins - 1}')
        for param in teacher.parameters():
            param.requires_grad_(False)
        for module in teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.track_running_stats = False  # official: batch statistics, running ones kept as they are
        teacher.train(not self.eval_teacher)
        object.__setattr__(self, 'teacher', teacher)
        return teacher

    def _teacher_outputs(self, batch_inputs: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """The teacher head module's anchor-free ``(cls_scores, bbox_preds)`` on the batch, without gradients."""
        teacher = self.teacher if self.teacher is not None else self.build_teacher()
        reference = next(teacher.parameters())
        if reference.device != batch_inputs.device:
            teacher.to(batch_inputs.device)
        with torch.no_grad():  # its mode was set once in build_teacher: the runner's mode switches never reach it
            return teacher.bbox_head.head_module(teacher.extract_feat(batch_inputs))

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Union[dict, list]:
        """The head's losses; with a teacher, the self-distillation losses (:meth:`YOLOv6Head.loss_distill`)."""
        if self.teacher_ckpt is None:
            return super().loss(batch_inputs, batch_data_samples)
        teacher_outputs = self._teacher_outputs(batch_inputs)
        return self.bbox_head.loss_distill(self.extract_feat(batch_inputs), batch_data_samples, teacher_outputs)
