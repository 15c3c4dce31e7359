# Step 1 of the YOLOv6 v3.0 S recipe: yolov6s_qarep.py trained with the anchor-aided branch (official
# `tools/train.py --fuse_ab` as docs/Train_coco_data.md runs it, batch 256 as yolov6s_qarep.py).
# Differs from yolov6s_qarep.py by a DFL head (reg_max 16, DFL loss weight 0.5: the official step 1
# "use_dfl=True, reg_max=16") and the anchor-based branch (3 anchors per location, task-aligned
# assigner with top 26, the same VariFocal / GIoU losses), which runs only in training: this config
# also tests and deploys its checkpoints. See yolov6n_qarep_fuseab.py.
_base_ = './yolov6s_qarep.py'

anchors = [[10, 13, 19, 19, 33, 23], [30, 61, 59, 59, 59, 119], [116, 90, 185, 185, 373, 326]]

model = dict(
    bbox_head=dict(
        head_module=dict(reg_max=16, num_anchors=3),
        anchors=anchors,
        loss_dfl=dict(_delete_=True, type='DistributionFocalLoss', reduction='sum', loss_weight=0.5)),
    train_cfg=dict(anchor_aided_assigner=dict(type='BatchTaskAlignedAssigner', topk=26, alpha=1.0, beta=6.0)))
