"""qarep_det: quantization-friendly re-parameterized detectors and segmentors for MMDetection 3.x / MMSegmentation 1.x.

Importing the package registers its modules (blocks, backbones, necks and hooks under both the
mmdet and the mmseg scope, see :mod:`qarep_det.registry`; the YOLOv6 detector in mmdet's; the
CamVid dataset in mmseg's) and makes mmengine checkpoints loadable (safely) under torch >= 2.6.
"""
from .compat import register_checkpoint_safe_globals
from . import datasets, engine  # noqa: F401  (importing registers the transforms and hooks)
from .models import *  # noqa: F401,F403  (importing registers the modules)
from .reparam import reparameterize_model
from .version import __version__

register_checkpoint_safe_globals()

__all__ = ['reparameterize_model', '__version__']
