# Step 1 of the YOLOv6 v3.0 N recipe: yolov6n_qarep.py trained with the anchor-aided branch (official
# `tools/train.py --fuse_ab` as docs/Train_coco_data.md runs it; step 2, self-distillation, starts
# from its checkpoint). Differs from yolov6n_qarep.py by
# - a DFL head (reg_max 16, DFL loss weight 0.5): the official step 1 "use_dfl=True, reg_max=16";
# - the anchor-based branch: 3 anchors per location (official anchors_init, pixels), its own
#   task-aligned assigner (top 26) and the same VariFocal / SIoU losses, added to the anchor-free
#   ones; it runs only in training (prediction, `mode='tensor'`, fusion and PTQ see the anchor-free
#   outputs), so this config also tests and deploys its checkpoints;
# - the official step-1 batch of 128 (8 GPUs x 16) with its lr rule 0.02 x 16 / 32 = 0.01 (the
#   weight decay follows the batch: 5e-4 x 128 / 64).
_base_ = './yolov6n_qarep.py'

anchors = [[10, 13, 19, 19, 33, 23], [30, 61, 59, 59, 59, 119], [116, 90, 185, 185, 373, 326]]

model = dict(
    bbox_head=dict(
        head_module=dict(reg_max=16, num_anchors=3),
        anchors=anchors,
        loss_dfl=dict(_delete_=True, type='DistributionFocalLoss', reduction='sum', loss_weight=0.5)),
    train_cfg=dict(anchor_aided_assigner=dict(type='BatchTaskAlignedAssigner', topk=26, alpha=1.0, beta=6.0)))

train_dataloader = dict(batch_size=16)
optim_wrapper = dict(optimizer=dict(lr=0.01), paramwise_cfg=dict(batch_size_per_gpu=16))
