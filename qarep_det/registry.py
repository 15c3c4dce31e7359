"""Where qarep_det registers its modules, so that they build under every OpenMMLab scope.

Task-free modules (the rep blocks and layers, the backbones, the necks, the hooks) are
registered twice, as the same class: in mmengine's *root* registries and in MMDetection's.
MMSegmentation's registries (like mmdet's) are children of the root, and a child looks a bare
name up in itself, then in its ancestors, so ``dict(type='QARepVGG')`` builds under
``default_scope='mmseg'`` and ``'mmdet'`` alike, and so do the blocks a backbone builds by bare
name inside. mmengine resolves a scoped name such as ``'mmdet.QARepVGG'`` in mmdet's registry
*only* (no ancestors), hence the second registration: the ``mmdet.``-prefixed names of the
detection configs keep working under both scopes. Detection-only parts (the YOLOv6 head and
detector, the batch assigners, the detection transforms) are registered in mmdet's registries
alone. ``tests/models/test_scopes.py`` checks that every shared name resolves to our class
(no mmdet or mmseg class of the same name shadows it) under both scopes.

Provenance: mmengine 0.10.7 ``Registry.get`` (parent lookup for bare names, scope prefixes).
"""
from typing import TypeVar

from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import HOOKS, MODELS

T = TypeVar('T', bound=type)

__all__ = ['HOOKS', 'MODELS', 'register_hook', 'register_model']


def register_model(cls: T) -> T:
    """Class decorator: register a task-free model module in the root and mmdet ``MODELS``."""
    MODELS.register_module(module=cls)
    MMDET_MODELS.register_module(module=cls)
    return cls


def register_hook(cls: T) -> T:
    """Class decorator: register a task-free hook in the root and mmdet ``HOOKS``."""
    HOOKS.register_module(module=cls)
    MMDET_HOOKS.register_module(module=cls)
    return cls
