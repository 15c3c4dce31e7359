# fpn_qarepvgg-a0_4xb4-160k_ade20k-512x512.py with RepVGG blocks (RepVGG-A0, the INT8 baseline).
_base_ = './fpn_qarepvgg-a0_4xb4-160k_ade20k-512x512.py'

model = dict(backbone=dict(type='RepVGG'))
