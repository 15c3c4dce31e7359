"""The glue to torch.ao's FX graph-mode quantization: backends, prepare/convert, warnings.

Everything that depends on *how* a graph is quantized (``prepare_fx``/``convert_fx``, backend
configs, the quantized module types) lives here, so that moving to PT2E (``torchao``'s
``prepare_pt2e``/``convert_pt2e``) replaces this file and leaves the rest of the subpackage alone.

Provenance: Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018, Sec. 2 (uint8 activations, int8 weights, int32
accumulation); the FX workflow is PyTorch's ``torch.ao.quantization.quantize_fx``.
"""
import contextlib
import copy
import warnings
from typing import Iterator, Tuple

import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
from torch import nn
from torch.ao.quantization import QConfigMapping
from torch.ao.quantization.backend_config import (BackendConfig, get_native_backend_config,
                                                  get_onednn_backend_config)
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config
from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver, ObserverBase
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torch.fx import GraphModule

KNOWN_BACKENDS = ('onednn', 'qnnpack', 'x86')
"""Backends this subpackage can target (those of them torch was built with are usable)."""

FLOAT_LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d)
"""The layers that are quantized (with their fused activation) and counted as "layers"."""

QUANTIZED_LAYER_TYPES = (nnq.Conv2d, nnq.ConvTranspose2d, nniq.ConvReLU2d)
"""Quantized counterparts of :data:`FLOAT_LAYER_TYPES` after conversion."""

_DEPRECATION_MESSAGES = (
    r'torch\.ao\.quantization is deprecated',  # prepare_fx / convert_fx (torch >= 2.9)
    r'.*quantized tensor creation functions',  # quantize_per_tensor & co., raised by ATen at run time
    r'`torch\.jit\.\w+` is deprecated',  # TorchScript: the only format that keeps packed INT8 weights
)


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Silence the deprecation warnings of torch.ao and TorchScript (and only those) inside the block.

    ``torch.export`` cannot serialize torch.ao's packed INT8 weights (no ``__obj_flatten__``), so
    TorchScript stays the deployment format of an FX-quantized model until the PT2E move.
    """
    with warnings.catch_warnings():
        for message in _DEPRECATION_MESSAGES:
            warnings.filterwarnings('ignore', message=message)
        yield


def supported_backends() -> Tuple[str, ...]:
    """The backends of :data:`KNOWN_BACKENDS` that this torch build supports, sorted."""
    return tuple(b for b in KNOWN_BACKENDS if b in torch.backends.quantized.supported_engines)


def check_backend(backend: str) -> str:
    """Return ``backend`` if usable here, else raise ``ValueError`` naming the usable ones."""
    supported = supported_backends()
    if backend not in supported:
        raise ValueError(f"unsupported quantization backend '{backend}': this torch supports "
                         f"{', '.join(supported)}")
    return backend


@contextlib.contextmanager
def quantized_engine(backend: str) -> Iterator[None]:
    """Run the block with ``torch.backends.quantized.engine = backend``, then restore it."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = backend
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def backend_config(backend: str) -> BackendConfig:
    """torch.ao's pattern/dtype configuration of ``backend`` (qnnpack: the native one)."""
    configs = dict(x86=get_x86_backend_config, onednn=get_onednn_backend_config,
                   qnnpack=get_native_backend_config)
    return configs[check_backend(backend)]()


def prepare_graph(model: nn.Module, qconfig_mapping: QConfigMapping, example_inputs: tuple,
                  backend: str) -> GraphModule:
    """Trace ``model`` (eval mode), fuse conv(+BN)(+ReLU) and insert observers (``model`` is kept)."""
    with quiet_deprecations():
        return prepare_fx(copy.deepcopy(model).eval(), qconfig_mapping, example_inputs,
                          backend_config=backend_config(backend))


def convert_graph(observed: GraphModule, backend: str) -> GraphModule:
    """The INT8 graph of an observed (calibrated) graph, ``observed`` itself is kept as it is."""
    with quiet_deprecations(), quantized_engine(backend):
        return convert_fx(copy.deepcopy(observed), backend_config=backend_config(backend))


def float_conv(layer: nn.Module) -> nn.Module:
    """The conv of a float layer of a prepared graph (the first module of a fused conv+ReLU)."""
    return layer[0] if isinstance(layer, nni.ConvReLU2d) else layer


def is_activation_observer(module: nn.Module) -> bool:
    """Whether ``module`` is an observer with a calibrated range (not a fixed-range one)."""
    return isinstance(module, (MinMaxObserver, HistogramObserver))


def without_observers(observed: GraphModule) -> GraphModule:
    """A copy of a prepared graph with every observer replaced by ``nn.Identity``: the fused FP32 graph."""
    graph = copy.deepcopy(observed)
    for node in graph.graph.nodes:
        if node.op == 'call_module' and isinstance(graph.get_submodule(node.target), ObserverBase):
            setattr(graph, node.target, nn.Identity())
    return graph
