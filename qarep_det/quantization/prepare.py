"""Prepare a detector for post-training quantization and calibrate its observers.

``prepare_detector`` fuses the detector (``reparameterize_model``), cuts out its tensor path
(:mod:`.modules`), makes SiLU quantizable, traces the path with FX, fuses conv+BN(+ReLU) and
inserts observers. ``calibrate`` runs images through the observed graph.

Provenance: Nagel et al., "A White Paper on Neural Network Quantization", 2021, Sec. 3.5
(the standard post-training pipeline: fold BN, set ranges on a small calibration set).
"""
import copy
import logging
from dataclasses import dataclass
from typing import Iterable, List, Union

import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torch.fx import GraphModule
from torch.nn.modules.batchnorm import _BatchNorm
from tqdm import tqdm

from ..reparam import reparameterize_model
from ._backend import FLOAT_LAYER_TYPES, prepare_graph
from .modules import BackboneNeckHead, check_deployable, replace_silu, split_tensor_path
from .qconfig import PER_TENSOR_WEIGHT_TYPES, QuantConfig

SILU_MODES = ('float', 'quantized')
"""``float`` (default): dequantize, float SiLU, quantize; ``quantized``: quantized ``sigmoid`` * ``x``.

Measured on YOLOv6-N/S at 640 (x86, 2 threads; ``benchmarks/quantization_latency.py``): torch.ao's
quantized sigmoid + mul cost more than float SiLU with its dequantize/quantize (head layers
0.3-0.5 ms slower), at the same output SQNR (within 0.01 dB); hence ``float`` by default."""


@dataclass
class PreparedDetector:
    """A detector whose tensor path carries observers, plus what conversion and diagnostics need.

    Attributes:
        detector: Fused float copy of the detector (its preprocessor and head are reused).
        float_path: The float tensor path (:class:`~.modules.BackboneNeck` or
            :class:`~.modules.BackboneNeckHead`, SiLU already rewritten): the FP32 reference.
        float_head: Head layers run in float after the path (``nn.Identity`` for YOLOv6).
        observed: The traced, fused path with observers (calibrate this one).
        config: The quantization recipe.
        silu: One of :data:`SILU_MODES`.
        layer_names: Every conv / transposed conv of the path in execution order (detector names).
    """

    detector: nn.Module
    float_path: nn.Module
    float_head: nn.Module
    observed: GraphModule
    config: QuantConfig
    silu: str
    layer_names: List[str]

    @property
    def head_quantized(self) -> bool:
        """Whether the head layers are part of the quantized graph."""
        return isinstance(self.float_path, BackboneNeckHead)

    @property
    def quantized_layers(self) -> List[str]:
        """Layers converted to INT8 (``layer_names`` minus ``config.skip_layers``)."""
        return [n for n in self.layer_names if n not in self.config.skip_layers]

    @property
    def per_tensor_weight_layers(self) -> List[str]:
        """Quantized layers whose weights have one scale per tensor (transposed convs)."""
        layers = dict(self.float_path.named_modules())
        return [n for n in self.quantized_layers if isinstance(layers[n], PER_TENSOR_WEIGHT_TYPES)]

    @property
    def float_layers(self) -> List[str]:
        """Conv layers that stay float: skipped layers, and the head's when it is not in the graph."""
        head = [] if self.head_quantized else [f'bbox_head.{n}' for n, m in self.float_head.named_modules()
                                                 if isinstance(m, FLOAT_LAYER_TYPES)]
        return list(self.config.skip_layers) + head

    def images(self, batch: Union[Tensor, dict]) -> Tensor:
        """Normalized ``(B, 3, H, W)`` images of a batch: a tensor as it is, a dataloader batch
        (``inputs``, ``data_samples``) through the detector's data preprocessor."""
        return batch if isinstance(batch, Tensor) else self.detector.data_preprocessor(batch, False)['inputs']

    @torch.no_grad()
    def float_forward(self, images: Tensor) -> tuple:
        """FP32 head outputs of ``images``: the reference the quantized outputs are compared with."""
        return self.float_head(self.float_path(images))

    def summary(self) -> dict:
        """JSON-able description: recipe, SiLU handling, what is quantized and what is not."""
        return dict(config=self.config.to_dict(), silu=self.silu,
                    graph='backbone+neck+head_layers' if self.head_quantized else 'backbone+neck',
                    num_layers=len(self.layer_names), quantized_layers=self.quantized_layers,
                    per_tensor_weight_layers=self.per_tensor_weight_layers, float_layers=self.float_layers)


def prepare_detector(model: nn.Module, example_inputs: Tensor, config: QuantConfig = QuantConfig(),
                     silu: str = 'float') -> PreparedDetector:
    """Fuse a copy of ``model``, trace its tensor path and insert observers.

    For a ``YOLOv6Head`` detector the graph is backbone + neck + ``bbox_head.head_module``; for
    any other single-stage detector it is backbone + neck and the head layers stay float.

    Args:
        model: An mmdet single-stage detector with a neck (left unchanged).
        example_inputs: Normalized images ``(B, 3, H, W)`` for tracing.
        config: The quantization recipe.
        silu: How SiLU is run, one of :data:`SILU_MODES`.

    Returns:
        The prepared detector; calibrate it with :func:`calibrate`.
    """
    check_deployable(model)
    if silu not in SILU_MODES:
        raise ValueError(f"silu must be one of {', '.join(SILU_MODES)}, got '{silu}'")
    detector = reparameterize_model(model).eval()
    path, float_head = split_tensor_path(detector)
    path = copy.deepcopy(path).eval()
    if silu == 'quantized':
        replace_silu(path)
    convs = {n for n, m in path.named_modules() if isinstance(m, FLOAT_LAYER_TYPES)}
    unknown = sorted(set(config.skip_layers) - convs)
    if unknown:
        raise ValueError(f'skip_layers not in the quantized graph: {", ".join(unknown)}')
    observed = prepare_graph(path, config.qconfig_mapping(), (example_inputs,), config.backend)
    layer_names = [n.target for n in observed.graph.nodes if n.op == 'call_module' and n.target in convs]
    unfused = [n for n, m in observed.named_modules() if isinstance(m, _BatchNorm)]
    if unfused:
        print_log(f'BatchNorms not folded into a conv (quantized on their own): {", ".join(unfused)}',
                  logger='current', level=logging.WARNING)
    return PreparedDetector(detector=detector, float_path=path, float_head=float_head, observed=observed,
                            config=config, silu=silu, layer_names=layer_names)


@torch.no_grad()
def calibrate(prepared: PreparedDetector, batches: Iterable[Union[Tensor, dict]], progress: bool = True) -> int:
    """Run ``batches`` through the observed graph so its observers record activation ranges.

    Args:
        prepared: From :func:`prepare_detector`.
        batches: Normalized image tensors ``(B, 3, H, W)`` or dataloader batches (dicts with
            ``inputs`` and ``data_samples``, normalized by the detector's data preprocessor).
        progress: Show a tqdm progress bar.

    Returns:
        The number of images seen.
    """
    seen = 0
    for batch in tqdm(batches, desc='calibration', unit='batch', disable=not progress):
        images = prepared.images(batch)
        prepared.observed(images)
        seen += images.shape[0]
    return seen
