"""``--method repapq``: QPRep affine layers, AdaRound weights and activation scales tuned group by group.

Checks that the tunable graph equals the fused FP32 path and the round-to-nearest simulation
before tuning (QPRep is an identity until tuned), that the affine folds back into one conv exactly,
that reconstruction lowers every group's output error and the model's, reproducibly for a seed,
and that the tuned model converts to INT8 as a calibrated one does.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils._pytree import tree_leaves

from qarep_det.quantization import (QuantConfig, ReconstructionConfig, calibrate, check_activation_ranges,
                                    convert_model, layer_groups, output_sqnr, prepare_model, reconstruct,
                                    simulate_model)
from qarep_det.quantization.observers import FixedActivationObserver, FixedWeightObserver
from qarep_det.quantization.reconstruct import QPRepConv, reconstruction_graph, stage_of

FAST = dict(iters=30, batch_size=4, groups=6)


def _prepared(model, batches, **config):
    prepared = prepare_model(model, batches[0], QuantConfig(**config))
    calibrate(prepared, batches, progress=False)
    return prepared


def _set(graph, name, value):
    for m in graph.modules():
        if hasattr(m, name):
            setattr(m, name, value)


def _max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(tree_leaves(a), tree_leaves(b)))


@pytest.fixture(scope='module')
def w4a8(yolov6_model, calibration_batches):
    return _prepared(yolov6_model, calibration_batches, weight_bits=4, activation_bits=8)


def test_before_tuning_qprep_is_the_fused_model_and_round_to_nearest(w4a8, test_images) -> None:
    graph, tunables = reconstruction_graph(w4a8)
    assert sum(isinstance(m, QPRepConv) for m in tunables.values()) > 40
    with torch.no_grad():
        _set(graph, 'quantize', False)  # affine at identity, float weights: the fused FP32 path
        assert _max_diff(graph(test_images), w4a8.float_path(test_images)) == 0
        _set(graph, 'quantize', True)
        _set(graph, 'hard', True)  # hard rounding at the start: round to nearest, as the simulation
        assert _max_diff(graph(test_images), simulate_model(w4a8).tensor_path.graph(test_images)) == 0


def test_the_affine_folds_into_one_conv_exactly(w4a8, test_images) -> None:
    graph, tunables = reconstruction_graph(w4a8)
    name = 'backbone.stages.1.1.0.reparam_conv'
    layer = tunables[name]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        layer.eta.copy_(torch.empty_like(layer.eta).uniform_(-1.5, 1.5, generator=generator))
        layer.epsilon.normal_(generator=generator)
        layer.rounding.normal_(generator=generator)
    layer.hard = True
    x = torch.rand(2, layer.weight.shape[1], 12, 12, generator=generator)
    weight, bias, scale = layer.folded()
    observer = FixedWeightObserver(scale, layer.quant_min, layer.quant_max)
    s, z = observer.calculate_qparams()
    requantized = torch.fake_quantize_per_channel_affine(weight, s, z.int(), 0, layer.quant_min, layer.quant_max)
    assert torch.equal(requantized, weight)  # the folded weights sit on the grid of |eta| * s
    integers = (weight / scale.view(-1, 1, 1, 1)).round()
    assert integers.abs().max() <= layer.quant_max and torch.equal(integers.abs(), layer.integer_weight().abs())
    with torch.no_grad():
        folded = F.relu(F.conv2d(x, weight, bias, layer.stride, layer.padding))
        assert torch.allclose(layer(x), folded, atol=1e-6)


def test_stage_groups_follow_the_names(w4a8) -> None:
    assert stage_of('backbone.stages.2.1.0.reparam_conv') == 'backbone.stages.2'
    assert stage_of('backbone.stem.reparam_conv') == 'backbone.stem'
    assert stage_of('decode_head.conv_seg') == 'decode_head'
    groups = layer_groups(w4a8.quantized_layers, 'stage')
    assert [len(g) for g in groups[:5]] == [1, 3, 5, 7, 10]  # stem, then the four backbone stages
    assert groups[3][0] == 'backbone.stages.2.0.reparam_conv' and sum(map(len, groups)) == len(w4a8.quantized_layers)
    assert [len(g) for g in layer_groups(w4a8.quantized_layers[:10], 4)] == [4, 4, 2]


@pytest.mark.parametrize('kwargs, message', [
    (dict(loss='l1'), "unknown reconstruction loss 'l1': choose one of mae, mse"),
    (dict(groups=0), "groups must be 'stage' or a positive whole number, got 0"),
    (dict(groups='block'), "groups must be 'stage' or a positive whole number, got 'block'"),
    (dict(batch_size=0), 'batch_size must be a whole number >= 1, got 0'),
])
def test_bad_recipes_are_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        ReconstructionConfig(**kwargs)


def test_reconstruction_lowers_the_group_errors_reproducibly(yolov6_model, calibration_batches, test_images) -> None:
    results, outputs = [], []
    for _ in range(2):
        prepared = _prepared(yolov6_model, calibration_batches, weight_bits=4, activation_bits=8)
        rtn = output_sqnr(prepared, simulate_model(prepared), [test_images])['all']
        results.append(reconstruct(prepared, calibration_batches, ReconstructionConfig(**FAST), progress=False))
        simulated = simulate_model(prepared)
        outputs.append(simulated.tensor_path.graph(test_images))
    report = results[0]
    assert report['images'] == 8 and len(report['groups']) == -(-len(prepared.quantized_layers) // 6)
    before = [g['error_before'] for g in report['groups']]
    after = [g['error_after'] for g in report['groups']]
    assert all(a <= b * 1.001 for a, b in zip(after, before)), (before, after)
    assert sum(after) < 0.85 * sum(before)
    assert output_sqnr(prepared, simulated, [test_images])['all'] > rtn + 2  # the whole model, on other images
    assert [g['error_after'] for g in results[1]['groups']] == after
    assert _max_diff(outputs[0], outputs[1]) == 0  # the same seed, the same model


def test_the_mse_loss_and_rounding_only_variant_run(w4a8, calibration_batches) -> None:
    prepared = copy.deepcopy(w4a8)
    report = reconstruct(prepared, calibration_batches, ReconstructionConfig(loss='mse', qprep=False, iters=5,
                                                                             groups='stage'), progress=False)
    assert report['config']['loss'] == 'mse' and not report['config']['qprep']
    assert len(report['groups']) == len(layer_groups(prepared.quantized_layers, 'stage'))


def test_a_reconstructed_model_converts_to_int8(yolov6_model, calibration_batches, test_images) -> None:
    prepared = _prepared(yolov6_model, calibration_batches)
    reconstruct(prepared, calibration_batches, ReconstructionConfig(iters=10, groups=12), progress=False)
    observers = [m for m in prepared.observed.modules() if isinstance(m, FixedActivationObserver)]
    fixed = [n for n in prepared.quantized_layers
             if isinstance(prepared.observed.get_submodule(n).qconfig.weight(), FixedWeightObserver)]
    assert len(observers) > 40 and set(prepared.quantized_layers) - set(fixed) == set(
        prepared.per_tensor_weight_layers)  # all but the transposed convs (not tuned) carry their tuned scales
    check_activation_ranges(prepared)
    int8 = convert_model(prepared)
    simulated = simulate_model(prepared)
    with torch.no_grad():
        real, fake = int8(test_images, mode='tensor'), simulated(test_images, mode='tensor')
    signal = sum(r.pow(2).sum() for r in tree_leaves(real))
    noise = sum((r - f).pow(2).sum() for r, f in zip(tree_leaves(real), tree_leaves(fake)))
    assert 10 * torch.log10(signal / noise) > 30  # the tuned parameters carried into the INT8 kernels
