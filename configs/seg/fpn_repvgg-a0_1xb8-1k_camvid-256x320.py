# fpn_qarepvgg-a0_1xb8-1k_camvid-256x320.py with RepVGG blocks (RepVGG-A0, the INT8 baseline).
_base_ = './fpn_qarepvgg-a0_1xb8-1k_camvid-256x320.py'

model = dict(backbone=dict(type='RepVGG'))
