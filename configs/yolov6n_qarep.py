# YOLOv6-N v3.0 with QARepVGG-v2 blocks on COCO: the quantization-friendly nano model
# (official configs/yolov6n.py with `qarepvggv2` blocks). Differs from its bases by the official
# nano lr of 0.02 (the S/M/L schedule uses 0.01), per-GPU BatchNorm (no SyncBN, as the official
# trainer) and the nano shrink of the `yolov6_640` evaluation protocol.
_base_ = [
    './_base_/models/yolov6_efficientrep.py', './_base_/datasets/coco_yolov6.py',
    './_base_/schedules/yolov6_300e.py', './_base_/default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.02))
# The official SIoU: gamma = angle_cost - 2 (yolov6/utils/figure_iou.py), mmdet's neg_gamma=True.
model = dict(bbox_head=dict(loss_bbox=dict(neg_gamma=True)))
sync_bn = None  # per-GPU BatchNorm statistics, as the official trainer (plain DDP, no SyncBN)

# `eval_protocol='yolov6_640'` shrinks the longer side by 4 (official eval_640_repro.py).
eval_protocols = dict(yolov6_640=dict(shrink_size=4))
