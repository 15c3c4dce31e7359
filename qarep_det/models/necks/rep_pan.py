"""Rep-PAN necks of YOLOv6: ``RepPANNeck`` (rep-block stages) and ``CSPRepPANNeck`` (``BepC3``).

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2.1 (Rep-PAN: PAN topology of Liu et al., CVPR 2018, with RepBlock or
CSPStackRep stages, transposed-conv upsampling).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import register_model
from ..layers.conv import ConvBNAct
from ..layers.csp_layers import YOLOV6_NORM_CFG, BepC3, RepStage, scale_depth, scale_width


@register_model
class RepPANNeck(BaseModule):
    """Rep-PAN: a top-down path (1x1 reduce, 2x transposed-conv upsample, concat, stage) then a
    bottom-up path (3x3 stride-2 conv, concat with the reduced feature, stage).

    With ``L = len(out_channels)`` levels (finest first), ``forward`` takes ``L`` backbone
    features and returns ``L`` features of widths ``out_channels`` at the input strides. Widths
    and block counts are unscaled (YOLOv6-L) values scaled by ``widen_factor``/``deepen_factor``.

    Args:
        in_channels: Unscaled widths of the backbone features (finest first).
        out_channels: Unscaled output widths; ``out_channels[i]`` is also the width of the
            top-down feature reduced from level ``i + 1``.
        num_blocks: Unscaled number of blocks of every stage.
        deepen_factor: Depth multiplier.
        widen_factor: Width multiplier.
        block_cfg: Config of every stage block, e.g. ``dict(type='QARepVGGBlockV2')``.
        norm_cfg: Norm config of every layer (blocks included unless ``block_cfg`` sets one).
        act_cfg: Activation of the reduce and downsample convs.
        init_cfg: mmengine initialization config.
    """

    def __init__(self, in_channels: Sequence[int] = (256, 512, 1024), out_channels: Sequence[int] = (128, 256, 512),
                 num_blocks: int = 12, deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 block_cfg: dict = dict(type='RepVGGBlock'), norm_cfg: dict = YOLOV6_NORM_CFG,
                 act_cfg: Optional[dict] = dict(type='ReLU'), init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_levels = len(out_channels)
        self._check_in_channels(in_channels)
        self.in_channels = tuple(scale_width(c, widen_factor) for c in in_channels)
        self.out_channels = tuple(scale_width(c, widen_factor) for c in out_channels)
        self.num_blocks = scale_depth(num_blocks, deepen_factor)
        self.block_cfg = dict(block_cfg)
        self.norm_cfg = dict(norm_cfg)
        self.act_cfg = act_cfg
        out = self.out_channels
        top_down_levels = range(self.num_levels - 1, 0, -1)  # coarsest first; module k <-> level L-1-k

        self.reduce_layers = nn.ModuleList(
            self._conv(self.in_channels[-1] if level == self.num_levels - 1 else out[level], out[level - 1], 1)
            for level in top_down_levels)
        self.top_down_fusions = nn.ModuleList(self.build_top_down_fusion(level - 1) for level in top_down_levels)
        self.top_down_layers = nn.ModuleList(
            self.build_stage_layer(self.top_down_fused_channels(level - 1), out[level - 1])
            for level in top_down_levels)
        self.downsample_layers = nn.ModuleList(
            self._conv(out[level], out[level], 3, stride=2) for level in range(self.num_levels - 1))
        self.bottom_up_layers = nn.ModuleList(
            self.build_stage_layer(2 * out[level], out[level + 1]) for level in range(self.num_levels - 1))

    def _check_in_channels(self, in_channels: Sequence[int]) -> None:
        if len(in_channels) != self.num_levels:
            raise ValueError(f'{type(self).__name__} takes one input per output level: got {len(in_channels)} '
                             f'in_channels for {self.num_levels} out_channels')

    def _conv(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> ConvBNAct:
        return ConvBNAct(in_channels, out_channels, kernel_size, stride, norm_cfg=self.norm_cfg,
                         act_cfg=self.act_cfg)

    def build_stage_layer(self, in_channels: int, out_channels: int) -> nn.Module:
        """One stage of either path (a :class:`RepStage` here)."""
        return RepStage(in_channels, out_channels, self.num_blocks, self.block_cfg, norm_cfg=self.norm_cfg)

    def build_top_down_fusion(self, level: int) -> nn.Module:
        """The module that brings the reduced coarser feature to ``level`` (a 2x upsample here)."""
        channels = self.out_channels[level]
        return nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2, bias=True)

    def top_down_fused_channels(self, level: int) -> int:
        """Width of the fused top-down input at ``level`` (upsampled + backbone feature)."""
        return self.out_channels[level] + self.in_channels[level]

    def fuse_top_down(self, k: int, reduced: Tensor, inputs: Sequence[Tensor], level: int) -> Tensor:
        """Fuse the reduced coarser feature with the backbone feature(s) of ``level``."""
        # (B, C_out[level], H/2, W/2) -> (B, C_out[level], H, W); cat -> (B, C_out + C_in[level], H, W)
        return torch.cat((self.top_down_fusions[k](reduced), inputs[level]), dim=1)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone features (finest first) -> ``num_levels`` fused features (finest first)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} inputs, got {len(inputs)}')
        feat = inputs[-1]
        reduced: List[Tensor] = []  # reduced[i]: top-down feature reduced from level i + 1
        for k, level in enumerate(range(self.num_levels - 1, 0, -1)):
            feat = self.reduce_layers[k](feat)
            reduced.insert(0, feat)
            feat = self.top_down_layers[k](self.fuse_top_down(k, feat, inputs, level - 1))
        outs = [feat]
        for level in range(self.num_levels - 1):
            down = self.downsample_layers[level](outs[-1])
            # 2 x (B, C_out[level], H, W) -> (B, 2 * C_out[level], H, W) -> (B, C_out[level + 1], H, W)
            outs.append(self.bottom_up_layers[level](torch.cat((down, reduced[level]), dim=1)))
        return tuple(outs)


class CSPStageMixin:
    """Makes every stage of a Rep-PAN neck a ``BepC3`` (CSPStackRep) block.

    The class using it sets ``csp_e`` and ``csp_act_cfg`` before building its layers.
    """

    csp_e: float
    csp_act_cfg: Optional[dict]

    def build_stage_layer(self, in_channels: int, out_channels: int) -> nn.Module:
        return BepC3(in_channels, out_channels, self.num_blocks, self.csp_e, self.block_cfg,
                     norm_cfg=self.norm_cfg, act_cfg=self.csp_act_cfg)


@register_model
class CSPRepPANNeck(CSPStageMixin, RepPANNeck):
    """:class:`RepPANNeck` with ``BepC3`` stages (YOLOv6 v2 M/L). Other arguments as the parent.

    Args:
        csp_e: Hidden width ratio of every ``BepC3``.
        csp_act_cfg: Activation of the ``BepC3`` ``1x1`` convs (SiLU in YOLOv6-L; the reduce and
            downsample convs keep ``act_cfg``, ReLU in every official model).
    """

    def __init__(self, in_channels: Sequence[int] = (256, 512, 1024), out_channels: Sequence[int] = (128, 256, 512),
                 num_blocks: int = 12, deepen_factor: float = 1.0, widen_factor: float = 1.0, csp_e: float = 0.5,
                 block_cfg: dict = dict(type='RepVGGBlock'), norm_cfg: dict = YOLOV6_NORM_CFG,
                 act_cfg: Optional[dict] = dict(type='ReLU'), csp_act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        self.csp_e = csp_e
        self.csp_act_cfg = csp_act_cfg
        super().__init__(in_channels, out_channels, num_blocks, deepen_factor, widen_factor, block_cfg, norm_cfg,
                         act_cfg, init_cfg)
