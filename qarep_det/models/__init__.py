"""Models: importing this package registers every module in mmdet's registries."""
from . import backbones, dense_heads, detectors, necks, task_modules  # noqa: F401
from .layers import *  # noqa: F401,F403
