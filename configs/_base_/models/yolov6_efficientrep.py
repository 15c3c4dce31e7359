# YOLOv6 v3.0 N/S family (Li et al., "YOLOv6 v3.0: A Full-Scale Reloading", 2023): EfficientRep
# backbone with SimCSPSPPF -> RepBiFPAN neck -> efficient decoupled head regressing plain distances
# (reg_max=0), VariFocal classification loss, SIoU box loss (N; S uses GIoU), task-aligned
# assignment from the first epoch. Set here: the N scale (depth 0.33, width 0.25) with QARepVGG-v2
# blocks (YOLOv6 v3.0's `qarepvggv2`); configs change the scale and `block_cfg`.
deepen_factor = 0.33
widen_factor = 0.25
block_cfg = dict(type='QARepVGGBlockV2')
num_classes = 80

model = dict(
    type='YOLOv6',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.],
                           bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='EfficientRep', deepen_factor=deepen_factor, widen_factor=widen_factor, use_cspsppf=True,
                  block_cfg=block_cfg),
    neck=dict(type='RepBiFPANNeck', deepen_factor=deepen_factor, widen_factor=widen_factor, block_cfg=block_cfg),
    bbox_head=dict(
        type='YOLOv6Head',
        head_module=dict(type='YOLOv6HeadModule', num_classes=num_classes, in_channels=(128, 256, 512),
                         widen_factor=widen_factor, reg_max=0),
        prior_generator=dict(type='mmdet.MlvlPointGenerator', offset=0.5, strides=(8, 16, 32)),
        loss_cls=dict(type='VarifocalLoss', use_sigmoid=True, alpha=0.75, gamma=2.0, iou_weighted=True,
                      reduction='sum', loss_weight=1.0),
        loss_bbox=dict(type='SIoULoss', reduction='sum', loss_weight=2.5),
        loss_dfl=None),
    train_cfg=dict(
        initial_epoch=0,  # epochs of ATSS assignment before task-aligned assignment (v3.0: none)
        initial_assigner=dict(type='BatchATSSAssigner', topk=9),
        assigner=dict(type='BatchTaskAlignedAssigner', topk=13, alpha=1.0, beta=6.0)),
    test_cfg=dict(nms_pre=30000, score_thr=0.001, nms=dict(type='nms', iou_threshold=0.65), max_per_img=300))
