"""Task-free building blocks of a deployed model: the tensor path and a quantizable SiLU.

A model's *tensor path* maps preprocessed images to the raw outputs its task's post-processing
consumes (a detector's head outputs, a segmentor's logits). It is cut out of the model by the
task's adapter (:mod:`.tasks`), traced and quantized as one graph; what the adapter keeps in
float (decoding and NMS; the final resize and argmax) runs after it.

Provenance: the split follows torchvision's ``models/quantization`` (quantizable variants, one
module per op); SiLU = ``x * sigmoid(x)`` is Elfwing et al., "Sigmoid-Weighted Linear Units for
Neural Network Function Approximation in Reinforcement Learning", Neural Networks 2018, Sec. 2.
"""
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ._backend import quantized_engine, quiet_deprecations

DEPLOY_MEMORY_FORMAT = torch.channels_last
"""The layout deployed models compute in (their images are converted to it on entry)."""


class QuantizableSiLU(nn.Module):
    """``x * sigmoid(x)`` written as two ops, so FX quantizes it (quantized sigmoid + mul).

    ``nn.SiLU`` has no quantized kernel: left alone it runs in float between a dequantize and a
    quantize (which measured faster on x86, see ``prepare.SILU_MODES``). Numerically equal to
    ``nn.SiLU`` in float.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


def replace_silu(module: nn.Module) -> int:
    """Replace every ``nn.SiLU`` in ``module`` (in place) by :class:`QuantizableSiLU`.

    Returns:
        The number of modules replaced.
    """
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.SiLU):
                setattr(parent, name, QuantizableSiLU())
                count += 1
    return count


class TensorPath(nn.Module):
    """``images -> raw outputs``: a graph (INT8, or fused FP32), then the layers left in float (if any).

    Args:
        graph: The converted (INT8) graph an adapter cut out, or the float module itself (fused
            FP32 deployment).
        float_tail: Float layers applied to the graph's outputs (``nn.Identity`` when the graph
            ends with the raw outputs).
    """

    def __init__(self, graph: nn.Module, float_tail: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        self.float_tail = float_tail

    def forward(self, images: Tensor) -> Any:
        """``(B, 3, H, W)`` float -> the raw outputs (e.g. ``(cls_scores, bbox_preds)``, or logits)."""
        return self.float_tail(self.graph(images))


class DeployedModel:
    """Mixin of the deployed models of every task: a tensor path run channels_last under its engine.

    A task's deployed class (an mmdet ``BaseDetector``, an mmseg ``BaseSegmentor``) mixes this in
    and sets ``tensor_path`` (a :class:`TensorPath` or its TorchScript), ``backend`` (``None`` for
    fused FP32) and ``info`` (a JSON-able summary, saved with the model), and the class attribute
    ``task`` (the adapter's name).
    """

    task: str = ''
    memory_format = 'channels_last'
    """Layout of the tensor path, as reported by ``qarep_det.ptq.evaluation.memory_format``."""
    tensor_path: nn.Module
    backend: Optional[str]
    info: dict

    @property
    def quantized(self) -> bool:
        """Whether the tensor path is INT8."""
        return self.backend is not None

    def run_tensor_path(self, images: Tensor) -> Any:
        """Normalized ``(B, 3, H, W)`` images -> the raw outputs (under the quantized engine when INT8)."""
        images = images.contiguous(memory_format=DEPLOY_MEMORY_FORMAT)
        if self.backend is None:
            return self.tensor_path(images)
        with quiet_deprecations(), quantized_engine(self.backend):
            return self.tensor_path(images)
