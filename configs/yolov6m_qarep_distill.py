# Step 2 of the YOLOv6 v3.0 M recipe: self-distillation from the step-1 model (official
# `tools/train.py --distill --teacher_model_path ...`, batch 256 as yolov6m_qarep.py). Differs from
# yolov6m_qarep.py by the teacher (the step-1 checkpoint of yolov6m_qarep_fuseab.py) and the
# distillation terms on the DFL head's own outputs (official loss_distill.py): class and DFL KL
# divergence at temperature 20, weights 0.8 / 1.0 (official configs/yolov6m.py distill_weight),
# decaying with a cosine from 1 to 0.01 over the 300 epochs; see yolov6n_qarep_distill.py.
_base_ = './yolov6m_qarep.py'

model = dict(
    teacher_ckpt='work_dirs/yolov6m_qarep_fuseab/epoch_300.pth',
    bbox_head=dict(distill=dict(temperature=20, cls_weight=0.8, dfl_weight=1.0)))
