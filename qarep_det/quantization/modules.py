"""The modules a quantized detector is assembled from: tensor paths, quantizable SiLU, decoding.

A detector's *tensor path* maps preprocessed images to what its head's ``predict_by_feat``
consumes. For YOLOv6 it is backbone -> neck -> head layers, traced and quantized as one graph;
for other single-stage detectors backbone -> neck is quantized and the head layers stay float.
Everything after it (DFL integral, priors, decoding, NMS) stays float in the mmdet head.

Provenance: the split follows torchvision's ``models/quantization`` (quantizable variants, one
module per op); SiLU = ``x * sigmoid(x)`` is Elfwing et al., "Sigmoid-Weighted Linear Units for
Neural Network Function Approximation in Reinforcement Learning", Neural Networks 2018, Sec. 2.
"""
import copy
from typing import Sequence, Tuple

import torch
from mmdet.models.detectors.single_stage import SingleStageDetector
from torch import Tensor, nn

from ..models.dense_heads.yolov6_head import YOLOv6Head


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


class HeadLayers(nn.Module):
    """Holds a head's layer module under ``head_module`` so names match ``bbox_head.head_module``."""

    def __init__(self, head_module: nn.Module) -> None:
        super().__init__()
        self.head_module = head_module

    def forward(self, feats: Sequence[Tensor]) -> tuple:
        return self.head_module(feats)


class BackboneNeck(nn.Module):
    """Float ``images -> neck features``: the graph FX traces when the head layers stay float.

    Submodules are named as in the detector, so every layer has the same qualified name here, in
    the quantized graph and in the detector.

    Args:
        backbone: The detector's backbone.
        neck: The detector's neck.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, images: Tensor) -> tuple:
        """``(B, 3, H, W)`` -> the neck's feature tuple (finest first)."""
        return self.neck(self.backbone(images))


class BackboneNeckHead(BackboneNeck):
    """Float ``images -> (cls_scores, bbox_preds)``: backbone, neck and head layers as one graph.

    The head layers sit at ``bbox_head.head_module`` as in the detector.

    Args:
        backbone: The detector's backbone.
        neck: The detector's neck.
        head_module: The head's layer module (``YOLOv6HeadModule``).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head_module: nn.Module) -> None:
        super().__init__(backbone, neck)
        self.bbox_head = HeadLayers(head_module)

    def forward(self, images: Tensor) -> tuple:
        """``(B, 3, H, W)`` -> per level ``cls_scores`` ``(B, C, h, w)`` and ``bbox_preds``."""
        return self.bbox_head(super().forward(images))


class TensorPath(nn.Module):
    """``images -> head outputs``: a graph (INT8, or fused FP32), then the head layers left in float (if any).

    Args:
        graph: The converted (INT8) graph of a :class:`BackboneNeck` or :class:`BackboneNeckHead`,
            or the float module itself (fused FP32 deployment).
        float_head: Float layers applied to the graph's outputs: ``nn.Identity`` when the graph
            ends with the head layers, else the detector's ``bbox_head`` (its ``forward``).
    """

    def __init__(self, graph: nn.Module, float_head: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        self.float_head = float_head

    def forward(self, images: Tensor) -> Tuple[list, ...]:
        """``(B, 3, H, W)`` float -> the head's ``forward`` outputs, e.g. ``(cls_scores, bbox_preds)``."""
        return self.float_head(self.graph(images))


class DecodingHeadModule(nn.Module):
    """Stand-in for ``YOLOv6HeadModule`` once its layers run in the quantized graph.

    Keeps what ``YOLOv6Head`` post-processing reads from its head module: ``integral`` (DFL
    softmax-expectation or identity), ``num_classes``, ``reg_max``. Has no ``forward``.

    Args:
        head_module: The float ``YOLOv6HeadModule`` being replaced.
    """

    def __init__(self, head_module: nn.Module) -> None:
        super().__init__()
        self.num_classes = head_module.num_classes
        self.reg_max = head_module.reg_max
        self.integral = head_module.integral


def deployable(model: nn.Module) -> bool:
    """Whether ``model`` has the tensor path this subpackage deploys and quantizes: an mmdet
    single-stage detector with a neck (YOLOv6, RetinaNet, ...)."""
    return isinstance(model, SingleStageDetector) and model.with_neck


def check_deployable(model: nn.Module) -> None:
    """Raise ``TypeError`` unless :func:`deployable`."""
    if not deployable(model):
        raise TypeError(f'expected an mmdet single-stage detector with a neck, got {type(model).__name__}')


def head_layers_quantizable(bbox_head: nn.Module) -> bool:
    """Whether a head's layers join the quantized graph: a ``YOLOv6Head`` (layers in ``head_module``)."""
    return isinstance(bbox_head, YOLOv6Head)


def split_tensor_path(detector: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """``(graph, float_head)`` of a :func:`deployable` detector, sharing its modules.

    ``graph`` is what is traced (and quantized): backbone + neck + head layers for a ``YOLOv6Head``
    (``float_head`` is ``nn.Identity``), else backbone + neck (``float_head`` is the ``bbox_head``,
    whose ``forward`` runs the head layers).
    """
    if head_layers_quantizable(detector.bbox_head):
        return BackboneNeckHead(detector.backbone, detector.neck, detector.bbox_head.head_module), nn.Identity()
    return BackboneNeck(detector.backbone, detector.neck), detector.bbox_head


def postprocessing_head(bbox_head: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """A copy of ``bbox_head`` for post-processing and the float layers to run after the graph.

    Returns:
        ``(head, float_head)``: for a ``YOLOv6Head`` the copy has a :class:`DecodingHeadModule`
        and ``float_head`` is ``nn.Identity``; for any other head both are the same copy (its
        ``forward`` runs the float head layers, its ``predict_by_feat`` post-processes).
    """
    head = copy.deepcopy(bbox_head)
    if head_layers_quantizable(head):
        head.head_module = DecodingHeadModule(head.head_module)
        return head, nn.Identity()
    return head, head
