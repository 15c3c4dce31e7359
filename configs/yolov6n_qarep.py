# YOLOv6-N v3.0 with QARepVGG-v2 blocks on COCO: the quantization-friendly nano model
# (official configs/yolov6n.py with `qarepvggv2` blocks). Differs from its bases only by the
# official nano lr of 0.02 (the S/M/L schedule uses 0.01).
_base_ = [
    './_base_/models/yolov6_efficientrep.py', './_base_/datasets/coco_yolov6.py',
    './_base_/schedules/yolov6_300e.py', './_base_/default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.02))
