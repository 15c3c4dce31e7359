# YOLOv6-N (QARepVGG-v2 blocks) on the project's synthetic shapes set (3 classes, 256x256): the
# demo and test model, learns something in a few CPU minutes. Differs from the COCO model by the
# 3 classes, the synthetic data (see _base_/datasets/synthetic_yolov6.py) and its own schedule:
# 15 epochs of batch 8 over 160 images (20 iters each), lr 0.02, 2 epochs (40 iters) of linear
# warm-up, cosine to 1%, EMA with a short ramp, one validation at the end, no SyncBN.
# Make the data first: python tools/make_synthetic.py data/synthetic
_base_ = ['../_base_/models/yolov6_efficientrep.py', '../_base_/datasets/synthetic_yolov6.py',
          '../_base_/default_runtime.py']

max_epochs = 15
warmup_epochs = 2

model = dict(bbox_head=dict(head_module=dict(num_classes=3)))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.937, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='LinearMomentum', start_factor=0.8 / 0.937, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=50, update_buffers=True, priority=49),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=8)
sync_bn = None
