# FCN on QARepVGG-A0 at output stride 8 (_base_/models/fcn_qarepvgg-a0.py with the strides of the
# QARepVGG authors' fcn_qarepa0_s1_* configs) on ADE20K (150 classes): mmseg's 512x512 recipe (4xb4, 80k
# iterations of SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly decay; SyncBN over the GPUs).
_base_ = ['./_base_/models/fcn_qarepvgg-a0.py', 'mmseg::_base_/datasets/ade20k.py', './_base_/default_runtime.py',
          'mmseg::_base_/schedules/schedule_80k.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size), backbone=dict(strides=(2, 2, 1, 1)),
             decode_head=dict(num_classes=150), auxiliary_head=dict(num_classes=150))
