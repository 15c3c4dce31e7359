"""Deployed models: a tensor path (fused FP32, or INT8) in front of the task's float post-processing.

``convert_model`` turns a calibrated :class:`~.prepare.PreparedModel` into its INT8 deployed
model; ``deploy_fused`` turns a float model into its fused FP32 one. The task's adapter
(:mod:`.tasks`) wraps the tensor path: a detector's head decodes and runs NMS, a segmentor's
post-processing resizes and takes the argmax, exactly as the float model's ``predict`` does.
Both run NHWC (channels_last), the layout the CPU kernels compute in (oneDNN for float convs;
FBGEMM, oneDNN and QNNPACK for quantized ones): the fused FP32 YOLOv6-N/S run 1.26x / 1.14x
faster in it than in NCHW (``benchmarks/quantization_latency.py``) and the first quantized conv
skips a reorder.

Provenance: INT8 inference as Jacob et al., CVPR 2018, Sec. 2; the fused network is RepVGG's
deploy form (Ding et al., CVPR 2021, Sec. 3.3).
"""
from torch import nn

import math

from ..reparam import reparameterize_model
from ._backend import convert_graph, is_activation_observer
from .tasks import adapter_for
from .modules import DEPLOY_MEMORY_FORMAT, DeployedModel
from .prepare import PreparedModel


def deploy_fused(model: nn.Module) -> DeployedModel:
    """The fused FP32 deployment of ``model`` (left unchanged).

    The tensor path is the adapter's graph, re-parameterized, with channels_last weights.

    Raises:
        TypeError: No adapter deploys ``model``.
    """
    adapter = adapter_for(model)
    fused = reparameterize_model(model).eval()
    graph, _ = adapter.split(fused)
    deployed = adapter.wrap(fused, graph, None, dict(task=adapter.task, model=type(model).__name__, graph='fp32_fused'))
    deployed.tensor_path.to(memory_format=DEPLOY_MEMORY_FORMAT)
    return deployed


MAX_ACTIVATION = 1e8
"""Largest calibrated activation magnitude :func:`convert_model` accepts. A scale above it (range / 255
> 4e5) means a broken float model (e.g. BatchNorm statistics of a barely trained run), and scales
above 2**24 are whole numbers that TorchScript writes as ints, making the saved file unloadable."""


def check_activation_ranges(prepared: PreparedModel) -> None:
    """Raise ``ValueError`` naming the first observed tensor whose calibrated range is not finite or
    exceeds :data:`MAX_ACTIVATION` in magnitude."""
    graph = prepared.observed
    for node in graph.graph.nodes:
        module = graph.get_submodule(node.target) if node.op == 'call_module' else None
        if module is None or not is_activation_observer(module) or module.min_val.numel() == 0:
            continue
        low, high = module.min_val.item(), module.max_val.item()
        if not (math.isfinite(low) and math.isfinite(high)) or max(-low, high) > MAX_ACTIVATION:
            source = node.args[0]
            name = source.target if source.op == 'call_module' else source.name
            raise ValueError(f'the activations of {name} reach [{low:.3g}, {high:.3g}] in calibration: too large '
                             f'for INT8 (limit {MAX_ACTIVATION:.0e}); is the float model trained (its BatchNorm '
                             'statistics)?')


def convert_model(prepared: PreparedModel) -> DeployedModel:
    """Convert the calibrated graph of ``prepared`` (left unchanged) to INT8 and wrap it.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedModel`.

    Returns:
        The INT8 deployed model (eval mode, ``quantized`` is true); ``predict`` works as the
        float model's.

    Raises:
        ValueError: A calibrated activation range is not finite or beyond :data:`MAX_ACTIVATION`.
    """
    check_activation_ranges(prepared)
    graph = convert_graph(prepared.observed, prepared.config.backend)
    return prepared.adapter.wrap(prepared.model, graph, prepared.config.backend, prepared.summary())
