"""The pure fusion functions against the modules they stand for."""
import pytest
import torch
from torch import nn

from qarep_det.models.layers import avg_pool_kernel, fuse_bn, fuse_bn_module, identity_kernel, pad_kernel
from testing_utils import randomize_bn, relative_error


@pytest.mark.parametrize('groups', [1, 4])
@pytest.mark.parametrize('bias', [False, True])
def test_fuse_bn_matches_conv_then_bn(groups: int, bias: bool) -> None:
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(8, 12, 3, 2, 1, groups=groups, bias=bias).double()
    bn = randomize_bn(nn.BatchNorm2d(12).double(), g).eval()
    x = torch.randn(2, 8, 9, 7, dtype=torch.float64, generator=g)
    kernel, fused_bias = fuse_bn_module(conv.weight, conv.bias, bn)
    out = nn.functional.conv2d(x, kernel, fused_bias, 2, 1, groups=groups)
    assert relative_error(out, bn(conv(x))) < 1e-12


def test_fuse_bn_non_affine() -> None:
    bn = nn.BatchNorm2d(4, affine=False).double().eval()
    bn.running_mean.fill_(2.0)
    bn.running_var.fill_(4.0 - bn.eps)
    kernel, bias = fuse_bn(torch.ones(4, 1, 1, 1, dtype=torch.float64), None, bn.running_mean, bn.running_var,
                           None, None, bn.eps)
    assert torch.allclose(kernel, torch.full_like(kernel, 0.5))
    assert torch.allclose(bias, torch.full_like(bias, -1.0))


def test_fuse_bn_without_running_stats_is_refused() -> None:
    bn = nn.BatchNorm2d(4, track_running_stats=False)
    with pytest.raises(ValueError, match='no running statistics'):
        fuse_bn_module(torch.ones(4, 4, 1, 1), None, bn)


def test_pad_kernel_centres_1x1() -> None:
    k = torch.arange(6.0).reshape(2, 3, 1, 1)
    padded = pad_kernel(k, 5)
    assert padded.shape == (2, 3, 5, 5)
    assert torch.equal(padded[:, :, 2, 2], k[:, :, 0, 0])
    assert padded.abs().sum() == k.abs().sum()
    with pytest.raises(ValueError, match='cannot centre'):
        pad_kernel(torch.ones(1, 1, 3, 3), 4)


@pytest.mark.parametrize('groups', [1, 2, 8])
def test_identity_kernel_is_identity(groups: int) -> None:
    x = torch.randn(2, 8, 6, 5, dtype=torch.float64)
    kernel = identity_kernel(8, groups, 3, torch.float64)
    assert kernel.shape == (8, 8 // groups, 3, 3)
    assert torch.equal(nn.functional.conv2d(x, kernel, padding=1, groups=groups), x)


@pytest.mark.parametrize('groups', [1, 4])
@pytest.mark.parametrize('stride', [1, 2])
def test_avg_pool_kernel_matches_avg_pool(groups: int, stride: int) -> None:
    x = torch.randn(2, 8, 7, 6, dtype=torch.float64)
    kernel = avg_pool_kernel(8, groups, 3, 3, torch.float64)
    expected = nn.AvgPool2d(3, stride, 1, count_include_pad=True)(x)
    assert relative_error(nn.functional.conv2d(x, kernel, stride=stride, padding=1, groups=groups), expected) < 1e-13
    # A 3x3 pool inside a 5x5 kernel (padding 2) is the same operator.
    big = avg_pool_kernel(8, groups, 3, 5, torch.float64)
    assert relative_error(nn.functional.conv2d(x, big, stride=stride, padding=2, groups=groups), expected) < 1e-13


def test_kernels_reject_indivisible_groups() -> None:
    with pytest.raises(ValueError, match='divisible by groups'):
        identity_kernel(6, 4, 3)
    with pytest.raises(ValueError, match='divisible by groups'):
        avg_pool_kernel(6, 4, 3, 3)
