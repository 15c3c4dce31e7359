# YOLOv6-N with RepVGG blocks on the synthetic set: the INT8 baseline for
# yolov6n_qarep_synthetic.py, which it differs from only by the block type.
_base_ = './yolov6n_qarep_synthetic.py'

block_cfg = dict(type='RepVGGBlock')

model = dict(backbone=dict(block_cfg=block_cfg), neck=dict(block_cfg=block_cfg))
