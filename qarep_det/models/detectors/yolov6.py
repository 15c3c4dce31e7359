"""The YOLOv6 detector: backbone -> neck -> :class:`YOLOv6Head` on mmdet's single-stage base.

Provenance: Li et al., "YOLOv6: A Single-Stage Object Detection Framework for Industrial
Applications", 2022, Sec. 2 (overall design); images normalized to [0, 1] by the data preprocessor.
"""
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS


@MODELS.register_module()
class YOLOv6(SingleStageDetector):
    """Single-stage detector with the YOLOv6 layout; all arguments as ``SingleStageDetector``."""
