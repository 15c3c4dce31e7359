# fpn_qarepvgg-a0_4xb2-80k_cityscapes-512x1024.py on QARepVGG-B1g4 (stage widths 128, 256, 512, 2048).
_base_ = './fpn_qarepvgg-a0_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(arch='B1g4'), neck=dict(in_channels=[128, 256, 512, 2048]))
