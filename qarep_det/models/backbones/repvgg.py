"""RepVGG and QARepVGG backbones for any MMDetection detector.

Provenance: Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021, Sec. 3.4
and its architecture tables (depths, width multipliers ``a``/``b``, group-wise layers of the
``g2``/``g4`` variants); Chu et al., "Make RepVGG Greater Again: A Quantization-aware Approach", AAAI 2024,
Sec. 4 (QARepVGG: the same architecture built from QARepVGG blocks).
"""
from typing import Optional, Sequence

from torch import nn

from ...registry import register_model
from ..layers.csp_layers import build_block
from .base_backbone import BaseRepBackbone

_DEPTHS_A = (2, 4, 14, 1)
_DEPTHS_B = (4, 6, 16, 1)


def _widths(a: float, b: float) -> tuple:
    """Sec. 3.4: stem ``min(64, 64a)``; stages ``64a, 128a, 256a, 512b``."""
    return int(min(64, 64 * a)), (int(64 * a), int(128 * a), int(256 * a), int(512 * b))


@register_model
class RepVGG(BaseRepBackbone):
    """RepVGG: a stride-2 stem block and four stages of ``3x3`` blocks (the first one of a stage strided).

    Stage ``i`` (``0..3``) outputs stride ``2 ** (i + 2)`` (4, 8, 16, 32) with the default
    ``strides``; the classifier of the paper is not built. ``strides=(2, 2, 1, 1)`` keeps stages 2
    and 3 at stride 8 (output stride 8, for dense prediction), as the QARepVGG authors' ``_s1``
    segmentation configs do (cxxgtxy/QARepVGG, ``segmentation/configs/fcn_qarepa0_s1_*.py``,
    ``strides`` of ``RepVGGFeatures``): only the first block of a stage changes, so every block
    keeps its form and fuses as before (no dilation, as theirs). In the ``g2``/``g4`` variants
    every even layer (counting the stem as layer 0: layers 2, 4, ..., 26) is a group conv with 2
    or 4 groups.

    Args:
        arch: One of ``A0, A1, A2, B0, B1, B1g2, B1g4, B2, B2g4, B3, B3g4``.
        in_channels: Image channels.
        block_cfg: Config of every block (``RepVGGBlock``, ``QARepVGGBlock``, ...).
        out_indices: Stages whose outputs are returned.
        frozen_stages: See :class:`BaseRepBackbone`.
        norm_eval: See :class:`BaseRepBackbone`.
        norm_cfg: Norm config of the blocks (unless ``block_cfg`` sets one).
        init_cfg: mmengine initialization config.
        strides: Stride (1 or 2) of the first block of each of the four stages.
    """

    # arch -> (stem width, stage widths, stage depths, groups of the even layers)
    arch_settings = {
        'A0': (*_widths(0.75, 2.5), _DEPTHS_A, 1),
        'A1': (*_widths(1, 2.5), _DEPTHS_A, 1),
        'A2': (*_widths(1.5, 2.75), _DEPTHS_A, 1),
        'B0': (*_widths(1, 2.5), _DEPTHS_B, 1),
        'B1': (*_widths(2, 4), _DEPTHS_B, 1),
        'B1g2': (*_widths(2, 4), _DEPTHS_B, 2),
        'B1g4': (*_widths(2, 4), _DEPTHS_B, 4),
        'B2': (*_widths(2.5, 5), _DEPTHS_B, 1),
        'B2g4': (*_widths(2.5, 5), _DEPTHS_B, 4),
        'B3': (*_widths(3, 5), _DEPTHS_B, 1),
        'B3g4': (*_widths(3, 5), _DEPTHS_B, 4),
    }

    def __init__(self, arch: str = 'A0', in_channels: int = 3, block_cfg: dict = dict(type='RepVGGBlock'),
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1, norm_eval: bool = False,
                 norm_cfg: dict = dict(type='BN'), init_cfg: Optional[dict] = None,
                 strides: Sequence[int] = (2, 2, 2, 2)) -> None:
        if arch not in self.arch_settings:
            raise KeyError(f'unknown RepVGG arch {arch!r}; choose from {sorted(self.arch_settings)}')
        if len(strides) != 4 or any(s not in (1, 2) for s in strides):
            raise ValueError(f'strides must be four values of 1 or 2 (one per stage), got {strides}')
        self.arch = arch
        self.strides = tuple(strides)
        self.in_channels = in_channels
        self.stem_channels, self.stage_channels, self.num_blocks, self.groups = self.arch_settings[arch]
        self.block_cfg = dict(block_cfg)
        self.norm_cfg = dict(norm_cfg)
        super().__init__(len(self.stage_channels), out_indices, frozen_stages, norm_eval, init_cfg)

    @property
    def out_channels(self) -> tuple:
        """Channels of the returned features, in ``out_indices`` order."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    def build_stem_layer(self) -> nn.Module:
        return build_block(self.block_cfg, self.in_channels, self.stem_channels, stride=2, norm_cfg=self.norm_cfg)

    def build_stage_layer(self, stage_idx: int) -> nn.Module:
        first_layer = 1 + sum(self.num_blocks[:stage_idx])  # global index of the stage's first layer
        in_channels = self.stem_channels if stage_idx == 0 else self.stage_channels[stage_idx - 1]
        channels = self.stage_channels[stage_idx]
        blocks = []
        for j in range(self.num_blocks[stage_idx]):
            cfg = dict(self.block_cfg, groups=self.groups if (first_layer + j) % 2 == 0 else 1)
            stride = self.strides[stage_idx] if j == 0 else 1
            blocks.append(build_block(cfg, in_channels if j == 0 else channels, channels, stride=stride,
                                      norm_cfg=self.norm_cfg))
        return nn.Sequential(*blocks)


@register_model
class QARepVGG(RepVGG):
    """:class:`RepVGG` built from ``QARepVGGBlock`` by default (Chu et al., AAAI 2024, Sec. 4).

    Arguments as :class:`RepVGG`.
    """

    def __init__(self, arch: str = 'A0', in_channels: int = 3, block_cfg: dict = dict(type='QARepVGGBlock'),
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1, norm_eval: bool = False,
                 norm_cfg: dict = dict(type='BN'), init_cfg: Optional[dict] = None,
                 strides: Sequence[int] = (2, 2, 2, 2)) -> None:
        super().__init__(arch, in_channels, block_cfg, out_indices, frozen_stages, norm_eval, norm_cfg, init_cfg,
                         strides)
