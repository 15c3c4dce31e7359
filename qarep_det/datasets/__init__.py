"""Datasets: the embedded synthetic set, converters to COCO JSON, transforms and dataset classes mmdet lacks."""
from . import transforms  # noqa: F401  (importing registers LetterResize and YOLOv6RandomAffine)
from . import yolov6_augment  # noqa: F401  (registers YOLOv6HSVRandomAug and YOLOv6MixUp)
from .synthetic import generate_synthetic_coco  # noqa: F401
