# YOLOv6-N with RepVGG blocks on BCCD: the INT8 baseline for yolov6n_qarep_bccd.py, which it
# differs from only by the block type.
_base_ = './yolov6n_qarep_bccd.py'

block_cfg = dict(type='RepVGGBlock')

model = dict(backbone=dict(block_cfg=block_cfg), neck=dict(block_cfg=block_cfg))
