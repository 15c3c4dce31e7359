# fpn_efficientrep-s-qarep-reppan_4xb2-80k_cityscapes-512x1024.py with RepVGG blocks (the INT8 baseline).
_base_ = './fpn_efficientrep-s-qarep-reppan_4xb2-80k_cityscapes-512x1024.py'

model = dict(backbone=dict(block_cfg=dict(type='RepVGGBlock')), neck=dict(block_cfg=dict(type='RepVGGBlock')))
