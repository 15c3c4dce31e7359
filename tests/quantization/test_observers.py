"""Activation observers: outlier-robust ranges, the MAE objective, and use inside torch.ao FX."""
import pytest
import torch
from torch import nn

from qarep_det.quantization import OBSERVERS, MAEObserver, PercentileObserver, activation_observer
from qarep_det.quantization._backend import convert_graph, prepare_graph
from qarep_det.quantization.qconfig import build_qconfig_mapping


def half_normal_with_outliers() -> torch.Tensor:
    """200k post-ReLU-like values (|N(0, 1)|) and 10 outliers at 60, shuffled."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=gen).abs()
    x[:10] = 60.0
    return x[torch.randperm(x.numel(), generator=gen)]


def observe(name: str, x: torch.Tensor):
    observer = activation_observer(name)()
    for chunk in x.split(50_000):  # several calibration batches
        observer(chunk)
    scale, zero_point = observer.calculate_qparams()
    return observer, scale.item(), int(zero_point.item())


def test_robust_observers_clip_outliers_and_mae_minimizes_mae() -> None:
    x = half_normal_with_outliers()
    high, mae = {}, {}
    for name in OBSERVERS:
        _, scale, zero_point = observe(name, x)
        assert zero_point == 0  # non-negative data: the range starts at 0
        high[name] = (255 - zero_point) * scale
        mae[name] = (torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0, 255) - x).abs().mean().item()
    assert high['minmax'] == pytest.approx(60.0, rel=1e-4)
    assert high['histogram'] > 50.0  # squared error keeps the outliers: clipping them costs 56^2 each
    assert 3.7 < high['percentile'] < 4.5  # 99.99th percentile of |N(0, 1)| is 3.89 (+ one 60/2048 bin)
    assert 2.5 < high['mae'] < 4.5
    assert mae['mae'] == min(mae.values())
    assert mae['mae'] < 0.15 * mae['minmax']  # 0.0063 vs 0.059


def test_observers_of_signed_data_keep_zero_and_both_tails() -> None:
    x = torch.randn(100_000, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for name in ('percentile', 'mae'):
        observer, scale, zero_point = observe(name, x)
        low, high = -zero_point * scale, (255 - zero_point) * scale
        assert x.min() <= low < 0 < high <= x.max()
        assert 0 < zero_point < 255


def test_unobserved_and_state_dict_round_trip() -> None:
    x = half_normal_with_outliers()
    for cls in (PercentileObserver, MAEObserver):
        with pytest.warns(UserWarning, match='must run observer before calling calculate_qparams'):
            assert cls().calculate_qparams()[0].item() == 1.0  # torch.ao's default before any data
        observer = cls()
        observer(x)
        clone = cls()
        clone.load_state_dict(observer.state_dict())
        assert torch.equal(torch.stack(clone.calculate_qparams()), torch.stack(observer.calculate_qparams()))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown observer 'kl'"):
        activation_observer('kl')
    with pytest.raises(ValueError, match='percentile must be in'):
        PercentileObserver(percentile=10)


@pytest.mark.parametrize('name', list(OBSERVERS))
def test_each_observer_converts_with_fx(name: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    x = torch.rand(2, 3, 16, 16)
    observed = prepare_graph(model, build_qconfig_mapping(name), (x,), 'x86')
    observed(x)
    quantized = convert_graph(observed, 'x86')
    kinds = {type(m).__name__ for m in quantized.modules()}
    assert {'ConvReLU2d', 'Conv2d'} <= kinds and 'ReLU' not in kinds
    assert not any(p.dtype.is_floating_point for p in quantized.parameters())  # weights are packed int8
    reference = model(x)
    assert (quantized(x) - reference).abs().max() < 0.05 * reference.abs().max()


def test_fx_folds_a_leftover_conv_bn_and_fuses_relu() -> None:
    """Conv-BN pairs outside the rep blocks (e.g. plain mmcv ConvModules) are folded by FX fusion."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()).eval()
    model[1].running_var.uniform_(0.5, 2.0)
    observed = prepare_graph(model, build_qconfig_mapping('minmax'), (torch.rand(1, 3, 8, 8),), 'x86')
    assert not any(isinstance(m, nn.BatchNorm2d) for m in observed.modules())
    assert [type(m).__name__ for m in observed.children()].count('ConvReLU2d') == 1
