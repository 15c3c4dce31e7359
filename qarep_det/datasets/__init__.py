"""Datasets: the embedded synthetic set, converters to COCO JSON, transforms and datasets mmdet and mmseg lack."""
from . import transforms  # noqa: F401  (importing registers LetterResize and YOLOv6RandomAffine)
from . import yolov6_augment  # noqa: F401  (registers YOLOv6HSVRandomAug and YOLOv6MixUp)
from .camvid import CamVidDataset  # noqa: F401  (registers CamVidDataset in mmseg's DATASETS)
from .seg_transforms import CheckSegLabels  # noqa: F401  (registers CheckSegLabels in mmseg's TRANSFORMS)
from .synthetic import generate_synthetic_coco  # noqa: F401
