# Semantic FPN on QARepVGG-A0 (the QARepVGG authors' FPN setup: _base_/models/fpn_qarepvgg-a0.py) on
# CamVid with the CPU schedule (_base_/schedules/camvid_cpu.py).
_base_ = ['./_base_/models/fpn_qarepvgg-a0.py', './_base_/datasets/camvid.py', './_base_/schedules/camvid_cpu.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size), decode_head=dict(num_classes=_base_.num_classes))
