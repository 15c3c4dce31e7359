"""Diagnostics: fused-weight outliers (RepVGG vs QARepVGG), activation ranges, and the PNG figures,
checked on the data they draw (the figure's artists) and on the decoded image, not on file sizes."""
import math
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det import reparameterize_model
from qarep_det.quantization import (activation_ranges, layer_sqnr, plot_activation_ranges, plot_layer_sqnr,
                                    plot_sensitivity, plot_weight_stats, weight_stats)

from ptq_testing import tiny_yolov6

DPI = 120  # plots.py saves at 120 dpi, without cropping: the pixel size is figsize x 120
BLUE, ORANGE, GREY = to_rgb('tab:blue'), to_rgb('tab:orange'), to_rgb('0.75')


def pixels(path: Path) -> np.ndarray:
    """The decoded PNG as ``(H, W, 3)`` floats in [0, 1]."""
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    return imread(path)[..., :3]


def colour_mask(image: np.ndarray, colour: Tuple[float, float, float], tol: float = 0.02) -> np.ndarray:
    """``(H, W)`` bool: the pixels drawn in ``colour`` (antialiased edges excluded)."""
    return np.abs(image - np.array(colour)).max(-1) < tol


def runs(flags: np.ndarray) -> List[Tuple[int, int]]:
    """``[start, stop)`` of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))


@pytest.fixture
def figures(monkeypatch) -> List[Figure]:
    """The figures the plot functions save (they keep no reference to them), in order."""
    saved = []
    savefig = Figure.savefig

    def spy(fig: Figure, *args, **kwargs) -> None:
        saved.append(fig)
        savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, 'savefig', spy)
    return saved


def not_blank(image: np.ndarray) -> None:
    """Drawn content (text, axes, data) covers a real part of the canvas, and the canvas is not one colour."""
    assert 0.01 < (image.min(-1) < 0.9).mean() < 0.9


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


def test_repvgg_fuses_to_larger_weight_outliers_than_qarepvgg(figures, tmp_path) -> None:
    repvgg, qarep = fused_backbone_neck_stats('RepVGGBlock'), fused_backbone_neck_stats('QARepVGGBlockV2')
    assert repvgg['summary']['num_layers'] == qarep['summary']['num_layers'] == 56
    # identity/1x1 BNs divide by their own small std in RepVGG; QARepVGG shares one BN after the sum
    assert repvgg['summary']['max_abs_over_std']['max'] > 2.5 * qarep['summary']['max_abs_over_std']['max']
    assert repvgg['summary']['max_abs_over_std']['median'] > 2 * qarep['summary']['max_abs_over_std']['median']

    image = pixels(plot_weight_stats(dict(RepVGG=repvgg, QARepVGG=qarep), tmp_path / 'w.png'))
    tensor_axes, channel_axes = figures[0].axes
    for axes, value in ((tensor_axes, lambda s: s['max_abs_over_std']),
                        (channel_axes, lambda s: s['channel_max_abs_over_std']['max'])):
        assert [line.get_label() for line in axes.lines] == ['RepVGG', 'QARepVGG']
        for line, stats in zip(axes.lines, (repvgg, qarep)):
            assert list(line.get_ydata()) == [value(s) for s in stats['layers'].values()]
    assert image.shape[:2] == (6 * DPI, 10 * DPI)
    not_blank(image)
    height = image.shape[0]
    for top, bottom in ((0, height // 2), (height // 2, height)):  # tensor panel, worst-channel panel
        rows_blue = np.nonzero(colour_mask(image[top:bottom], BLUE))[0]
        rows_orange = np.nonzero(colour_mask(image[top:bottom], ORANGE))[0]
        assert len(rows_blue) > 500 and len(rows_orange) > 500  # a line of 56 points per model
        # RepVGG (first line, blue) lies above QARepVGG (orange): larger ratios on the log axis
        assert np.median(rows_blue) < np.median(rows_orange)


def test_weight_stats_of_known_kernels() -> None:
    """Hand-computed values; the transposed conv's output channels are its weight's axis 1."""
    module = nn.ModuleDict(dict(conv=nn.Conv2d(4, 1, 1, bias=False), conv2=nn.Conv2d(4, 2, 1, bias=False),
                                up=nn.ConvTranspose2d(2, 1, 2, bias=False)))
    with torch.no_grad():
        module['conv'].weight.copy_(torch.tensor([-2., 0., 0., 2.]).reshape(1, 4, 1, 1))
        module['conv2'].weight.copy_(torch.tensor([[-1., 1., -1., 1.], [-4., 0., 0., 4.]]).reshape(2, 4, 1, 1))
        module['up'].weight.copy_(torch.tensor([[-1., 1., -1., 1.], [-3., 0., 0., 3.]]).reshape(2, 1, 2, 2))
    stats = weight_stats(module)
    conv, conv2, up = (stats['layers'][n] for n in ('conv', 'conv2', 'up'))
    assert (conv['shape'], conv['min'], conv['max']) == ([1, 4, 1, 1], -2.0, 2.0)
    assert conv['std'] == pytest.approx(math.sqrt(2)) and conv['kurtosis'] == pytest.approx(2.0)
    assert conv['max_abs_over_std'] == pytest.approx(math.sqrt(2))
    # conv2: flat variance 36 / 8; channels [-1, 1, -1, 1] (ratio 1) and [-4, 0, 0, 4] (ratio 4 / sqrt(8))
    assert conv2['std'] == pytest.approx(math.sqrt(4.5)) and conv2['kurtosis'] == pytest.approx(64.5 / 4.5 ** 2)
    assert conv2['max_abs_over_std'] == pytest.approx(4 / math.sqrt(4.5))
    assert conv2['channel_max_abs_over_std'] == pytest.approx(dict(max=math.sqrt(2), median=1.0))  # lower median
    # up: one output channel holding all 8 values (per input channel it would be 1 and sqrt(2))
    assert up['max_abs_over_std'] == pytest.approx(3 / math.sqrt(2.75))
    assert up['channel_max_abs_over_std'] == pytest.approx(dict(max=3 / math.sqrt(2.75), median=3 / math.sqrt(2.75)))
    summary = stats['summary']
    assert summary['num_layers'] == 3
    assert summary['max_abs_over_std'] == pytest.approx(dict(median=3 / math.sqrt(2.75), max=4 / math.sqrt(4.5),
                                                            argmax='conv2'))
    assert summary['channel_max_abs_over_std'] == pytest.approx(dict(median=math.sqrt(2), max=3 / math.sqrt(2.75),
                                                                    argmax='up'))
    assert summary['kurtosis'] == pytest.approx(dict(median=20.75 / 2.75 ** 2, max=64.5 / 4.5 ** 2, argmax='conv2'))


def test_weight_stats_of_the_prepared_path_match_its_weights(prepared) -> None:
    stats = weight_stats(prepared.float_path)
    modules = dict(prepared.float_path.named_modules())
    assert sorted(stats['layers']) == sorted(prepared.layer_names)
    for name, layer in stats['layers'].items():
        weight = modules[name].weight.detach().double().flatten()
        std = weight.std(unbiased=False).item()
        assert layer['shape'] == list(modules[name].weight.shape)
        assert (layer['min'], layer['max']) == pytest.approx((weight.min().item(), weight.max().item()))
        assert layer['std'] == pytest.approx(std, rel=1e-5)
        assert layer['max_abs_over_std'] == pytest.approx(weight.abs().max().item() / std, rel=1e-5)
        assert layer['kurtosis'] == pytest.approx(((weight - weight.mean()) ** 4).mean().item() / std ** 4, rel=1e-4)


def test_activation_ranges(prepared, figures, tmp_path) -> None:
    ranges = activation_ranges(prepared)
    assert next(iter(ranges)) == 'images'  # the graph input comes first
    assert 0.99 < ranges['images']['max'] <= 1.0 and ranges['images']['range_min'] == 0.0
    assert 'backbone.stem.reparam_conv' in ranges and 'bbox_head.head_module.cls_preds.0' in ranges
    for r in ranges.values():
        assert set(r) == {'observer', 'min', 'max', 'range_min', 'range_max', 'scale', 'zero_point', 'kept'}
        assert r['range_min'] <= 0 <= r['range_max'] and r['min'] <= r['max']
        assert r['kept'] == pytest.approx(1.0, abs=0.01)  # minmax keeps the seen range (up to zero-point rounding)
        assert r['scale'] == pytest.approx((r['range_max'] - r['range_min']) / 255)

    image = pixels(plot_activation_ranges(ranges, tmp_path / 'a.png'))
    axes = figures[0].axes[0]
    seen, kept = axes.lines[0::2], axes.lines[1::2]  # per tensor: the seen range, then the kept one
    assert [t.get_text() for t in axes.get_yticklabels()] == list(ranges)
    assert [list(line.get_xdata()) for line in seen] == [[r['min'], r['max']] for r in ranges.values()]
    assert [list(line.get_xdata()) for line in kept] == [[r['range_min'], r['range_max']] for r in ranges.values()]
    assert [list(line.get_ydata()) for line in kept] == [[i, i] for i in range(len(ranges))]
    assert image.shape[:2] == (round(max(3.0, 0.16 * len(ranges) + 1) * DPI), 10 * DPI)
    not_blank(image)
    # one blue quantization range per tensor, on its own row, over its grey seen range
    assert len(runs(colour_mask(image, BLUE).any(1))) == len(ranges)
    assert colour_mask(image, GREY).sum() > 10 * len(ranges)


def bar_lengths(image: np.ndarray) -> np.ndarray:
    """Pixel length of each orange bar, top to bottom."""
    mask = colour_mask(image, ORANGE)
    return np.array([mask[(start + stop) // 2].sum() for start, stop in runs(mask.any(1))])


def test_figures_of_sqnr_and_sensitivity(prepared, quantized, test_images, figures, tmp_path) -> None:
    sqnr = layer_sqnr(prepared, quantized, [test_images])
    image = pixels(plot_layer_sqnr(dict(minmax=sqnr), tmp_path / 'sub' / 's.png'))
    (line,) = figures[0].axes[0].lines
    assert line.get_label() == 'minmax' and list(line.get_ydata()) == list(sqnr.values())
    assert list(line.get_xdata()) == list(range(len(sqnr)))
    assert image.shape[:2] == (4 * DPI, 10 * DPI)
    not_blank(image)
    assert colour_mask(image, BLUE).any(1).sum() > 50  # the line spans many rows: the values vary

    table = [dict(layer=n, sqnr_db=v) for n, v in sqnr.items()]
    image = pixels(plot_sensitivity(table, tmp_path / 'sens.png', top=10))
    most_sensitive = sorted(table, key=lambda r: r['sqnr_db'])[:10]
    axes = figures[1].axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == [r['layer'] for r in most_sensitive]
    assert [bar.get_width() for bar in axes.patches] == [r['sqnr_db'] for r in most_sensitive]
    assert image.shape[:2] == (3 * DPI, 8 * DPI)  # max(3, 0.18 * 10 + 1) inches high
    lengths = bar_lengths(image)
    assert len(lengths) == 10
    # what reached the PNG: bars from 0 dB, their lengths proportional to the values, to a pixel
    drawn = np.array([r['sqnr_db'] for r in most_sensitive])
    np.testing.assert_allclose(lengths / lengths[-1], drawn / drawn[-1], atol=2 / lengths[-1])
