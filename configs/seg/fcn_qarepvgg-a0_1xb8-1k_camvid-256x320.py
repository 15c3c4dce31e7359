# FCN on QARepVGG-A0 (the QARepVGG authors' FCN setup, output stride 32: _base_/models/fcn_qarepvgg-a0.py)
# on CamVid with the CPU schedule (_base_/schedules/camvid_cpu.py; output stride 8 is about 5x slower
# on a CPU: see docs/segmentation.md).
_base_ = ['./_base_/models/fcn_qarepvgg-a0.py', './_base_/datasets/camvid.py', './_base_/schedules/camvid_cpu.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size),
             decode_head=dict(num_classes=_base_.num_classes), auxiliary_head=dict(num_classes=_base_.num_classes))
