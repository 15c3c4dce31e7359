# fpn_qarepvgg-b1g4_4xb2-80k_cityscapes-512x1024.py with RepVGG blocks (RepVGG-B1g4, the INT8 baseline).
_base_ = './fpn_qarepvgg-b1g4_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(type='RepVGG'))
