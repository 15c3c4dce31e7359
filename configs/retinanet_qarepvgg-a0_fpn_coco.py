# RetinaNet (Lin et al., ICCV 2017) with a QARepVGG-A0 backbone (Chu et al., AAAI 2024) on COCO:
# the stock MMDetection R50-FPN 1x config with the backbone swapped; strides 8/16/32 feed the FPN.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['qarep_det'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='QARepVGG', arch='A0', out_indices=(1, 2, 3)),
    neck=dict(in_channels=[96, 192, 1280], start_level=0))
