# Step 1 of the YOLOv6 v3.0 M recipe: yolov6m_qarep.py trained with the anchor-aided branch (official
# `tools/train.py --fuse_ab` as docs/Train_coco_data.md runs it, batch 256). Differs from
# yolov6m_qarep.py by the anchor-based branch (3 anchors per location, task-aligned assigner with
# top 26, the same VariFocal / GIoU losses, no DFL), which runs only in training: this config also
# tests and deploys its checkpoints. See yolov6n_qarep_fuseab.py.
_base_ = './yolov6m_qarep.py'

anchors = [[10, 13, 19, 19, 33, 23], [30, 61, 59, 59, 59, 119], [116, 90, 185, 185, 373, 326]]

model = dict(
    bbox_head=dict(head_module=dict(num_anchors=3), anchors=anchors),
    train_cfg=dict(anchor_aided_assigner=dict(type='BatchTaskAlignedAssigner', topk=26, alpha=1.0, beta=6.0)))
