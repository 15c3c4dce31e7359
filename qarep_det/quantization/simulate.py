"""Quantization simulated in float (fake quantization), for bit widths without integer kernels.

``simulate_model`` turns a calibrated :class:`~.prepare.PreparedModel` into a deployed model whose
tensor path is the fused float graph with every calibrated quantizer applied as
quantize-dequantize: each quantized layer's weights through its qconfig's weight observer (per
output channel, or per tensor for transposed convs) and each observed activation with the scale,
zero point and integer range calibration gave it. At 8/8 it follows the INT8 model (the same
parameters; the integer kernels round the accumulator once more), below 8 bits it is the only
way to evaluate. Layers kept in float stay float, as in the INT8 model.

Provenance: fake quantization as in Jacob et al., CVPR 2018, Sec. 3 (simulated quantization
``q(r) = round(clamp(r) / s) * s``); Nagel et al., "A White Paper on Neural Network
Quantization", 2021, Sec. 2.3 (simulating lower bit widths in float).
"""
import copy
from typing import Tuple

import torch
from torch import Tensor, nn
from torch.ao.quantization.observer import ObserverBase

from ._backend import float_conv
from .modules import DeployedModel
from .prepare import PreparedModel

QParams = Tuple[float, int, int, int]
"""scale, zero point, quant_min, quant_max of a per-tensor quantizer."""


def observer_qparams(observer: nn.Module) -> QParams:
    """The calibrated per-tensor parameters of an activation observer."""
    scale, zero_point = observer.calculate_qparams()
    return float(scale.reshape(-1)[0]), int(zero_point.reshape(-1)[0]), observer.quant_min, observer.quant_max


def fake_quantize(x: Tensor, qparams: QParams) -> Tensor:
    """``x`` through quantize-dequantize with per-tensor ``qparams``."""
    return torch.fake_quantize_per_tensor_affine(x, *qparams)


def weight_observer(layer: nn.Module) -> ObserverBase:
    """The weight observer of a (fused) layer's qconfig, having observed the layer's weights."""
    observer = layer.qconfig.weight()
    observer(float_conv(layer).weight.detach())
    return observer


def fake_quantized_weight(layer: nn.Module) -> Tensor:
    """The weight of a (fused) layer of a prepared graph through quantize-dequantize with its qconfig's
    weight observer (its bit width, per channel or per tensor)."""
    conv = float_conv(layer)
    observer = weight_observer(layer)
    scale, zero_point = observer.calculate_qparams()
    if observer.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine):
        return torch.fake_quantize_per_channel_affine(conv.weight.detach(), scale, zero_point.to(torch.int32),
                                                      observer.ch_axis, observer.quant_min, observer.quant_max)
    return torch.fake_quantize_per_tensor_affine(conv.weight.detach(), scale.item(), int(zero_point.item()),
                                                 observer.quant_min, observer.quant_max)


class FakeQuantize(nn.Module):
    """Fixed per-tensor quantize-dequantize (what a calibrated observer stands for).

    Args:
        qparams: ``(scale, zero_point, quant_min, quant_max)``.
    """

    def __init__(self, qparams: QParams) -> None:
        super().__init__()
        self.scale, self.zero_point, self.quant_min, self.quant_max = qparams

    def forward(self, x: Tensor) -> Tensor:
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, self.quant_min, self.quant_max)

    def extra_repr(self) -> str:
        return f'scale={self.scale:.4g}, zero_point={self.zero_point}, range=[{self.quant_min}, {self.quant_max}]'


@torch.no_grad()
def simulate_model(prepared: PreparedModel) -> DeployedModel:
    """The calibrated ``prepared`` (left unchanged) as a fake-quantized float model.

    Returns:
        A deployed model (``quantized`` false, ``info['simulated']`` true and the bit widths):
        ``predict`` and ``mode='tensor'`` work as the float model's; not for saving.
    """
    graph = copy.deepcopy(prepared.observed)
    qparams = {}
    for node in graph.graph.nodes:  # by node: an observer shared by several tensors (cat inputs) has several names
        module = graph.get_submodule(node.target) if node.op == 'call_module' else None
        if isinstance(module, ObserverBase):  # one quantizer per name, so diagnostics can hook each tensor
            graph.set_submodule(node.target, FakeQuantize(qparams.setdefault(id(module), observer_qparams(module))))
    for name in prepared.quantized_layers:
        layer = graph.get_submodule(name)
        float_conv(layer).weight.copy_(fake_quantized_weight(layer))
    config = prepared.config
    info = dict(prepared.summary(), graph=f'{config.name}_simulated', simulated=True,
                weight_bits=config.weight_bits, activation_bits=config.activation_bits)
    return prepared.adapter.wrap(prepared.model, graph, None, info)
