# YOLOv6-M v3.0 with RepVGG blocks (BN on every branch), the architecture as officially released:
# the INT8 post-training-quantization baseline for yolov6m_qarep.py. Differs from it only by the
# block type.
_base_ = './yolov6m_qarep.py'

block_cfg = dict(type='RepVGGBlock')

model = dict(backbone=dict(block_cfg=block_cfg), neck=dict(block_cfg=block_cfg))
