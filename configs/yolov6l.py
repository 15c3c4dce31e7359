# YOLOv6-L v3.0 on COCO as released: CSPBep backbone and CSPRepBiFPAN neck at full scale (depth 1,
# width 1, csp_e 1/2) built from plain conv-BN-SiLU blocks (official configs/yolov6l.py,
# training_mode='conv_silu'), so nothing is re-parameterized but the conv-BN pairs. Differs from
# yolov6m_qarep.py by the scale, the blocks and SiLU in the BepC3 convs.
_base_ = './yolov6m_qarep.py'

deepen_factor = 1.0
widen_factor = 1.0
csp_e = 0.5
silu = dict(type='SiLU')
block_cfg = dict(type='ConvBNAct', act_cfg=silu)

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor, csp_e=csp_e, block_cfg=block_cfg,
                  act_cfg=silu),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor, csp_e=csp_e, block_cfg=block_cfg,
              csp_act_cfg=silu),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)))
