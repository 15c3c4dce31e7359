"""Pure functions for structural re-parameterization.

Every function here maps tensors to tensors: no module state, no hidden order between steps.
A branch of a rep block is turned into a ``(kernel, bias)`` pair of a ``k x k`` convolution; the
pairs of parallel branches add; a BatchNorm that follows a sum is folded into the summed pair with
:func:`fuse_bn` exactly like a BatchNorm that follows a single convolution.

Provenance: Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021, Sec. 3.3
(branch fusion); Chu et al., "Make RepVGG Greater Again", AAAI 2024, Sec. 4 (post-sum BN).

Kernels follow ``nn.Conv2d``: shape ``(out_channels, in_channels // groups, k, k)``.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

KernelBias = Tuple[Tensor, Tensor]


def fuse_bn(kernel: Tensor,
            bias: Optional[Tensor],
            running_mean: Tensor,
            running_var: Tensor,
            weight: Optional[Tensor],
            beta: Optional[Tensor],
            eps: float) -> KernelBias:
    """Fold ``BN(conv(x, kernel) + bias)`` (BN in inference form) into one convolution.

    Args:
        kernel: Convolution kernel, ``(C_out, C_in // groups, k, k)``.
        bias: Convolution bias ``(C_out,)`` or ``None`` for no bias.
        running_mean: BN running mean ``(C_out,)``.
        running_var: BN running variance ``(C_out,)``.
        weight: BN scale ``gamma`` ``(C_out,)``, ``None`` for a non-affine BN.
        beta: BN shift ``(C_out,)``, ``None`` for a non-affine BN.
        eps: BN epsilon.

    Returns:
        The fused ``(kernel, bias)``; the bias is always a tensor.
    """
    scale = torch.rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    if bias is None:
        bias = torch.zeros_like(running_mean)
    fused_bias = (bias - running_mean) * scale
    if beta is not None:
        fused_bias = fused_bias + beta
    return kernel * scale.reshape(-1, 1, 1, 1), fused_bias


def fuse_bn_module(kernel: Tensor, bias: Optional[Tensor], bn: nn.modules.batchnorm._BatchNorm) -> KernelBias:
    """:func:`fuse_bn` with the statistics and affine parameters read from a BN module.

    Raises:
        ValueError: If ``bn`` keeps no running statistics (nothing to fold).
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f'{type(bn).__name__} has no running statistics (track_running_stats=False): '
                         'it cannot be folded into a convolution')
    return fuse_bn(kernel, bias, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)


def pad_kernel(kernel: Tensor, kernel_size: int) -> Tensor:
    """Zero-pad a smaller odd kernel (e.g. 1x1) to ``kernel_size`` around its centre.

    Equivalent only when the small branch uses padding ``small // 2`` and the big one
    ``kernel_size // 2``, which is how every rep block here is built.
    """
    small = kernel.shape[-1]
    if small > kernel_size or (kernel_size - small) % 2:
        raise ValueError(f'cannot centre a {small}x{small} kernel in {kernel_size}x{kernel_size}')
    p = (kernel_size - small) // 2
    return nn.functional.pad(kernel, [p, p, p, p])


def _diagonal_index(channels: int, groups: int) -> Tuple[Tensor, Tensor]:
    """Output channel ``i`` reads input channel ``i`` which sits at ``i % (channels // groups)`` of its group."""
    out_idx = torch.arange(channels)
    return out_idx, out_idx % (channels // groups)


def identity_kernel(channels: int, groups: int, kernel_size: int,
                    dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None) -> Tensor:
    """The ``k x k`` (grouped) convolution kernel that computes the identity."""
    if channels % groups:
        raise ValueError(f'channels ({channels}) must be divisible by groups ({groups})')
    kernel = torch.zeros(channels, channels // groups, kernel_size, kernel_size, dtype=dtype, device=device)
    out_idx, in_idx = _diagonal_index(channels, groups)
    kernel[out_idx, in_idx, kernel_size // 2, kernel_size // 2] = 1
    return kernel


def avg_pool_kernel(channels: int, groups: int, pool_size: int, kernel_size: int,
                    dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None) -> Tensor:
    """The ``k x k`` kernel of ``AvgPool2d(pool_size, padding=pool_size // 2, count_include_pad=True)``.

    The pool averages each channel on its own, so the kernel is "diagonal" in channels with
    ``1 / pool_size**2`` over the centred ``pool_size x pool_size`` window.
    """
    if channels % groups:
        raise ValueError(f'channels ({channels}) must be divisible by groups ({groups})')
    window = torch.zeros(kernel_size, kernel_size, dtype=dtype, device=device)
    p = (kernel_size - pool_size) // 2
    window[p:p + pool_size, p:p + pool_size] = 1.0 / pool_size ** 2
    kernel = torch.zeros(channels, channels // groups, kernel_size, kernel_size, dtype=dtype, device=device)
    out_idx, in_idx = _diagonal_index(channels, groups)
    kernel[out_idx, in_idx] = window
    return kernel
