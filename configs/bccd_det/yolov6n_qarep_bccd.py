# YOLOv6-N (QARepVGG-v2 blocks) trained from scratch on BCCD (3 classes) on CPU: the COCO model
# with 3 classes, the BCCD data at 416 (see _base_/datasets/bccd_yolov6.py) and a short schedule of
# its own: 40 epochs of batch 8 (26 iters each, 1040 in all), AdamW lr 0.002 (weight decay 0.05,
# none on norms and biases; it learns much faster from scratch than YOLOv6's SGD on the synthetic
# set, see configs/synthetic/) with 5 epochs (130 iters) of linear warm-up instead of the official
# max(3 epochs, 1000 iters) (~38 epochs here), cosine to 1%, EMA over ~200 iters, validation every
# 5 epochs, no SyncBN. Report with tools/test.py (test split).
# Prepare the data first: python tools/dataset_converters/prepare_bccd.py
_base_ = ['../_base_/models/yolov6_efficientrep.py', '../_base_/datasets/bccd_yolov6.py',
          '../_base_/default_runtime.py']

max_epochs = 40
warmup_epochs = 5

model = dict(bbox_head=dict(head_module=dict(num_classes=3)))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]
# EMA momentum (1 - 0.005) * exp(-(1 + iter) / 200) + 0.005: an average over the last ~200 iterations.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.005, gamma=200, update_buffers=True, priority=49),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
sync_bn = None
