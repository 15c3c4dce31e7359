# fpn_efficientrep-s-qarep-reppan_4xb4-160k_ade20k-512x512.py with RepVGG blocks (the INT8 baseline).
_base_ = './fpn_efficientrep-s-qarep-reppan_4xb4-160k_ade20k-512x512.py'

model = dict(backbone=dict(block_cfg=dict(type='RepVGGBlock')), neck=dict(block_cfg=dict(type='RepVGGBlock')))
