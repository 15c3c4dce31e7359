"""The one model-level entry point for structural re-parameterization.

Provenance: the ``reparameterize_model(model, inplace=False)`` interface follows timm's
``timm.utils.model.reparameterize_model``.
"""
import copy

from torch import nn

from .models.layers.conv import RepModule


def reparameterize_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fuse every re-parameterizable module (rep blocks, post-sum BNs, conv-BN pairs) of ``model``.

    Each :class:`~qarep_det.models.layers.RepModule` fuses on its own terms, so the order of the
    walk does not matter and modules already fused are left untouched.

    Args:
        model: Any ``nn.Module``; modules that are not :class:`RepModule` are kept as they are.
        inplace: Fuse ``model`` itself instead of a deep copy.

    Returns:
        The fused model (``model`` itself when ``inplace=True``).
    """
    if not inplace:
        model = copy.deepcopy(model)
    _reparameterize_tree(model)
    return model


def _reparameterize_tree(module: nn.Module) -> None:
    """Outermost first: a fused module's nested rep modules are absorbed and gone from the tree."""
    if isinstance(module, RepModule):
        module.reparameterize()
    for child in module.children():
        _reparameterize_tree(child)
