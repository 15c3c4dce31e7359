"""Prepare a model for post-training quantization and calibrate its observers.

``prepare_model`` fuses the model (``reparameterize_model``), cuts out its tensor path (the
task's adapter, :mod:`.tasks`), makes SiLU quantizable, traces the path with FX, fuses
conv+BN(+ReLU) and inserts observers. ``calibrate`` runs images through the observed graph.

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
from .tasks import TaskAdapter, adapter_for
from .modules import replace_silu
from .qconfig import PER_TENSOR_WEIGHT_TYPES, QuantConfig

SILU_MODES = ('float', 'quantized')
"""``float`` (default): dequantize, float SiLU, quantize; ``quantized``: quantized ``sigmoid`` * ``x``.

Measured on YOLOv6-N/S at 640 (x86, 2 threads; ``benchmarks/quantization_latency.py``): torch.ao's
quantized sigmoid + mul cost more than float SiLU with its dequantize/quantize (head layers
0.3-0.5 ms slower), at the same output SQNR (within 0.01 dB); hence ``float`` by default."""


@dataclass
class PreparedModel:
    """A model whose tensor path carries observers, plus what conversion and diagnostics need.

    Attributes:
        model: Fused float copy of the model (its preprocessor and post-processing are reused).
        adapter: The task's adapter.
        float_path: The float graph the adapter cut out (SiLU already rewritten): the FP32
            reference, named as in the model.
        float_tail: Layers run in float after the path (``nn.Identity`` when the graph ends
            with the raw outputs).
        observed: The traced, fused path with observers (calibrate this one).
        config: The quantization recipe.
        silu: One of :data:`SILU_MODES`.
        layer_names: Every conv / transposed conv of the path in execution order (model names).
    """

    model: nn.Module
    adapter: TaskAdapter
    float_path: nn.Module
    float_tail: nn.Module
    observed: GraphModule
    config: QuantConfig
    silu: str
    layer_names: List[str]

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
        """Conv layers that stay float: skipped layers, and those of the float tail."""
        return list(self.config.skip_layers) + self.adapter.float_layer_names(self.float_tail)

    def images(self, batch: Union[Tensor, dict]) -> Tensor:
        """Normalized ``(B, 3, H, W)`` images of a batch: a tensor as it is, a dataloader batch
        (``inputs``, ``data_samples``) through the model's data preprocessor."""
        return batch if isinstance(batch, Tensor) else self.model.data_preprocessor(batch, False)['inputs']

    @torch.no_grad()
    def float_forward(self, images: Tensor) -> tuple:
        """FP32 raw outputs of ``images``: the reference the quantized outputs are compared with."""
        return self.float_tail(self.float_path(images))

    def summary(self) -> dict:
        """JSON-able description: recipe, SiLU handling, what is quantized and what is not."""
        return dict(task=self.adapter.task, model=type(self.model).__name__, config=self.config.to_dict(),
                    silu=self.silu, graph=self.adapter.graph_name(self.float_path),
                    num_layers=len(self.layer_names), quantized_layers=self.quantized_layers,
                    per_tensor_weight_layers=self.per_tensor_weight_layers, float_layers=self.float_layers)


def prepare_model(model: nn.Module, example_inputs: Tensor, config: QuantConfig = QuantConfig(),
                  silu: str = 'float') -> PreparedModel:
    """Fuse a copy of ``model``, trace its tensor path and insert observers.

    The tensor path is the adapter's (:mod:`.tasks`): for a YOLOv6 detector backbone +
    neck + ``bbox_head.head_module``, for other single-stage detectors backbone + neck (the head
    layers stay float), for an mmseg encoder-decoder segmentor backbone (+ neck) + decode head.

    Args:
        model: A model an adapter deploys (left unchanged).
        example_inputs: Normalized images ``(B, 3, H, W)`` for tracing.
        config: The quantization recipe.
        silu: How SiLU is run, one of :data:`SILU_MODES`.

    Returns:
        The prepared model; calibrate it with :func:`calibrate`.

    Raises:
        TypeError: No adapter deploys ``model``.
        ValueError: An unknown ``silu`` mode, or ``config.skip_layers`` naming no layer of the graph.
    """
    adapter = adapter_for(model)
    if silu not in SILU_MODES:
        raise ValueError(f"silu must be one of {', '.join(SILU_MODES)}, got '{silu}'")
    fused = reparameterize_model(model).eval()
    path, float_tail = adapter.split(fused)
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
    return PreparedModel(model=fused, adapter=adapter, float_path=path, float_tail=float_tail, observed=observed,
                         config=config, silu=silu, layer_names=layer_names)


@torch.no_grad()
def calibrate(prepared: PreparedModel, batches: Iterable[Union[Tensor, dict]], progress: bool = True) -> int:
    """Run ``batches`` through the observed graph so its observers record activation ranges.

    Args:
        prepared: From :func:`prepare_model`.
        batches: Normalized image tensors ``(B, 3, H, W)`` or dataloader batches (dicts with
            ``inputs`` and ``data_samples``, normalized by the model's data preprocessor).
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
