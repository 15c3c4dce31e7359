# YOLOv6-M v3.0 with QARepVGG-v2 blocks on COCO: CSPBep backbone and CSPRepBiFPAN neck (depth 0.6,
# width 0.75, csp_e 2/3), DFL head (reg_max 16), VFL + GIoU + DFL losses, lr 0.01 (official
# configs/yolov6m.py). Differs from the N/S data settings by the official M/L random scaling
# 0.1..1.9; the official MixUp (p=0.1) is left out: mmdet's MixUp is YOLOX's and always applied.
_base_ = [
    './_base_/models/yolov6_cspbep.py', './_base_/datasets/coco_yolov6.py',
    './_base_/schedules/yolov6_300e.py', './_base_/default_runtime.py'
]

# The dataset base's pipeline with the official M/L random scaling instead of its 0.5..1.5.
train_pipeline = [
    dict(step, scaling_ratio_range=(0.1, 1.9)) if step.type == 'YOLOv6RandomAffine' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
