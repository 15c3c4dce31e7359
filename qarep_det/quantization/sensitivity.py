"""Per-layer quantization sensitivity: quantize one layer, keep the rest float, measure the output.

Quantizing a layer is simulated in float on the fused FP32 graph (fake quantization with the
calibrated parameters): its weights with its qconfig's weight observer, its input and output
with the observers calibration filled. One forward per layer and batch, no re-conversion.

Provenance: one-layer-at-a-time sensitivity analysis as in Wu et al., "Integer Quantization for
Deep Learning Inference: Principles and Empirical Evaluation", arXiv:2004.09602, 2020, Sec. 5
(partial quantization: leave the most sensitive layers in float).
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.fx import GraphModule, Node

from ._backend import float_conv, is_activation_observer, without_observers
from .diagnostics import NoisePower, flatten_outputs
from .prepare import PreparedModel
from .simulate import fake_quantize, fake_quantized_weight, observer_qparams

def _layer_observers(observed: GraphModule) -> Dict[str, Tuple[Optional[str], Optional[str]]]:
    """Layer name -> (observer of its input, observer of its output), ``None`` where there is none."""

    def observer(node: Node) -> Optional[str]:
        is_obs = node.op == 'call_module' and is_activation_observer(observed.get_submodule(node.target))
        return node.target if is_obs else None

    result = {}
    for node in observed.graph.nodes:
        if node.op == 'call_module' and not observer(node):
            outputs = [observer(user) for user in node.users if observer(user)]
            result[node.target] = (observer(node.args[0]) if isinstance(node.args[0], Node) else None,
                                   outputs[0] if outputs else None)
    return result


@torch.no_grad()
def layer_sensitivity(prepared: PreparedModel, batches: Iterable[Union[Tensor, dict]],
                      layers: Optional[Sequence[str]] = None) -> List[dict]:
    """Output SQNR of the tensor path when only one layer is quantized, for each layer.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedModel`.
        batches: Images (tensors or dataloader batches); a few suffice.
        layers: Layers to test, default every quantized layer (``prepared.quantized_layers``).

    Returns:
        ``[{'layer': name, 'sqnr_db': dB}, ...]`` sorted from the most sensitive (lowest SQNR) up.
    """
    layers = list(prepared.quantized_layers if layers is None else layers)
    graph = without_observers(prepared.observed)
    observers = _layer_observers(prepared.observed)
    qparams = {name: observer_qparams(prepared.observed.get_submodule(name))
               for pair in observers.values() for name in pair if name is not None}
    images = [prepared.images(batch) for batch in batches]
    references = [flatten_outputs(prepared.float_tail(graph(x))) for x in images]
    results = []
    for name in layers:
        layer = graph.get_submodule(name)
        conv = float_conv(layer)
        original = conv.weight.detach().clone()
        conv.weight.copy_(fake_quantized_weight(layer))
        input_obs, output_obs = observers[name]
        handles = []
        if input_obs is not None:
            handles.append(layer.register_forward_pre_hook(
                lambda module, args, q=qparams[input_obs]: (fake_quantize(args[0], q),) + tuple(args[1:])))
        if output_obs is not None:
            handles.append(layer.register_forward_hook(
                lambda module, args, output, q=qparams[output_obs]: fake_quantize(output, q)))
        meter = NoisePower()
        try:
            for x, reference in zip(images, references):
                meter.add(reference, flatten_outputs(prepared.float_tail(graph(x))))
        finally:
            for handle in handles:
                handle.remove()
            conv.weight.copy_(original)
        results.append(dict(layer=name, sqnr_db=meter.db()))
    return sorted(results, key=lambda r: r['sqnr_db'])


def auto_skip_layers(sensitivity: Sequence[dict], k: int) -> List[str]:
    """Names of the ``k`` most sensitive layers (lowest SQNR) of a :func:`layer_sensitivity` table."""
    if k < 0:
        raise ValueError(f'k must be >= 0, got {k}')
    return [r['layer'] for r in sorted(sensitivity, key=lambda r: r['sqnr_db'])[:k]]
