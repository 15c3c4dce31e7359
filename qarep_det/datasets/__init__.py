"""Datasets: the embedded synthetic set, converters to COCO JSON and dataset classes mmdet lacks."""
from .synthetic import generate_synthetic_coco  # noqa: F401
