from .yolov6_head import YOLOv6Head
from .yolov6_head_module import DFLIntegral, YOLOv6HeadModule

__all__ = ['YOLOv6Head', 'YOLOv6HeadModule', 'DFLIntegral']
