"""YOLOv6 backbones: ``EfficientRep`` (v3.0 N/S) and ``CSPBepBackbone`` (v3.0 M/L).

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2.1 (EfficientRep, CSPStackRep); Li et al., "YOLOv6 v3.0: A Full-Scale
Reloading", 2023, Sec. 2.1 (SimCSPSPPF, the P2 feature fed to the BiC module of the neck).
Widths and depths are those of the official ``configs/yolov6{n,s,m,l}.py``.
"""
from typing import Optional, Sequence

from torch import nn

from ...registry import register_model
from ..layers.csp_layers import (CSPSPPF, SPPF, YOLOV6_NORM_CFG, BepC3, RepStage, build_block, scale_depth,
                                 scale_width)
from .base_backbone import BaseRepBackbone


@register_model
class EfficientRep(BaseRepBackbone):
    """EfficientRep: a rep-block stem, four stages of (stride-2 block + ``RepStage``), SPPF last.

    Stage ``i`` outputs stride ``2 ** (i + 2)``; the default ``out_indices=(0, 1, 2, 3)`` returns
    P2..P5 for the v3.0 ``RepBiFPANNeck`` (use ``(1, 2, 3)`` for the v2 ``RepPANNeck``).
    Channels and block counts are the unscaled (YOLOv6-L) values; the model scale comes from
    ``widen_factor``/``deepen_factor`` (N: 0.25/0.33, S: 0.5/0.33, M: 0.75/0.6, L: 1/1).

    Args:
        in_channels: Image channels.
        stem_channels: Unscaled stem width.
        stage_channels: Unscaled output width of each stage.
        num_blocks: Unscaled number of blocks of each stage (after its stride-2 block).
        deepen_factor: Depth multiplier (see :func:`scale_depth`).
        widen_factor: Width multiplier (see :func:`scale_width`).
        block_cfg: Config of every ``3x3`` block, e.g. ``dict(type='QARepVGGBlockV2')``.
        use_cspsppf: End with SimCSPSPPF (v3.0 N/S) instead of SimSPPF.
        sppf_kernel_size: Max-pool size of the SPPF.
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`BaseRepBackbone`.
        norm_eval: See :class:`BaseRepBackbone`.
        norm_cfg: Norm config of every layer (blocks included unless ``block_cfg`` sets one).
        act_cfg: Activation of the non-block convs (SPPF; ``BepC3`` in :class:`CSPBepBackbone`).
        init_cfg: mmengine initialization config.
    """

    def __init__(self, in_channels: int = 3, stem_channels: int = 64,
                 stage_channels: Sequence[int] = (128, 256, 512, 1024), num_blocks: Sequence[int] = (6, 12, 18, 6),
                 deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 block_cfg: dict = dict(type='RepVGGBlock'), use_cspsppf: bool = True, sppf_kernel_size: int = 5,
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1, norm_eval: bool = False,
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        if len(stage_channels) != len(num_blocks):
            raise ValueError(f'stage_channels ({len(stage_channels)}) and num_blocks ({len(num_blocks)}) '
                             'must have one entry per stage')
        self.in_channels = in_channels
        self.stem_channels = scale_width(stem_channels, widen_factor)
        self.stage_channels = tuple(scale_width(c, widen_factor) for c in stage_channels)
        self.num_blocks = tuple(scale_depth(n, deepen_factor) for n in num_blocks)
        self.block_cfg = dict(block_cfg)
        self.use_cspsppf = use_cspsppf
        self.sppf_kernel_size = sppf_kernel_size
        self.norm_cfg = dict(norm_cfg)
        self.act_cfg = act_cfg
        super().__init__(len(stage_channels), out_indices, frozen_stages, norm_eval, init_cfg)

    @property
    def out_channels(self) -> tuple:
        """Channels of the returned features, in ``out_indices`` order."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    def build_stem_layer(self) -> nn.Module:
        return build_block(self.block_cfg, self.in_channels, self.stem_channels, stride=2, norm_cfg=self.norm_cfg)

    def build_stage_blocks(self, channels: int, num_blocks: int) -> nn.Module:
        """The stride-1 part of a stage; :class:`CSPBepBackbone` overrides it."""
        return RepStage(channels, channels, num_blocks, self.block_cfg, norm_cfg=self.norm_cfg)

    def build_stage_layer(self, stage_idx: int) -> nn.Module:
        in_channels = self.stem_channels if stage_idx == 0 else self.stage_channels[stage_idx - 1]
        channels = self.stage_channels[stage_idx]
        layers = [build_block(self.block_cfg, in_channels, channels, stride=2, norm_cfg=self.norm_cfg),
                  self.build_stage_blocks(channels, self.num_blocks[stage_idx])]
        if stage_idx == len(self.stage_channels) - 1:
            sppf = CSPSPPF if self.use_cspsppf else SPPF
            layers.append(sppf(channels, channels, self.sppf_kernel_size, norm_cfg=self.norm_cfg,
                               act_cfg=self.act_cfg))
        return nn.Sequential(*layers)


@register_model
class CSPBepBackbone(EfficientRep):
    """EfficientRep with ``BepC3`` (CSPStackRep) stages, used by YOLOv6 v3.0 M and L.

    Official settings: M ``deepen_factor=0.6, widen_factor=0.75, csp_e=2/3`` with RepVGG-style
    blocks; L ``deepen_factor=1, widen_factor=1, csp_e=1/2`` with
    ``block_cfg=dict(type='ConvBNAct', act_cfg=dict(type='SiLU'))`` and ``act_cfg=dict(type='SiLU')``.
    Both end with SPPF (``use_cspsppf=False``). Other arguments as :class:`EfficientRep`.

    Args:
        csp_e: Hidden width ratio of every ``BepC3``.
    """

    def __init__(self, in_channels: int = 3, stem_channels: int = 64,
                 stage_channels: Sequence[int] = (128, 256, 512, 1024), num_blocks: Sequence[int] = (6, 12, 18, 6),
                 deepen_factor: float = 1.0, widen_factor: float = 1.0, csp_e: float = 0.5,
                 block_cfg: dict = dict(type='RepVGGBlock'), use_cspsppf: bool = False, sppf_kernel_size: int = 5,
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1, norm_eval: bool = False,
                 norm_cfg: dict = YOLOV6_NORM_CFG, act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        self.csp_e = csp_e
        super().__init__(in_channels, stem_channels, stage_channels, num_blocks, deepen_factor, widen_factor,
                         block_cfg, use_cspsppf, sppf_kernel_size, out_indices, frozen_stages, norm_eval,
                         norm_cfg, act_cfg, init_cfg)

    def build_stage_blocks(self, channels: int, num_blocks: int) -> nn.Module:
        return BepC3(channels, channels, num_blocks, self.csp_e, self.block_cfg, norm_cfg=self.norm_cfg,
                     act_cfg=self.act_cfg)
