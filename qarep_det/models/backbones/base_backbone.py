"""Base class of the backbones here: a stem and a list of stages, with freezing and ``norm_eval``.

Provenance: the stem/stages/``frozen_stages``/``norm_eval`` protocol follows MMDetection's
``ResNet`` (He et al., CVPR 2016) and mmyolo's ``BaseBackbone``.
"""
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class BaseRepBackbone(BaseModule, metaclass=ABCMeta):
    """A stem (stride 2) followed by ``num_stages`` stages, each halving the resolution.

    Stage ``i`` (``0 <= i < num_stages``) has stride ``2 ** (i + 2)``: with four stages the
    outputs of stages ``0..3`` are the P2..P5 features (strides 4, 8, 16, 32), as in MMDetection's
    ``ResNet``. Subclasses set their own attributes, then call ``super().__init__``, which calls
    :meth:`build_stem_layer` and :meth:`build_stage_layer`.

    Args:
        num_stages: Number of stages after the stem.
        out_indices: Indices of the stages whose outputs :meth:`forward` returns (sorted).
        frozen_stages: ``-1`` freezes nothing, ``0`` the stem, ``k`` the stem and stages
            ``0..k-1`` (parameters without gradients, norm layers in eval mode).
        norm_eval: Keep every norm layer in eval mode while training (frozen statistics).
        init_cfg: mmengine initialization config.
    """

    def __init__(self, num_stages: int, out_indices: Sequence[int], frozen_stages: int = -1,
                 norm_eval: bool = False, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices must be a non-empty subset of 0..{num_stages - 1}, got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in -1..{num_stages}, got {frozen_stages}')
        self.out_indices = tuple(sorted(out_indices))
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.stem = self.build_stem_layer()
        self.stages = nn.ModuleList(self.build_stage_layer(i) for i in range(num_stages))
        self._freeze_stages()

    @abstractmethod
    def build_stem_layer(self) -> nn.Module:
        """The stride-2 stem."""

    @abstractmethod
    def build_stage_layer(self, stage_idx: int) -> nn.Module:
        """Stage ``stage_idx``: a stride-2 layer followed by stride-1 layers."""

    def _freeze_stages(self) -> None:
        frozen = [self.stem] + list(self.stages[:self.frozen_stages]) if self.frozen_stages >= 0 else []
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseRepBackbone':
        """Set the training mode, then put frozen stages (and all norms if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the outputs of the stages in ``out_indices``, highest resolution first."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
