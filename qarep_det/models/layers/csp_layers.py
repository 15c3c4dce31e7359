"""Stage-level layers shared by the YOLOv6 backbones and necks.

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2.1 (RepBlock, CSPStackRep block = ``BepC3``, SimSPPF, compound
scaling by depth and width multipliers); Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023,
Sec. 2.1 (SimCSPSPPF). SPPF itself is Jocher et al., YOLOv5 v6.0 (2021).

Every conv here is a :class:`ConvBNAct` or a block built from ``block_cfg`` through
``MODELS.build``, so :func:`qarep_det.reparameterize_model` fuses all of them.
"""
import math
from typing import Optional

import torch
from torch import Tensor, nn

from ...registry import MODELS
from .conv import ConvBNAct

YOLOV6_NORM_CFG = dict(type='BN', momentum=0.03, eps=0.001)
"""The BatchNorm settings of every official YOLOv6 model (``initialize_weights`` in YOLOv6)."""


def scale_width(channels: int, widen_factor: float, divisor: int = 8) -> int:
    """YOLOv6 width scaling: ``channels * widen_factor`` rounded *up* to a multiple of ``divisor``."""
    return math.ceil(channels * widen_factor / divisor) * divisor


def scale_depth(num_blocks: int, deepen_factor: float) -> int:
    """YOLOv6 depth scaling: stages of one block keep it, others round to at least one block."""
    if num_blocks <= 1:
        return num_blocks
    return max(round(num_blocks * deepen_factor), 1)


def build_block(block_cfg: dict, in_channels: int, out_channels: int, stride: int = 1,
                norm_cfg: Optional[dict] = None) -> nn.Module:
    """Build one ``3x3`` block (a rep block or ``ConvBNAct``) from a config, without mutating it.

    Args:
        block_cfg: Registry config, e.g. ``dict(type='QARepVGGBlockV2')`` or
            ``dict(type='ConvBNAct', act_cfg=dict(type='SiLU'))``. Its own ``kernel_size`` and
            ``norm_cfg`` win over the defaults below.
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the block.
        norm_cfg: Norm config used when ``block_cfg`` sets none.

    Returns:
        The built block.
    """
    cfg = dict(kernel_size=3)
    if norm_cfg is not None:
        cfg['norm_cfg'] = norm_cfg
    cfg.update(block_cfg)
    cfg.update(in_channels=in_channels, out_channels=out_channels, stride=stride)
    return MODELS.build(cfg)


class RepStage(nn.Sequential):
    """``RepBlock`` of YOLOv6: ``num_blocks`` blocks in a row, the first one changes the width.

    Args:
        in_channels: Input channels of the first block.
        out_channels: Output channels of every block.
        num_blocks: Number of blocks (at least one).
        block_cfg: Config of each block (see :func:`build_block`).
        norm_cfg: Norm config used when ``block_cfg`` sets none.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, block_cfg: dict,
                 norm_cfg: Optional[dict] = YOLOV6_NORM_CFG) -> None:
        if num_blocks < 1:
            raise ValueError(f'num_blocks must be >= 1, got {num_blocks}')
        super().__init__(*(build_block(block_cfg, in_channels if i == 0 else out_channels, out_channels,
                                       norm_cfg=norm_cfg) for i in range(num_blocks)))


class BottleRep(nn.Module):
    """Two blocks with a learnably scaled shortcut: ``conv2(conv1(x)) + alpha * x``.

    The shortcut (and its scalar ``alpha``, initialised to 1) exists when
    ``in_channels == out_channels``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        block_cfg: Config of both blocks (see :func:`build_block`).
        norm_cfg: Norm config used when ``block_cfg`` sets none.
    """

    def __init__(self, in_channels: int, out_channels: int, block_cfg: dict,
                 norm_cfg: Optional[dict] = YOLOV6_NORM_CFG) -> None:
        super().__init__()
        self.conv1 = build_block(block_cfg, in_channels, out_channels, norm_cfg=norm_cfg)
        self.conv2 = build_block(block_cfg, out_channels, out_channels, norm_cfg=norm_cfg)
        self.alpha = nn.Parameter(torch.ones(1)) if in_channels == out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        if self.alpha is None:
            return out
        return out + self.alpha * x


class BepC3(nn.Module):
    """CSPStackRep block: ``final_conv(cat(blocks(main_conv(x)), short_conv(x)))``.

    ``blocks`` holds ``max(num_blocks // 2, 1)`` :class:`BottleRep` (two blocks each), so
    ``num_blocks`` counts single blocks, as the YOLOv6 ``num_repeats`` do.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        num_blocks: Number of single blocks (YOLOv6 ``n``).
        expand_ratio: Hidden width ratio (YOLOv6 ``csp_e``): ``hidden = int(out_channels * e)``.
        block_cfg: Config of the blocks inside the :class:`BottleRep` s.
        norm_cfg: Norm config of the three ``1x1`` convs (and of blocks that set none).
        act_cfg: Activation of the three ``1x1`` convs.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, expand_ratio: float,
                 block_cfg: dict, norm_cfg: dict = YOLOV6_NORM_CFG,
                 act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        hidden = int(out_channels * expand_ratio)
        self.main_conv = ConvBNAct(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvBNAct(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvBNAct(2 * hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(*(BottleRep(hidden, hidden, block_cfg, norm_cfg=norm_cfg)
                                      for _ in range(max(num_blocks // 2, 1))))

    def forward(self, x: Tensor) -> Tensor:
        # (B, C_in, H, W) -> 2 x (B, hidden, H, W) -> cat (B, 2 * hidden, H, W) -> (B, C_out, H, W)
        return self.final_conv(torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1))


class SPPF(nn.Module):
    """Fast spatial pyramid pooling: three chained ``k x k`` max-pools, outputs concatenated.

    With ``act_cfg=dict(type='ReLU')`` this is YOLOv6's SimSPPF, with SiLU its SPPF.

    Args:
        in_channels: Input channels (the hidden width is ``in_channels // 2``).
        out_channels: Output channels.
        kernel_size: Max-pool size (stride 1, same padding).
        norm_cfg: Norm config of the two ``1x1`` convs.
        act_cfg: Activation of the two ``1x1`` convs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5,
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.pre_conv = ConvBNAct(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.post_conv = ConvBNAct(4 * hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pools = nn.ModuleList(nn.MaxPool2d(kernel_size, 1, kernel_size // 2) for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        feats = [self.pre_conv(x)]
        for pool in self.pools:
            feats.append(pool(feats[-1]))
        # 4 x (B, hidden, H, W) -> (B, 4 * hidden, H, W)
        return self.post_conv(torch.cat(feats, dim=1))


class CSPSPPF(nn.Module):
    """CSP version of :class:`SPPF` (YOLOv6 v3.0 SimCSPSPPF with ReLU, CSPSPPF with SiLU).

    ``final_conv(cat(short_conv(x), post_conv2(post_conv1(cat(y, pool(y), pool^2(y), pool^3(y))))))``
    with ``y = pre_conv3(pre_conv2(pre_conv1(x)))`` (1x1, 3x3, 1x1). The convs are registered in
    the official order (``cv1``..``cv7``), so parameters line up one to one with YOLOv6's.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Max-pool size (stride 1, same padding).
        expand_ratio: Hidden width ratio: ``hidden = int(out_channels * expand_ratio)``.
        norm_cfg: Norm config of every conv.
        act_cfg: Activation of every conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, expand_ratio: float = 0.5,
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        hidden = int(out_channels * expand_ratio)
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pre_conv1 = ConvBNAct(in_channels, hidden, 1, **conv)
        self.short_conv = ConvBNAct(in_channels, hidden, 1, **conv)
        self.pre_conv2 = ConvBNAct(hidden, hidden, 3, **conv)
        self.pre_conv3 = ConvBNAct(hidden, hidden, 1, **conv)
        self.pools = nn.ModuleList(nn.MaxPool2d(kernel_size, 1, kernel_size // 2) for _ in range(3))
        self.post_conv1 = ConvBNAct(4 * hidden, hidden, 1, **conv)
        self.post_conv2 = ConvBNAct(hidden, hidden, 3, **conv)
        self.final_conv = ConvBNAct(2 * hidden, out_channels, 1, **conv)

    def forward(self, x: Tensor) -> Tensor:
        feats = [self.pre_conv3(self.pre_conv2(self.pre_conv1(x)))]
        for pool in self.pools:
            feats.append(pool(feats[-1]))
        # 4 x (B, hidden, H, W) -> (B, 4 * hidden, H, W) -> (B, hidden, H, W)
        pooled = self.post_conv2(self.post_conv1(torch.cat(feats, dim=1)))
        # 2 x (B, hidden, H, W) -> (B, 2 * hidden, H, W) -> (B, C_out, H, W)
        return self.final_conv(torch.cat((self.short_conv(x), pooled), dim=1))
