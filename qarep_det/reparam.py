"""The one model-level entry point for structural re-parameterization.

Besides this package's :class:`~qarep_det.models.layers.RepModule` (``reparameterize()``), the
walk fuses the re-parameterizable modules of other libraries by the method they offer: timm's
``reparameterize()`` (``RepVggBlock``, ``MobileOneBlock``, ...), ``switch_to_deploy()`` (mmyolo,
mmpretrain, the official YOLOv6 and RepVGG code) and ``fuse()`` (timm's conv-norm modules; a
module it returns replaces the fused one). A module that looks re-parameterizable but offers none
of them is named in a warning instead of being left unfused silently.

Provenance: the interface ``reparameterize_model(model, inplace=False)``, the three method names
and their order follow timm's ``timm.utils.model.reparameterize_model`` (pytorch-image-models).
Unlike timm, a method is called only if the module's class defines it and it takes no argument
(mmdet's ``FPG.fuse(fuse_dict)`` is not a fusion), the walk descends into the module that
``fuse()`` returned, and the root module is fused too.
"""
import copy
import inspect
import logging
from typing import Callable, Dict, List, Optional, Tuple

from mmengine.logging import print_log
from torch import nn

FUSE_METHODS = ('fuse', 'reparameterize', 'switch_to_deploy')
"""Tried in this order; the first one a module's class defines (callable without arguments) is called."""

DEPLOY_FLAGS = ('deploy', 'inference_mode')
"""Flags of a training/deploy form (RepVGG, YOLOv6, mmyolo: ``deploy``; timm's MobileOne: ``inference_mode``)."""


def reparameterize_model(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fuse every re-parameterizable module (rep blocks, post-sum BNs, conv-BN pairs) of ``model``.

    Outermost first, each module is fused by the first of :data:`FUSE_METHODS` its class defines.
    Each module fuses on its own terms (a :class:`~qarep_det.models.layers.RepModule` reads its
    branches in either form), so modules already fused are left as they are. Modules that look
    re-parameterizable (an attribute ``deploy`` / ``inference_mode``, or one named ``rbr_*`` or
    ``*reparam*``; unless the flag is ``True``, the deploy form) but define none of the methods are
    named in one warning.

    Args:
        model: Any ``nn.Module``; modules without a fusion method are kept as they are.
        inplace: Fuse ``model`` itself instead of a deep copy.

    Returns:
        The fused model: ``model`` itself when ``inplace=True`` (unless ``model``'s own ``fuse()``
        returns a replacement).
    """
    if not inplace:
        model = copy.deepcopy(model)
    unfusable: List[Tuple[str, str]] = []
    model = _fuse_tree(model, '', unfusable)
    if unfusable:
        print_log(_unfusable_message(unfusable), logger='current', level=logging.WARNING)
    return model


def _fuse_tree(module: nn.Module, name: str, unfusable: List[Tuple[str, str]]) -> nn.Module:
    """Fuse ``module``, then its children (a fused module's absorbed branches are gone from the tree)."""
    module = _fuse_module(module, name, unfusable)
    for child_name, child in list(module.named_children()):
        fused = _fuse_tree(child, f'{name}.{child_name}' if name else child_name, unfusable)
        if fused is not child:
            setattr(module, child_name, fused)
    return module


def _fuse_module(module: nn.Module, name: str, unfusable: List[Tuple[str, str]]) -> nn.Module:
    """``module`` fused by its own method (or ``fuse()``'s replacement); recorded in ``unfusable`` if it has none."""
    for method_name in FUSE_METHODS:
        method = _argless_method(module, method_name)
        if method is not None:
            result = method()
            replaced = method_name == 'fuse' and isinstance(result, nn.Module)
            return result if replaced else module
    if _looks_reparameterizable(module):
        unfusable.append((name or '(the model itself)', type(module).__name__))
    return module


def _argless_method(module: nn.Module, method_name: str) -> Optional[Callable[[], object]]:
    """The bound method ``method_name`` if ``module``'s class defines it and it can be called without arguments."""
    if not callable(getattr(type(module), method_name, None)):  # submodules and plain attributes are not methods
        return None
    method = getattr(module, method_name)
    try:
        inspect.signature(method).bind()
    except (TypeError, ValueError):  # needs arguments (e.g. mmdet's FPG.fuse(fuse_dict)): not a fusion
        return None
    return method


def _looks_reparameterizable(module: nn.Module) -> bool:
    """Not flagged as deployed, and has a deploy flag or a submodule/parameter/buffer/attribute named like a
    rep branch (``rbr_*``, ``*reparam*``)."""
    attributes = vars(module)
    if any(attributes.get(flag) is True for flag in DEPLOY_FLAGS):
        return False  # already in its deploy form
    names = [*attributes, *module._modules, *module._parameters, *module._buffers]
    return any(n in DEPLOY_FLAGS or n.startswith('rbr_') or 'reparam' in n.lower() for n in names)


def _unfusable_message(unfusable: List[Tuple[str, str]], max_names: int = 5) -> str:
    """One line naming the left-unfused modules, grouped by class (at most ``max_names`` names per class)."""
    by_class: Dict[str, List[str]] = {}
    for name, cls in unfusable:
        by_class.setdefault(cls, []).append(name)
    groups = []
    for cls, names in by_class.items():
        more = f' and {len(names) - max_names} more' if len(names) > max_names else ''
        groups.append(f'{cls} ({", ".join(names[:max_names])}{more})')
    methods = ', '.join(f'{m}()' for m in FUSE_METHODS)
    return (f'reparameterize_model: {len(unfusable)} module(s) look re-parameterizable but define none of '
            f'{methods}, so they were left unfused: {"; ".join(groups)}')
