from .yolov6_head_module import DFLIntegral, YOLOv6HeadModule

__all__ = ['YOLOv6HeadModule', 'DFLIntegral']
