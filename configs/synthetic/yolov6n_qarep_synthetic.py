# YOLOv6-N (QARepVGG-v2 blocks) on the project's synthetic shapes set (3 classes, 256x256): the
# demo and test model. Differs from the COCO model by the 3 classes, the synthetic data (see
# _base_/datasets/synthetic_yolov6.py) and a schedule that learns from scratch in ~10 CPU minutes:
# 30 epochs of batch 4 over 160 images (1200 iters), AdamW lr 0.002 (weight decay 0.05, none on
# norms and biases) with 2 epochs of linear warm-up and cosine decay to 1%, EMA over ~100 iters,
# validation every 10 epochs, no SyncBN. (YOLOv6's SGD recipe, lr 0.02 at batch 8, reached only
# 0.2% mAP after 300 iterations here; AdamW 1.1%, and 5.7% after 800 iterations at batch 4.)
# Make the data first: python tools/make_synthetic.py data/synthetic
_base_ = ['../_base_/models/yolov6_efficientrep.py', '../_base_/datasets/synthetic_yolov6.py',
          '../_base_/default_runtime.py']

max_epochs = 30
warmup_epochs = 2

model = dict(bbox_head=dict(head_module=dict(num_classes=3)))
train_dataloader = dict(batch_size=4)

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
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
# EMA momentum (1 - 0.01) * exp(-(1 + iter) / 100) + 0.01: an average over the last ~100 iterations.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.01, gamma=100, update_buffers=True, priority=49),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=4)
sync_bn = None
