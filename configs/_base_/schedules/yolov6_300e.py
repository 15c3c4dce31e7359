# The YOLOv6 v3.0 COCO schedule (solver of the official configs/yolov6{s,m,l}.py; N uses lr 0.02):
# SGD with Nesterov momentum, no weight decay on norms and biases, linear warm-up of lr and
# momentum (0.8 -> 0.937) over 3 epochs, cosine decay to 1% of the lr, 300 epochs, EMA of the
# weights, Mosaic dropped for the last 15 epochs. Batch: 8 GPUs x 32 images (total 256).
#
# Differences from the official trainer: its warm-up is max(3 epochs, 1000 iters), which is
# 3 epochs on COCO for any total batch up to 354 (462 iters/epoch at 256), and starts the bias lr
# at 0.1; its weight decay is scaled by total_batch / 64 (x4 = 2e-3 at 256), here it is 5e-4 as
# written in its configs.
max_epochs = 300
num_last_epochs = 15  # without Mosaic (YOLOv6 v3.0 stop_aug_last_n_epoch)
warmup_epochs = 3
base_lr = 0.01

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.937, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='LinearMomentum', start_factor=0.8 / 0.937, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         T_max=max_epochs - warmup_epochs, convert_to_iter_based=True),
]

# EMA as YOLOv6's ModelEMA: decay 0.9999 * (1 - exp(-updates / 2000)), buffers (BN statistics)
# averaged too. The mode switch skips Mosaic in the MultiImageMixDataset for the last epochs
# (mmdet's PipelineSwitchHook cannot: it replaces the wrapper's pipeline but not its list of
# transform types); YOLOXModeSwitchHook also sets a `bbox_head.use_l1` flag that YOLOv6Head ignores.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=2000, update_buffers=True,
         priority=49),
    dict(type='YOLOXModeSwitchHook', num_last_epochs=num_last_epochs, skip_type_keys=('Mosaic',),
         priority=48),
]

# `tools/train.py --auto-scale-lr` scales the lr by (total batch) / 256.
auto_scale_lr = dict(enable=False, base_batch_size=256)
