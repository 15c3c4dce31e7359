"""Loss terms as pure functions (the registered losses are mmdet's)."""
from .yolov6_distill import class_distill_loss, dfl_distill_loss, distill_decay

__all__ = ['class_distill_loss', 'dfl_distill_loss', 'distill_decay']
