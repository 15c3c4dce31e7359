# YOLOv6 v3.0 M/L family (Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023): CSPBep backbone
# (BepC3 stages of paired blocks) -> CSPRepBiFPAN neck -> efficient decoupled head regressing a
# distribution over 0..16 (DFL, Li et al., NeurIPS 2020), VariFocal + GIoU + DFL losses. Set here:
# the M scale (depth 0.6, width 0.75, csp_e 2/3) with QARepVGG-v2 blocks; yolov6l.py changes the
# scale and the blocks (conv-BN-SiLU).
_base_ = './yolov6_efficientrep.py'

deepen_factor = 0.6
widen_factor = 0.75
csp_e = 2 / 3

model = dict(
    backbone=dict(_delete_=True, type='CSPBepBackbone', deepen_factor=deepen_factor, widen_factor=widen_factor,
                  csp_e=csp_e, block_cfg=_base_.block_cfg),
    neck=dict(_delete_=True, type='CSPRepBiFPANNeck', deepen_factor=deepen_factor, widen_factor=widen_factor,
              csp_e=csp_e, block_cfg=_base_.block_cfg),
    bbox_head=dict(
        head_module=dict(widen_factor=widen_factor, reg_max=16),
        loss_bbox=dict(type='GIoULoss'),  # SIoU -> GIoU; reduction and weight from the base
        loss_dfl=dict(_delete_=True, type='DistributionFocalLoss', reduction='sum', loss_weight=0.5)))
