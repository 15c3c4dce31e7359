"""Diagnostics: fused-weight outliers (RepVGG vs QARepVGG), activation ranges, PNG figures."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det import reparameterize_model
from qarep_det.quantization import (activation_ranges, layer_sqnr, plot_activation_ranges, plot_layer_sqnr,
                                    plot_sensitivity, plot_weight_stats, weight_stats)

from ptq_testing import tiny_yolov6


@torch.no_grad()
def trained_like_bn(model: torch.nn.Module) -> torch.nn.Module:
    """BN running variances log-uniform over three decades, as trained BNs spread them
    (near-dead channels have tiny variance); small running means. The same draws for every model."""
    generator = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_var.copy_(10 ** (-3 * torch.rand(m.num_features, generator=generator)))
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=generator))
    return model.eval()


def fused_backbone_neck_stats(block: str) -> dict:
    torch.manual_seed(0)
    model = reparameterize_model(trained_like_bn(tiny_yolov6(block)))
    return weight_stats(torch.nn.ModuleDict(dict(backbone=model.backbone, neck=model.neck)))


def test_repvgg_fuses_to_larger_weight_outliers_than_qarepvgg(tmp_path) -> None:
    repvgg, qarep = fused_backbone_neck_stats('RepVGGBlock'), fused_backbone_neck_stats('QARepVGGBlockV2')
    assert repvgg['summary']['num_layers'] == qarep['summary']['num_layers'] == 56
    # identity/1x1 BNs divide by their own small std in RepVGG; QARepVGG shares one BN after the sum
    assert repvgg['summary']['max_abs_over_std']['max'] > 2.5 * qarep['summary']['max_abs_over_std']['max']
    assert repvgg['summary']['max_abs_over_std']['median'] > 2 * qarep['summary']['max_abs_over_std']['median']
    assert plot_weight_stats(dict(RepVGG=repvgg, QARepVGG=qarep), tmp_path / 'w.png').stat().st_size > 10_000


def test_weight_stats_keys_and_bounds(prepared) -> None:
    stats = weight_stats(prepared.float_path)
    assert set(stats) == {'layers', 'summary'}
    assert sorted(stats['layers']) == sorted(prepared.layer_names)
    assert set(stats['summary']) == {'num_layers', 'max_abs_over_std', 'channel_max_abs_over_std', 'kurtosis'}
    assert set(stats['summary']['kurtosis']) == {'median', 'max', 'argmax'}
    for layer in stats['layers'].values():
        assert set(layer) == {'shape', 'min', 'max', 'std', 'kurtosis', 'max_abs_over_std',
                              'channel_max_abs_over_std'}
        assert layer['min'] < layer['max'] and layer['std'] > 0
        assert layer['kurtosis'] >= 1.0 and layer['max_abs_over_std'] >= 1.0  # true of any distribution
        assert layer['channel_max_abs_over_std']['max'] >= layer['channel_max_abs_over_std']['median'] >= 1.0


def test_activation_ranges(prepared, tmp_path) -> None:
    ranges = activation_ranges(prepared)
    assert next(iter(ranges)) == 'images'  # the graph input comes first
    assert 0.99 < ranges['images']['max'] <= 1.0 and ranges['images']['range_min'] == 0.0
    assert 'backbone.stem.reparam_conv' in ranges and 'bbox_head.head_module.cls_preds.0' in ranges
    for r in ranges.values():
        assert set(r) == {'observer', 'min', 'max', 'range_min', 'range_max', 'scale', 'zero_point', 'kept'}
        assert r['range_min'] <= 0 <= r['range_max'] and r['min'] <= r['max']
        assert r['kept'] == pytest.approx(1.0, abs=0.01)  # minmax keeps the seen range (up to zero-point rounding)
        assert r['scale'] == pytest.approx((r['range_max'] - r['range_min']) / 255)
    assert plot_activation_ranges(ranges, tmp_path / 'a.png').stat().st_size > 10_000


def test_figures_of_sqnr_and_sensitivity(prepared, quantized, test_images, tmp_path) -> None:
    sqnr = layer_sqnr(prepared, quantized, [test_images])
    path = plot_layer_sqnr(dict(minmax=sqnr), tmp_path / 'sub' / 's.png')
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    table = [dict(layer=n, sqnr_db=v) for n, v in sqnr.items()]
    assert plot_sensitivity(table, tmp_path / 'sens.png', top=10).stat().st_size > 5_000
