# fcn_qarepvgg-b1g4-s8_4xb4-80k_ade20k-512x512.py with RepVGG blocks (RepVGG-B1g4, the INT8 baseline).
_base_ = './fcn_qarepvgg-b1g4-s8_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(type='RepVGG'))
