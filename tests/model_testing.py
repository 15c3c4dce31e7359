"""Helpers for the backbone/neck/head tests: fused-vs-unfused check on whole networks."""
from typing import Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det import reparameterize_model
from qarep_det.models.layers import RepModule
from testing_utils import randomize_bn, relative_error

Outputs = Union[Tensor, Sequence['Outputs']]


def flatten(outputs: Outputs) -> list:
    """Nested tuples/lists of tensors -> flat list of tensors, in order."""
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for item in outputs for t in flatten(item)]


def prepare(model: nn.Module, seed: int = 0) -> nn.Module:
    """float64, random BN statistics and affine parameters, eval mode."""
    torch.manual_seed(seed)
    return randomize_bn(model.double(), torch.Generator().manual_seed(seed)).eval()


@torch.no_grad()
def assert_fusion_preserves_outputs(model: nn.Module, *inputs: Outputs, tol: float = 1e-10) -> nn.Module:
    """Fuse a copy of ``model`` (already prepared); every output equal within ``tol`` (relative).

    Also checks that the fused copy has no BatchNorm left and every RepModule is in deploy form.

    Returns:
        The fused copy.
    """
    expected = flatten(model(*inputs))
    fused = reparameterize_model(model)
    assert not [m for m in fused.modules() if isinstance(m, _BatchNorm)]
    rep_modules = [m for m in fused.modules() if isinstance(m, RepModule)]
    assert rep_modules and all(m.deploy for m in rep_modules)
    actual = flatten(fused(*inputs))
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        assert relative_error(a, e) < tol
    return fused


def random_features(batch: int, channels: Sequence[int], strides: Sequence[int], size: int,
                    dtype: torch.dtype = torch.float64, seed: int = 0) -> list:
    """Random feature maps ``(batch, c, size // s, size // s)`` for each ``(c, s)``."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size // s, size // s, dtype=dtype, generator=gen) for c, s in zip(channels, strides)]
