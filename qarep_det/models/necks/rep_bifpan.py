"""YOLOv6 v3.0 necks with Bi-directional Concatenation: ``RepBiFPANNeck``, ``CSPRepBiFPANNeck``.

Provenance: Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023, Sec. 2.1 (the BiC module
fuses the upsampled coarser feature with the backbone features of the same and of the next finer
level in the top-down path; the rest is Rep-PAN, Li et al. 2022, Sec. 2.1).
"""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ...registry import register_model
from ..layers.conv import ConvBNAct
from ..layers.csp_layers import YOLOV6_NORM_CFG
from .rep_pan import CSPStageMixin, RepPANNeck


class BiFusion(nn.Module):
    """BiC: ``fuse_conv(cat(upsample(coarse), lateral_conv(same), downsample(finer_conv(finer))))``.

    Args:
        same_channels: Width of the backbone feature of this level.
        finer_channels: Width of the backbone feature one level finer (twice the resolution).
        out_channels: Output width, also the width of the coarser (already reduced) input.
        norm_cfg: Norm config of the convs.
        act_cfg: Activation of the convs.
    """

    def __init__(self, same_channels: int, finer_channels: int, out_channels: int,
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.lateral_conv = ConvBNAct(same_channels, out_channels, 1, **conv)
        self.finer_conv = ConvBNAct(finer_channels, out_channels, 1, **conv)
        self.fuse_conv = ConvBNAct(3 * out_channels, out_channels, 1, **conv)
        self.upsample = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=2, stride=2, bias=True)
        self.downsample = ConvBNAct(out_channels, out_channels, 3, stride=2, **conv)

    def forward(self, coarse: Tensor, same: Tensor, finer: Tensor) -> Tensor:
        # coarse (B, C, H/2, W/2), same (B, C_same, H, W), finer (B, C_finer, 2H, 2W) -> 3 x (B, C, H, W)
        feats = (self.upsample(coarse), self.lateral_conv(same), self.downsample(self.finer_conv(finer)))
        # cat -> (B, 3C, H, W) -> (B, C, H, W)
        return self.fuse_conv(torch.cat(feats, dim=1))


@register_model
class RepBiFPANNeck(RepPANNeck):
    """Rep-PAN whose top-down fusions are :class:`BiFusion` (YOLOv6 v3.0 N/S).

    Takes one extra, finer backbone feature: with ``L = len(out_channels)`` it takes ``L + 1``
    features (P2..P5 for ``L = 3``) and returns ``L`` (P3..P5). The finest input only feeds the
    BiC of the finest output level. Other arguments as :class:`RepPANNeck`.

    Args:
        in_channels: Unscaled widths of the ``L + 1`` backbone features (finest first).
    """

    def __init__(self, in_channels: Sequence[int] = (128, 256, 512, 1024),
                 out_channels: Sequence[int] = (128, 256, 512), num_blocks: int = 12, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, block_cfg: dict = dict(type='RepVGGBlock'),
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_channels, out_channels, num_blocks, deepen_factor, widen_factor, block_cfg, norm_cfg,
                         act_cfg, init_cfg)

    def _check_in_channels(self, in_channels: Sequence[int]) -> None:
        if len(in_channels) != self.num_levels + 1:
            raise ValueError(f'{type(self).__name__} takes one extra finer input: got {len(in_channels)} '
                             f'in_channels for {self.num_levels} out_channels')

    def build_top_down_fusion(self, level: int) -> nn.Module:
        # in_channels[level + 1] is this level's backbone feature, in_channels[level] the finer one
        return BiFusion(self.in_channels[level + 1], self.in_channels[level], self.out_channels[level],
                        norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def top_down_fused_channels(self, level: int) -> int:
        return self.out_channels[level]

    def fuse_top_down(self, k: int, reduced: Tensor, inputs: Sequence[Tensor], level: int) -> Tensor:
        return self.top_down_fusions[k](reduced, inputs[level + 1], inputs[level])


@register_model
class CSPRepBiFPANNeck(CSPStageMixin, RepBiFPANNeck):
    """:class:`RepBiFPANNeck` with ``BepC3`` stages (YOLOv6 v3.0 M/L). Other arguments as the parent.

    Args:
        csp_e: Hidden width ratio of every ``BepC3`` (M: 2/3, L: 1/2).
        csp_act_cfg: Activation of the ``BepC3`` ``1x1`` convs (SiLU in YOLOv6-L; the reduce,
            downsample and BiC convs keep ``act_cfg``, ReLU in every official model).
    """

    def __init__(self, in_channels: Sequence[int] = (128, 256, 512, 1024),
                 out_channels: Sequence[int] = (128, 256, 512), num_blocks: int = 12, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, csp_e: float = 0.5, block_cfg: dict = dict(type='RepVGGBlock'),
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU'),
                 csp_act_cfg: Optional[dict] = dict(type='ReLU'), init_cfg: Optional[dict] = None) -> None:
        self.csp_e = csp_e
        self.csp_act_cfg = csp_act_cfg
        super().__init__(in_channels, out_channels, num_blocks, deepen_factor, widen_factor, block_cfg, norm_cfg,
                         act_cfg, init_cfg)
