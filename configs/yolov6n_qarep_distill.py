# Step 2 of the YOLOv6 v3.0 N recipe: self-distillation from the step-1 model (official
# `tools/train.py --distill --teacher_model_path ...` as docs/Train_coco_data.md runs it); the
# published N figure comes from this step. Differs from yolov6n_qarep.py by
# - the teacher: the step-1 checkpoint of yolov6n_qarep_fuseab.py (its config is read from the
#   checkpoint; set another with --cfg-options model.teacher_ckpt=...), run on each batch without
#   gradients and with batch BatchNorm statistics as the official trainer runs it;
# - the head's DFL branch (official effidehead_distill_ns `reg_preds_dist`, 17 bins per side) beside
#   the deployed plain distances: it is assigned to, trained with DFL (weight 0.5) and the IoU loss,
#   and distilled; prediction, fusion and PTQ see only the plain distances;
# - the distillation terms: class and DFL KL divergence at temperature 20, weights 1.0 / 1.0 (official
#   configs/yolov6n.py distill_weight), decaying with a cosine from 1 to 0.01 over the 300 epochs;
# - the official step-2 batch of 128 (8 GPUs x 16) with lr 0.02 x 16 / 32 = 0.01, as step 1.
_base_ = './yolov6n_qarep.py'

model = dict(
    teacher_ckpt='work_dirs/yolov6n_qarep_fuseab/epoch_300.pth',
    bbox_head=dict(
        head_module=dict(distill_reg_max=16),
        loss_dfl=dict(_delete_=True, type='DistributionFocalLoss', reduction='sum', loss_weight=0.5),
        distill=dict(temperature=20, cls_weight=1.0, dfl_weight=1.0)))

train_dataloader = dict(batch_size=16)
optim_wrapper = dict(optimizer=dict(lr=0.01), paramwise_cfg=dict(batch_size_per_gpu=16))
