"""Bit widths below 8 (``QuantConfig(weight_bits, activation_bits)``) and their simulation in float.

Checks the integer ranges each width takes, that the simulated 8/8 model follows the real INT8
one, that narrower widths lose more (and weights land on 2^b - 1 levels), that the diagnostics and
the sensitivity run on a simulated model, and the one-line errors of bad widths.
"""
import pytest
import torch
from torch.ao.quantization.observer import PerChannelMinMaxObserver

from qarep_det.quantization import (QuantConfig, build_qconfig_mapping, calibrate, layer_sensitivity, layer_sqnr,
                                    output_sqnr, prepare_model, simulate_model)
from qarep_det.quantization.simulate import FakeQuantize


def _prepared(model, batches, **config):
    prepared = prepare_model(model, batches[0], QuantConfig(**config))
    calibrate(prepared, batches, progress=False)
    return prepared


@pytest.mark.parametrize('wbits,abits,weights,activations', [(8, 8, (-127, 127), (0, 255)),
                                                             (6, 6, (-31, 31), (0, 63)), (4, 8, (-7, 7), (0, 255))])
def test_each_width_takes_its_integer_ranges(wbits, abits, weights, activations) -> None:
    config = QuantConfig(weight_bits=wbits, activation_bits=abits)
    qconfig = build_qconfig_mapping(weight_bits=wbits, activation_bits=abits).global_qconfig
    weight, activation = qconfig.weight(), qconfig.activation()
    assert isinstance(weight, PerChannelMinMaxObserver)
    assert (weight.quant_min, weight.quant_max) == weights
    assert (activation.quant_min, activation.quant_max) == activations
    described = config.to_dict()
    assert described['weights']['quant_range'] == list(weights)
    assert described['activations']['quant_range'] == list(activations)
    assert described['simulated'] == (not config.integer_kernels) == ((wbits, abits) != (8, 8))
    assert config.name == ('int8' if (wbits, abits) == (8, 8) else f'w{wbits}a{abits}')
    assert QuantConfig(activation_bits=6, reduce_range=True).to_dict()['activations']['quant_range'] == [0, 31]


@pytest.mark.parametrize('bits', [1, 9, 3.0, '8'])
def test_widths_outside_2_to_8_are_refused(bits) -> None:
    with pytest.raises(ValueError, match=r'weight_bits must be a whole number from 2 to 8, got'):
        QuantConfig(weight_bits=bits)
    with pytest.raises(ValueError, match=r'activation_bits must be a whole number from 2 to 8, got'):
        QuantConfig(activation_bits=bits)


def test_simulated_8_bit_model_follows_the_int8_one(prepared, quantized, test_images) -> None:
    simulated = simulate_model(prepared)
    assert not simulated.quantized and simulated.info['simulated'] and simulated.info['graph'] == 'int8_simulated'
    assert any(isinstance(m, FakeQuantize) for m in simulated.tensor_path.graph.modules())
    with torch.no_grad():
        real = quantized(test_images, mode='tensor')
        fake = simulated(test_images, mode='tensor')
    signal = sum(r.pow(2).sum() for r in real[0] + real[1])
    noise = sum((r - f).pow(2).sum() for r, f in zip(real[0] + real[1], fake[0] + fake[1]))
    assert 10 * torch.log10(signal / noise) > 30  # the same quantizers; only the kernels' rounding differs
    assert output_sqnr(prepared, simulated, [test_images])['all'] == pytest.approx(
        output_sqnr(prepared, quantized, [test_images])['all'], abs=1.0)


def test_narrower_widths_lose_more_and_weights_take_their_levels(yolov6_model, calibration_batches,
                                                                 test_images) -> None:
    sqnr = {}
    for wbits, abits in ((8, 8), (6, 6), (4, 8)):
        prepared = _prepared(yolov6_model, calibration_batches, weight_bits=wbits, activation_bits=abits)
        simulated = simulate_model(prepared)
        sqnr[(wbits, abits)] = output_sqnr(prepared, simulated, [test_images])['all']
        name = prepared.quantized_layers[3]
        weight = simulated.tensor_path.graph.get_submodule(name)
        weight = (weight[0] if isinstance(weight, torch.nn.Sequential) else weight).weight
        levels = max(len(torch.unique(channel)) for channel in weight.flatten(1))
        assert levels <= 2 ** wbits - 1  # symmetric: -(2^(b-1) - 1) .. 2^(b-1) - 1
        layers = layer_sqnr(prepared, simulated, [test_images])
        assert list(layers) == prepared.layer_names and all(v == v for v in layers.values())
    print(sqnr)
    assert sqnr[(8, 8)] > sqnr[(6, 6)] + 6 and sqnr[(8, 8)] > sqnr[(4, 8)] + 6


def test_sensitivity_quantizes_each_layer_at_the_configured_width(yolov6_model, calibration_batches,
                                                                   test_images) -> None:
    tables = {bits: layer_sensitivity(_prepared(yolov6_model, calibration_batches, weight_bits=bits), [test_images])
              for bits in (8, 4)}
    eight, four = ({r['layer']: r['sqnr_db'] for r in tables[b]} for b in (8, 4))
    assert eight.keys() == four.keys()
    assert sum(four.values()) < sum(eight.values()) - 6 * len(eight)  # about 6 dB per bit, 4 bits less
