"""One-layer-at-a-time sensitivity and the auto:K choice of layers kept in float."""
import pytest

from qarep_det.quantization import auto_skip_layers, layer_sensitivity, output_sqnr


def test_one_entry_per_quantized_layer_sorted_and_consistent(prepared, quantized, test_images) -> None:
    images = test_images[:1, :, :64, :64]
    table = layer_sensitivity(prepared, [images])
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


def test_selected_layers_only(prepared, test_images) -> None:
    layers = ['neck.top_down_fusions.0.upsample', 'bbox_head.head_module.reg_preds.2']
    table = layer_sensitivity(prepared, [test_images[:1, :, :64, :64]], layers=layers)
    assert sorted(r['layer'] for r in table) == sorted(layers)
