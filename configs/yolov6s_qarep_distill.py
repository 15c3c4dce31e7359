# Step 2 of the YOLOv6 v3.0 S recipe: self-distillation from the step-1 model (official
# `tools/train.py --distill --teacher_model_path ...`, batch 256 as yolov6s_qarep.py). Differs from
# yolov6s_qarep.py by the teacher (the step-1 checkpoint of yolov6s_qarep_fuseab.py), the head's
# training-only DFL branch and the distillation terms, weights 1.0 / 1.0 (official configs/yolov6s.py
# distill_weight), temperature 20; see yolov6n_qarep_distill.py.
_base_ = './yolov6s_qarep.py'

model = dict(
    teacher_ckpt='work_dirs/yolov6s_qarep_fuseab/epoch_300.pth',
    bbox_head=dict(
        head_module=dict(distill_reg_max=16),
        loss_dfl=dict(_delete_=True, type='DistributionFocalLoss', reduction='sum', loss_weight=0.5),
        distill=dict(temperature=20, cls_weight=1.0, dfl_weight=1.0)))
