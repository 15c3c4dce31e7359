from .yolov6 import YOLOv6

__all__ = ['YOLOv6']
