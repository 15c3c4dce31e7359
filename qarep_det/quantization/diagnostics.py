"""Why a model does (not) quantize: weight outliers, activation ranges, per-layer SQNR.

All results are plain JSON-able dicts (floats, ints, strings, lists); :mod:`.plots` draws them.

Provenance: the outlier view (max |w| / std and kurtosis of the fused kernels) is the analysis of
Chu et al., "Make RepVGG Greater Again: A Quantization-aware Approach", AAAI 2024, Sec. 3
(fused RepVGG kernels carry large-variance outliers from the identity/1x1 branch BNs); SQNR is
the signal-to-quantization-noise ratio ``10 log10(sum x^2 / sum (x - x_q)^2)``, used per layer to
locate quantization loss as in Sheng et al., "A Quantization-Friendly Separable Convolution for
MobileNets", EMC2 workshop 2018.
"""
import contextlib
import math
from typing import Dict, Iterable, List, Sequence, Union

import torch
from torch import Tensor, nn

from ._backend import (FLOAT_LAYER_TYPES, is_activation_observer, quantized_engine, quiet_deprecations,
                       without_observers)
from .modules import DeployedModel
from .prepare import PreparedModel
from .simulate import FakeQuantize

MAX_SQNR_DB = 300.0
"""SQNR reported for identical outputs (no quantization noise)."""

Batches = Iterable[Union[Tensor, dict]]


def flatten_outputs(outputs: Union[Tensor, Sequence]) -> List[Tensor]:
    """Nested tuples / lists of tensors -> flat list, in order."""
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for item in outputs for t in flatten_outputs(item)]


class NoisePower:
    """Accumulates ``sum x^2`` and ``sum (x - x_q)^2`` over batches; :meth:`db` gives the SQNR."""

    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0

    def add(self, reference: Sequence[Tensor], approx: Sequence[Tensor]) -> None:
        for ref, out in zip(reference, approx):
            ref, out = ref.double(), out.double()
            self.signal += ref.pow(2).sum().item()
            self.noise += (out - ref).pow(2).sum().item()

    def db(self) -> float:
        if self.noise <= self.signal * 10 ** (-MAX_SQNR_DB / 10):
            return MAX_SQNR_DB
        return 10 * math.log10(self.signal / self.noise)


def _summary(values: Dict[str, float]) -> dict:
    names = list(values)
    data = torch.tensor([values[n] for n in names], dtype=torch.float64)
    return dict(median=data.median().item(), max=data.max().item(), argmax=names[int(data.argmax())])


def _layer_weight_stats(layer: nn.Module) -> dict:
    weight = layer.weight.detach().float()
    axis = 1 if isinstance(layer, nn.ConvTranspose2d) else 0  # output channels
    flat = weight.flatten()
    std = flat.std(unbiased=False).clamp_min(1e-12)
    kurtosis = ((flat - flat.mean()).pow(4).mean() / std.pow(4)).item()
    # (C_out, everything else): one row per output channel
    channels = weight.transpose(0, axis).flatten(1)
    channel_ratio = channels.abs().amax(1) / channels.std(1, unbiased=False).clamp_min(1e-12)
    return dict(shape=list(weight.shape), min=flat.min().item(), max=flat.max().item(), std=std.item(),
                kurtosis=kurtosis, max_abs_over_std=(flat.abs().max() / std).item(),
                channel_max_abs_over_std=dict(max=channel_ratio.max().item(), median=channel_ratio.median().item()))


def weight_stats(module: nn.Module) -> dict:
    """Per-layer statistics of the (fused) float weights of every conv in ``module``.

    Args:
        module: A fused model or tensor path (e.g. ``PreparedModel.float_path``).

    Returns:
        ``layers``: per conv ``shape``, ``min``, ``max``, ``std``, ``kurtosis`` (Pearson, 3 for a
        Gaussian), ``max_abs_over_std`` (whole tensor) and ``channel_max_abs_over_std``
        (``max`` / ``median`` over output channels of each channel's max |w| / std);
        ``summary``: ``num_layers`` and, for ``max_abs_over_std``, ``channel_max_abs_over_std``
        (channel max) and ``kurtosis``, the ``median``, ``max`` and ``argmax`` (layer) over layers.
    """
    layers = {n: _layer_weight_stats(m) for n, m in module.named_modules() if isinstance(m, FLOAT_LAYER_TYPES)}
    summary = dict(num_layers=len(layers),
                   max_abs_over_std=_summary({n: s['max_abs_over_std'] for n, s in layers.items()}),
                   channel_max_abs_over_std=_summary({n: s['channel_max_abs_over_std']['max']
                                                      for n, s in layers.items()}),
                   kurtosis=_summary({n: s['kurtosis'] for n, s in layers.items()}))
    return dict(layers=layers, summary=summary)


def observer_inputs(prepared: PreparedModel) -> Dict[str, str]:
    """Calibrated activation observers of the observed graph -> the tensor each one observes.

    The tensor is named by the layer producing it (e.g. ``backbone.stem.reparam_conv``) or, for
    functional ops and the graph input, by its FX node name (``cat_1``, ``mul_3``, ``images``).
    """
    graph = prepared.observed
    names = {}
    for node in graph.graph.nodes:
        if node.op == 'call_module' and is_activation_observer(graph.get_submodule(node.target)):
            source = node.args[0]
            names[node.target] = source.target if source.op == 'call_module' else source.name
    return names


def activation_ranges(prepared: PreparedModel) -> Dict[str, dict]:
    """Activation ranges seen in calibration and the ranges the observers chose.

    Returns:
        Per observed tensor (see :func:`observer_inputs`): ``observer`` (module name), ``min`` /
        ``max`` seen, ``range_min`` / ``range_max`` representable after quantization, ``scale``,
        ``zero_point`` and ``kept`` (fraction of the seen range inside the chosen one; < 1: clipped).
    """
    ranges = {}
    for observer_name, tensor_name in observer_inputs(prepared).items():
        observer = prepared.observed.get_submodule(observer_name)
        scale, zero_point = (v.item() for v in observer.calculate_qparams())
        low, high = (observer.quant_min - zero_point) * scale, (observer.quant_max - zero_point) * scale
        seen_min, seen_max = observer.min_val.item(), observer.max_val.item()
        ranges[tensor_name] = dict(observer=observer_name, min=seen_min, max=seen_max, range_min=low,
                                   range_max=high, scale=scale, zero_point=int(zero_point),
                                   kept=(min(high, seen_max) - max(low, seen_min)) / max(seen_max - seen_min, 1e-12))
    return ranges


@torch.no_grad()
def output_sqnr(prepared: PreparedModel, quantized: DeployedModel, batches: Batches) -> dict:
    """SQNR (dB) of the quantized raw outputs against FP32 over ``batches``.

    Returns:
        ``all`` (every output element) and ``per_output`` (one value per element of the output
        tuple, e.g. ``[cls_scores, bbox_preds]`` of a detector, all levels together; one value
        for a segmentor's logits).
    """
    total, per_output = NoisePower(), None
    for batch in batches:
        images = prepared.images(batch)
        reference, approx = prepared.float_forward(images), quantized(images, mode='tensor')
        if isinstance(reference, Tensor):
            reference, approx = (reference,), (approx,)
        per_output = per_output or [NoisePower() for _ in reference]
        for meter, ref, out in zip(per_output, reference, approx):
            meter.add(flatten_outputs(ref), flatten_outputs(out))
        total.add(flatten_outputs(reference), flatten_outputs(approx))
    return dict(all=total.db(), per_output=[m.db() for m in per_output])


def _output_quantizer(graph: nn.Module, name: str) -> str:
    """The fake quantizer right after layer ``name`` in a simulated graph, else ``name`` itself."""
    node = next((n for n in graph.graph.nodes if n.op == 'call_module' and n.target == name), None)
    users = list(node.users) if node is not None else []
    if len(users) == 1 and users[0].op == 'call_module' and \
            isinstance(graph.get_submodule(users[0].target), FakeQuantize):
        return users[0].target
    return name


@torch.no_grad()
def layer_sqnr(prepared: PreparedModel, quantized: DeployedModel, batches: Batches) -> Dict[str, float]:
    """SQNR (dB) of every layer's output in the INT8 graph against the fused FP32 graph.

    Each value includes the error carried in from the layers before (whole-graph quantization);
    :func:`~.sensitivity.layer_sensitivity` isolates layers instead. Needs the in-memory
    ``quantized`` (from :func:`~.convert.convert_model` or :func:`~.simulate.simulate_model`, not a
    loaded TorchScript); in a simulated graph a layer's output is taken after its output quantizer,
    as the INT8 layer outputs it.

    Returns:
        ``{layer name: dB}`` in graph order (fused conv+ReLU layers are compared after the ReLU).
    """
    graphs = dict(float=without_observers(prepared.observed), quantized=quantized.tensor_path.graph)
    captured = dict(float={}, quantized={})
    handles = []
    for kind, graph in graphs.items():
        for name in prepared.layer_names:
            def hook(module: nn.Module, args: tuple, output: Tensor, store=captured[kind], name=name) -> None:
                store[name] = output.dequantize() if output.is_quantized else output
            point = _output_quantizer(graph, name) if kind == 'quantized' else name
            handles.append(graph.get_submodule(point).register_forward_hook(hook))
    meters = {name: NoisePower() for name in prepared.layer_names}
    try:
        for batch in batches:
            images = prepared.images(batch)
            graphs['float'](images)
            with quiet_deprecations(), (quantized_engine(quantized.backend) if quantized.backend
                                        else contextlib.nullcontext()):
                graphs['quantized'](images)
            for name, meter in meters.items():
                meter.add([captured['float'][name]], [captured['quantized'][name]])
    finally:
        for handle in handles:
            handle.remove()
    return {name: meter.db() for name, meter in meters.items()}
