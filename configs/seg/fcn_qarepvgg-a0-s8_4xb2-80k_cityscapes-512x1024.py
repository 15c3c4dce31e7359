# FCN on QARepVGG-A0 at output stride 8 (_base_/models/fcn_qarepvgg-a0.py with the strides of the
# QARepVGG authors' fcn_qarepa0_s1_* configs) on Cityscapes (19 classes): mmseg's 512x1024 recipe (4xb2, 80k
# iterations of SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly decay; SyncBN over the GPUs).
_base_ = ['./_base_/models/fcn_qarepvgg-a0.py', 'mmseg::_base_/datasets/cityscapes.py', './_base_/default_runtime.py',
          'mmseg::_base_/schedules/schedule_80k.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size), backbone=dict(strides=(2, 2, 1, 1)))
