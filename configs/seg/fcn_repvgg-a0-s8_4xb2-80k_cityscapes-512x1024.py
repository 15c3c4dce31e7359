# fcn_qarepvgg-a0-s8_4xb2-80k_cityscapes-512x1024.py with RepVGG blocks (RepVGG-A0, the INT8 baseline).
_base_ = './fcn_qarepvgg-a0-s8_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(type='RepVGG'))
