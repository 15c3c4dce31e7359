# YOLOv6-M v3.0 with QARepVGG-v2 blocks on COCO: CSPBep backbone and CSPRepBiFPAN neck (depth 0.6,
# width 0.75, csp_e 2/3), DFL head (reg_max 16), VFL + GIoU + DFL losses, lr 0.01 (official
# configs/yolov6m.py). Differs from the N/S data settings as the official M/L data_aug: random
# scaling 0.1..1.9 and MixUp with p = 0.1 (a second Mosaic sample blended in, both dropped with
# Mosaic in the last 15 epochs).
_base_ = [
    './_base_/models/yolov6_cspbep.py', './_base_/datasets/coco_yolov6.py',
    './_base_/schedules/yolov6_300e.py', './_base_/default_runtime.py'
]

# The dataset base's pipeline with the official M/L random scaling instead of its 0.5..1.5.
train_pipeline = [
    dict(step, scaling_ratio_range=(0.1, 1.9)) if step.type == 'YOLOv6RandomAffine' else step
    for step in _base_.train_pipeline
]
# YOLOv6's MixUp right after the affine step: with p = 0.1 it blends in a second sample made by the
# same Mosaic + affine steps from its own four images (qarep_det YOLOv6MixUp).
mixup_at = [step['type'] for step in train_pipeline].index('YOLOv6RandomAffine') + 1
train_pipeline = (train_pipeline[:mixup_at]
                  + [dict(type='YOLOv6MixUp', prob=0.1, pre_transform=train_pipeline[:mixup_at])]
                  + train_pipeline[mixup_at:])
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
sync_bn = None  # per-GPU BatchNorm statistics, as the official trainer (plain DDP, no SyncBN)

# `eval_protocol='yolov6_640'` shrinks the longer side by 4 (official eval_640_repro.py).
eval_protocols = dict(yolov6_640=dict(shrink_size=4))

# The last 15 epochs drop MixUp with Mosaic, as YOLOv6 does.
custom_hooks = [
    dict(hook, skip_type_keys=('Mosaic', 'YOLOv6MixUp')) if hook.type == 'YOLOXModeSwitchHook' else hook
    for hook in _base_.custom_hooks
]
