# YOLOv6-S v3.0 with QARepVGG-v2 blocks on COCO (the paper's YOLOv6-S-qa, v3.0 edition).
# Differs from yolov6n_qarep.py: width 0.5, GIoU box loss and lr 0.01 (official configs/yolov6s.py).
_base_ = './yolov6n_qarep.py'

widen_factor = 0.5

model = dict(
    backbone=dict(widen_factor=widen_factor),
    neck=dict(widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor),
                   loss_bbox=dict(_delete_=True, type='GIoULoss', reduction='sum', loss_weight=2.5)))  # SIoU -> GIoU

optim_wrapper = dict(optimizer=dict(lr=_base_.base_lr))  # the schedule's lr (N overrides it)

# `eval_protocol='yolov6_640'` shrinks the longer side by 6 (official eval_640_repro.py).
eval_protocols = dict(yolov6_640=dict(shrink_size=6))
