"""Re-parameterizable VGG blocks: ``RepVGGBlock``, ``QARepVGGBlock``, ``QARepVGGBlockV2``.

Provenance: Ding et al., "RepVGG", CVPR 2021, Sec. 3 (``RepVGGBlock``); Chu et al.,
"Make RepVGG Greater Again: A Quantization-aware Approach", AAAI 2024, Sec. 4 (``QARepVGGBlock``:
the 1x1 and identity branches lose their BN, one BN follows the sum); YOLOv6 v3.0
(Li et al., 2023), ``QARepVGGBlockV2`` training mode (an extra 3x3 average-pool branch).

All three fuse, post-sum BN included, into one ``k x k`` conv with bias (``reparam_conv``)
followed by the activation.
"""
from typing import Optional

from torch import Tensor, nn

from ...registry import register_model
from .conv import ConvBNAct, RepModule, build_act, build_norm
from .fusion import KernelBias, avg_pool_kernel, fuse_bn_module, identity_kernel, pad_kernel


@register_model
class RepVGGBlock(RepModule):
    """RepVGG block: ``act(BN(conv_kxk(x)) + BN(conv_1x1(x)) + BN(x))``.

    The identity branch exists when ``in_channels == out_channels`` and ``stride == 1``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd kernel size of the main branch (3 in every published model).
        stride: Stride of all branches.
        groups: Groups of the conv branches.
        act_cfg: mmcv activation config applied after the sum, ``None`` for none.
        deploy: Build the fused form directly (loads a fused ``state_dict``).
        norm_cfg: mmcv norm config of every BN (``SyncBN`` for multi-GPU training).
    """

    _branch_names = ('conv_kxk', 'conv_1x1', 'identity')

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, act_cfg: Optional[dict] = dict(type='ReLU'), deploy: bool = False,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups, deploy)
        self.has_identity = in_channels == out_channels and stride == 1
        if not deploy:
            self.conv_kxk = ConvBNAct(in_channels, out_channels, kernel_size, stride, groups, norm_cfg, act_cfg=None)
            self.conv_1x1 = ConvBNAct(in_channels, out_channels, 1, stride, groups, norm_cfg, act_cfg=None)
            self.identity = build_norm(norm_cfg, in_channels) if self.has_identity else None
        self.act = build_act(act_cfg)

    def _branches_kernel_bias(self) -> KernelBias:
        kernel, bias = self.conv_kxk.fused_kernel_bias()
        kernel_1x1, bias_1x1 = self.conv_1x1.fused_kernel_bias()
        kernel = kernel + pad_kernel(kernel_1x1, self.kernel_size)
        bias = bias + bias_1x1
        if self.identity is not None:
            eye = identity_kernel(self.in_channels, self.groups, self.kernel_size, kernel.dtype, kernel.device)
            kernel_id, bias_id = fuse_bn_module(eye, None, self.identity)
            kernel, bias = kernel + kernel_id, bias + bias_id
        return kernel, bias

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.act(self.reparam_conv(x))
        out = self.conv_kxk(x) + self.conv_1x1(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return self.act(out)


@register_model
class QARepVGGBlock(RepModule):
    """QARepVGG block: ``act(BN(BN(conv_kxk(x)) + conv_1x1(x) + x))``.

    The 1x1 conv has neither BN nor bias; the identity (when ``in_channels == out_channels`` and
    ``stride == 1``) has no BN; a single BN follows the sum. Arguments as :class:`RepVGGBlock`.
    """

    _branch_names = ('conv_kxk', 'conv_1x1', 'identity', 'bn')

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, act_cfg: Optional[dict] = dict(type='ReLU'), deploy: bool = False,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups, deploy)
        self.has_identity = in_channels == out_channels and stride == 1
        if not deploy:
            self.conv_kxk = ConvBNAct(in_channels, out_channels, kernel_size, stride, groups, norm_cfg, act_cfg=None)
            self.conv_1x1 = self._make_conv(bias=False, kernel_size=1)
            self.identity = nn.Identity() if self.has_identity else None
            self.bn = build_norm(norm_cfg, out_channels)
        self.act = build_act(act_cfg)

    def _sum_kernel_bias(self) -> KernelBias:
        """``(kernel, bias)`` of the branch sum, before the post-sum BN."""
        kernel, bias = self.conv_kxk.fused_kernel_bias()
        kernel = kernel + pad_kernel(self.conv_1x1.weight, self.kernel_size)
        if self.identity is not None:
            kernel = kernel + identity_kernel(self.in_channels, self.groups, self.kernel_size,
                                              kernel.dtype, kernel.device)
        return kernel, bias

    def _branches_kernel_bias(self) -> KernelBias:
        kernel, bias = self._sum_kernel_bias()
        return fuse_bn_module(kernel, bias, self.bn)

    def _branch_sum(self, x: Tensor) -> Tensor:
        out = self.conv_kxk(x) + self.conv_1x1(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        if self.deploy:
            return self.act(self.reparam_conv(x))
        return self.act(self.bn(self._branch_sum(x)))


@register_model
class QARepVGGBlockV2(QARepVGGBlock):
    """:class:`QARepVGGBlock` plus a ``k x k`` average-pool branch (YOLOv6 v3.0 ``qarepvggv2``).

    The pool exists, as the identity does, only when ``in_channels == out_channels`` and
    ``stride == 1`` (as YOLOv6 v3.0's ``QARepVGGBlockV2``). It has no parameters and folds into the single conv.
    Arguments as :class:`RepVGGBlock`.
    """

    _branch_names = QARepVGGBlock._branch_names + ('avg_pool',)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, act_cfg: Optional[dict] = dict(type='ReLU'), deploy: bool = False,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups, act_cfg, deploy, norm_cfg)
        self.has_avg_pool = in_channels == out_channels and stride == 1
        if not deploy:
            self.avg_pool = (nn.AvgPool2d(kernel_size, stride, kernel_size // 2, count_include_pad=True)
                             if self.has_avg_pool else None)

    def _sum_kernel_bias(self) -> KernelBias:
        kernel, bias = super()._sum_kernel_bias()
        if self.avg_pool is not None:
            kernel = kernel + avg_pool_kernel(self.in_channels, self.groups, self.kernel_size, self.kernel_size,
                                              kernel.dtype, kernel.device)
        return kernel, bias

    def _branch_sum(self, x: Tensor) -> Tensor:
        out = super()._branch_sum(x)
        if self.avg_pool is not None:
            out = out + self.avg_pool(x)
        return out
