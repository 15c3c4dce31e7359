# Step 2 of the YOLOv6 v3.0 L recipe: self-distillation from the step-1 model (official
# `tools/train.py --distill --teacher_model_path ...`). Differs from yolov6l.py by the teacher (the
# step-1 checkpoint of yolov6l_fuseab.py), the distillation terms on the DFL head's own outputs,
# weights 2.0 / 1.0 (official configs/yolov6l.py distill_weight), temperature 20, and the official
# distillation batch of 128 (8 GPUs x 16) with lr 0.01 x 16 / 32 = 0.005 (the weight decay follows
# the batch: 5e-4 x 128 / 64); see yolov6n_qarep_distill.py.
_base_ = './yolov6l.py'

model = dict(
    teacher_ckpt='work_dirs/yolov6l_fuseab/epoch_300.pth',
    bbox_head=dict(distill=dict(temperature=20, cls_weight=2.0, dfl_weight=1.0)))

train_dataloader = dict(batch_size=16)
optim_wrapper = dict(optimizer=dict(lr=0.005), paramwise_cfg=dict(batch_size_per_gpu=16))
