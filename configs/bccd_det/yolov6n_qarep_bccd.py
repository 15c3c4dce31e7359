# YOLOv6-N (QARepVGG-v2 blocks) trained from scratch on BCCD (3 classes) on CPU: the COCO model
# with 3 classes, the BCCD data at 416 (see _base_/datasets/bccd_yolov6.py) and the small-data
# schedule (_base_/schedules/small_data_adamw.py: AdamW lr 0.002, weight decay 0.05 except on norms
# and biases, cosine to 1% ending with the run; it learns much faster from scratch than YOLOv6's SGD,
# see configs/synthetic/) with these values: 40 epochs of batch 8 (26 iters each, 1040 in all),
# 5 epochs (130 iters) of linear warm-up instead of the official max(3 epochs, 1000 iters)
# (~38 epochs here), EMA over ~200 iters, validation every 5 epochs, no SyncBN. Batch 8 is enough
# here: a sample is a 4-image Mosaic half of the time, and after 6 epochs the test-time BN
# statistics still matched the training ones (unlike batch 4 on the synthetic set).
# Report with tools/test.py (test split).
# Prepare the data first: python tools/dataset_converters/prepare_bccd.py
_base_ = ['../_base_/models/yolov6_efficientrep.py', '../_base_/datasets/bccd_yolov6.py',
          '../_base_/schedules/small_data_adamw.py', '../_base_/default_runtime.py']

max_epochs = 40
warmup_epochs = 5

model = dict(bbox_head=dict(head_module=dict(num_classes=3)))

train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
                   dict(_base_.param_scheduler[1], begin=warmup_epochs)]
# EMA momentum (1 - 0.005) * exp(-(1 + iter) / 200) + 0.005: an average over the last ~200 iterations.
custom_hooks = [dict(_base_.custom_hooks[0], momentum=0.005, gamma=200)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
sync_bn = None
