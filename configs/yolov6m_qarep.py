# YOLOv6-M v3.0 with QARepVGG-v2 blocks on COCO: CSPBep backbone and CSPRepBiFPAN neck (depth 0.6,
# width 0.75, csp_e 2/3), DFL head (reg_max 16), VFL + GIoU + DFL losses, lr 0.01 (official
# configs/yolov6m.py). Differs from the N/S data settings by the official M/L random scaling
# 0.1..1.9; the official MixUp (p=0.1) is left out: mmdet's MixUp is YOLOX's and always applied.
_base_ = [
    './_base_/models/yolov6_cspbep.py', './_base_/datasets/coco_yolov6.py',
    './_base_/schedules/yolov6_300e.py', './_base_/default_runtime.py'
]

img_scale = (640, 640)  # as in the dataset base
train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='LetterResize', scale=(1280, 1280), pad_val=114, allow_scale_up=False),
    dict(type='YOLOv6RandomAffine', max_rotate_degree=0.0, max_translate_ratio=0.1, scaling_ratio_range=(0.1, 1.9),
         max_shear_degree=0.0, border=(-320, -320), border_val=(114, 114, 114)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
