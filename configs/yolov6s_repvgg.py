# YOLOv6-S v3.0 with RepVGG blocks (BN on every branch), the architecture as officially released:
# the INT8 post-training-quantization baseline for yolov6s_qarep.py. Differs from it only by the
# block type.
_base_ = './yolov6s_qarep.py'

block_cfg = dict(type='RepVGGBlock')

model = dict(backbone=dict(block_cfg=block_cfg), neck=dict(block_cfg=block_cfg))
