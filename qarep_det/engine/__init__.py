"""Training-loop extensions (hooks, YOLOv6's optimizer groups and lr schedule, evaluation protocols)."""
from .eval_protocol import apply_eval_protocol
from .hooks import ProgressBarHook, ReparamEvalHook
from .optimizers import YOLOv6LR, YOLOv6Momentum, YOLOv6OptimWrapperConstructor
from .runner import YOLOv6Runner

__all__ = ['apply_eval_protocol', 'ProgressBarHook', 'ReparamEvalHook', 'YOLOv6LR', 'YOLOv6Momentum',
           'YOLOv6OptimWrapperConstructor', 'YOLOv6Runner']
