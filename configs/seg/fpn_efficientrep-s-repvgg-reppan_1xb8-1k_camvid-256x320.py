# fpn_efficientrep-s-qarep-reppan_1xb8-1k_camvid-256x320.py with RepVGG blocks (the INT8 baseline).
_base_ = './fpn_efficientrep-s-qarep-reppan_1xb8-1k_camvid-256x320.py'

model = dict(backbone=dict(block_cfg=dict(type='RepVGGBlock')), neck=dict(block_cfg=dict(type='RepVGGBlock')))
