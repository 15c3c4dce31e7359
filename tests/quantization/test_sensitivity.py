"""One-layer-at-a-time sensitivity and the auto:K choice of layers kept in float.

The ranking is checked on a layer made sensitive on purpose: one channel of the stem's output
scaled up 1000x and the next layer's weights for that channel scaled down as much. The float
network computes the same function (ReLU is positively homogeneous), but the per-tensor uint8
range of that tensor now spans the big channel and rounds every other channel to zero, the
failure mode of fused RepVGG activations (Chu et al., AAAI 2024, Sec. 3; the range imbalance that
cross-layer equalization removes, Nagel et al., ICCV 2019, Sec. 4.1).
"""
import pytest
import torch

from qarep_det import reparameterize_model
from qarep_det.quantization import (QuantConfig, auto_skip_layers, calibrate, layer_sensitivity, output_sqnr,
                                    prepare_model)

STEM, NEXT = 'backbone.stem.reparam_conv', 'backbone.stages.0.0.reparam_conv'


@pytest.fixture(scope='module')
def images(test_images):
    return test_images[:1, :, :64, :64]


@pytest.fixture(scope='module')
def table(prepared, images):
    return layer_sensitivity(prepared, [images])


def test_one_entry_per_quantized_layer_sorted_and_consistent(prepared, quantized, images, table) -> None:
    assert sorted(r['layer'] for r in table) == sorted(prepared.quantized_layers)
    values = [r['sqnr_db'] for r in table]
    assert values == sorted(values)
    # one INT8 layer costs less than all of them together
    assert values[0] > output_sqnr(prepared, quantized, [images])['all']
    assert values[-1] < 300.0  # every layer, head layers included, changes the outputs
    assert auto_skip_layers(table, 3) == [r['layer'] for r in table[:3]]
    assert auto_skip_layers(list(reversed(table)), 2) == [r['layer'] for r in table[:2]]
    assert auto_skip_layers(table, 0) == []
    with pytest.raises(ValueError, match='k must be >= 0'):
        auto_skip_layers(table, -1)


def test_selected_layers_only(prepared, images, table) -> None:
    layers = ['neck.top_down_fusions.0.upsample', 'bbox_head.head_module.reg_preds.2']
    selected = layer_sensitivity(prepared, [images], layers=layers)
    everything = {r['layer']: r['sqnr_db'] for r in table}
    assert {r['layer']: r['sqnr_db'] for r in selected} == pytest.approx({name: everything[name] for name in layers})


@torch.no_grad()
def test_a_layer_with_an_outlier_channel_ranks_first(yolov6_model, calibration_batches, images, table) -> None:
    model = reparameterize_model(yolov6_model)
    stem, following = model.get_submodule(STEM), model.get_submodule(NEXT)
    reference = model(images, mode='tensor')
    stem.weight[3] *= 1000
    stem.bias[3] *= 1000
    following.weight[:, 3] /= 1000
    for before, after in zip(reference, model(images, mode='tensor')):  # the same float network
        for a, b in zip(before, after):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    prepared = prepare_model(model, calibration_batches[0], QuantConfig(observer='minmax'))
    calibrate(prepared, calibration_batches, progress=False)

    outlier_table = layer_sensitivity(prepared, [images])
    outlier = {r['layer']: r['sqnr_db'] for r in outlier_table}
    # The stem's output and the next layer's input share the crushed range: both lose everything
    # but one channel, far below any other layer (about 5 dB against 30 dB and more).
    assert set(auto_skip_layers(outlier_table, 2)) == {STEM, NEXT} and max(outlier[STEM], outlier[NEXT]) < 10
    assert outlier_table[2]['sqnr_db'] > max(outlier[STEM], outlier[NEXT]) + 20
    plain = {r['layer']: r['sqnr_db'] for r in table}
    assert min(plain[STEM], plain[NEXT]) > 30
    # every other layer sees the same float network and ranges: its sensitivity is unchanged
    others = [name for name in plain if name not in (STEM, NEXT)]
    assert [outlier[n] for n in others] == pytest.approx([plain[n] for n in others], abs=0.05)
