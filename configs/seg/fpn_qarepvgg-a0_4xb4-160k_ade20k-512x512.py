# Semantic FPN on QARepVGG-A0 (_base_/models/fpn_qarepvgg-a0.py, the QARepVGG authors' FPN setup) on
# ADE20K (150 classes): mmseg's 512x512 recipe (4xb4, 160k iterations of SGD lr 0.01, momentum 0.9, weight
# decay 5e-4, poly decay; SyncBN over the GPUs), as mmseg's sem_fpn configs.
_base_ = ['./_base_/models/fpn_qarepvgg-a0.py', 'mmseg::_base_/datasets/ade20k.py', './_base_/default_runtime.py',
          'mmseg::_base_/schedules/schedule_160k.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size), decode_head=dict(num_classes=150))
