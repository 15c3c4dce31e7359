"""Converters of published checkpoints into this project's configs (``yolov6``: official YOLOv6 v3.0)."""
from .yolov6 import Variant, convert_yolov6_checkpoint

__all__ = ['Variant', 'convert_yolov6_checkpoint']
