"""Plain (non-branching) layers: ``ConvBNAct`` and the re-parameterization protocol.

Provenance: the deploy/``reparam_conv``/``reparameterize()`` vocabulary follows timm's
``RepVggBlock``; BN folding is Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018, Sec. 3.2.
"""
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor, nn

from ...registry import register_model
from .fusion import KernelBias, fuse_bn_module


def build_act(act_cfg: Optional[dict]) -> nn.Module:
    """A fresh activation module (never shared), ``nn.Identity`` for ``act_cfg=None``."""
    if act_cfg is None:
        return nn.Identity()
    return build_activation_layer(dict(act_cfg))


def build_norm(norm_cfg: dict, channels: int) -> nn.Module:
    """A fresh normalization layer from an mmcv ``norm_cfg`` (``BN``, ``SyncBN``, ...)."""
    return build_norm_layer(dict(norm_cfg), channels)[1]


class RepModule(nn.Module):
    """Base of every module that has a training form and a fused deploy form.

    Subclasses build either their training branches (``deploy=False``) or a single
    ``reparam_conv`` (``deploy=True``), implement :meth:`fused_kernel_bias` and list the
    attribute names of their training branches in ``_branch_names``.
    """

    _branch_names: Tuple[str, ...] = ()

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 groups: int, deploy: bool) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'in_channels ({in_channels}) and out_channels ({out_channels}) '
                             f'must be divisible by groups ({groups})')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups = groups
        self.deploy = deploy
        self.reparam_conv: Optional[nn.Conv2d] = self._make_conv(bias=True) if deploy else None

    def _make_conv(self, bias: bool, kernel_size: Optional[int] = None) -> nn.Conv2d:
        k = self.kernel_size if kernel_size is None else kernel_size
        return nn.Conv2d(self.in_channels, self.out_channels, k, self.stride, k // 2,
                         groups=self.groups, bias=bias)

    def fused_kernel_bias(self) -> KernelBias:
        """The ``(kernel, bias)`` of the single conv this module is equivalent to (in eval mode).

        Valid in both forms, so a parent that contains this module as a branch fuses correctly
        whether or not this module was re-parameterized first.
        """
        if self.deploy:
            return self.reparam_conv.weight, self.reparam_conv.bias
        return self._branches_kernel_bias()

    def _branches_kernel_bias(self) -> KernelBias:
        raise NotImplementedError

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fuse every training branch into ``reparam_conv`` and delete the branches.

        Idempotent: a module already in deploy form is left as it is. The fused conv takes the
        dtype and device of the weights it is computed from.
        """
        if self.deploy:
            return
        kernel, bias = self._branches_kernel_bias()
        conv = self._make_conv(bias=True).to(device=kernel.device, dtype=kernel.dtype)
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
        for name in self._branch_names:
            delattr(self, name)
        self.reparam_conv = conv
        self.deploy = True


@register_model
class ConvBNAct(RepModule):
    """Conv (no bias) -> norm -> activation; re-parameterizes by folding the norm into the conv.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd kernel size; padding is ``kernel_size // 2``.
        stride: Convolution stride.
        groups: Convolution groups.
        norm_cfg: mmcv norm config (``BN``, ``SyncBN``, ...).
        act_cfg: mmcv activation config, ``None`` for none.
        deploy: Build the fused form (``reparam_conv`` + activation) directly.
    """

    _branch_names = ('conv', 'bn')

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'), deploy: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups, deploy)
        if not deploy:
            self.conv = self._make_conv(bias=False)
            self.bn = build_norm(norm_cfg, out_channels)
        self.act = build_act(act_cfg)

    def _branches_kernel_bias(self) -> KernelBias:
        return fuse_bn_module(self.conv.weight, self.conv.bias, self.bn)

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.act(self.reparam_conv(x))
        return self.act(self.bn(self.conv(x)))
