# YOLOv6-N v3.0 with the original QARepVGG blocks (Chu et al., AAAI 2024: 3x3 conv-BN + 1x1 conv +
# identity, one BN after the sum; no average-pool branch). Differs from yolov6n_qarep.py only by
# the block type.
_base_ = './yolov6n_qarep.py'

block_cfg = dict(type='QARepVGGBlock')

model = dict(backbone=dict(block_cfg=block_cfg), neck=dict(block_cfg=block_cfg))
