"""Task adapters: what a model's tensor path is, what stays float, how its deployed form predicts.

The rest of :mod:`qarep_det.quantization` knows no task; an adapter per task (detection:
single-stage detectors with a neck; segmentation: ``EncoderDecoder``) is the only code that
imports the task's library. Adapters are imported on first use, so detection never imports
mmseg.
"""
from .base import TaskAdapter, adapter_for, adapter_named, deployable

__all__ = ['TaskAdapter', 'adapter_for', 'adapter_named', 'deployable']
