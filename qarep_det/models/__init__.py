"""Models: importing this package registers every module (see :mod:`qarep_det.registry` for where)."""
from . import backbones, dense_heads, detectors, losses, necks, task_modules  # noqa: F401
from .layers import *  # noqa: F401,F403
