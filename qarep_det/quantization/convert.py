"""Deployed models: a tensor path (fused FP32, or INT8) in front of the task's float post-processing.

``convert_model`` turns a calibrated :class:`~.prepare.PreparedModel` into its INT8 deployed
model; ``deploy_fused`` turns a float model into its fused FP32 one. The task's adapter
(:mod:`.adapters`) wraps the tensor path: a detector's head decodes and runs NMS, a segmentor's
post-processing resizes and takes the argmax, exactly as the float model's ``predict`` does.
Both run NHWC (channels_last), the layout the CPU kernels compute in (oneDNN for float convs;
FBGEMM, oneDNN and QNNPACK for quantized ones): the fused FP32 YOLOv6-N/S run 1.26x / 1.14x
faster in it than in NCHW (``benchmarks/quantization_latency.py``) and the first quantized conv
skips a reorder.

Provenance: INT8 inference as Jacob et al., CVPR 2018, Sec. 2; the fused network is RepVGG's
deploy form (Ding et al., CVPR 2021, Sec. 3.3).
"""
from torch import nn

from ..reparam import reparameterize_model
from ._backend import convert_graph
from .adapters import adapter_for
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


def convert_model(prepared: PreparedModel) -> DeployedModel:
    """Convert the calibrated graph of ``prepared`` (left unchanged) to INT8 and wrap it.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedModel`.

    Returns:
        The INT8 deployed model (eval mode, ``quantized`` is true); ``predict`` works as the
        float model's.
    """
    graph = convert_graph(prepared.observed, prepared.config.backend)
    return prepared.adapter.wrap(prepared.model, graph, prepared.config.backend, prepared.summary())
