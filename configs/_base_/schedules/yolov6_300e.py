# The YOLOv6 v3.0 COCO schedule (solver of the official configs/yolov6{s,m,l}.py; N uses lr 0.02)
# as the official trainer applies it: SGD with Nesterov momentum in YOLOv6's three parameter groups
# (BN weights and all biases without weight decay, other weights with it; BottleRep's `alpha` in
# no group, i.e. fixed at 1.0), the weight decay scaled by total batch / 64 (5e-4 -> 2e-3 at 256),
# the loss scaled by the number of processes under DDP (emulated exactly as lr x W, weight decay / W),
# a warm-up of max(3 epochs, 1000 iters) with the bias lr starting at 0.1 and the others at 0 and the
# momentum 0.8 -> 0.937, then a cosine over all 300 epochs to 1% of the lr, stepped once per epoch;
# EMA of the weights, Mosaic dropped for the last 15 epochs. Batch: 8 GPUs x 32 images (total 256).
# See YOLOv6OptimWrapperConstructor, YOLOv6LR and YOLOv6Momentum (qarep_det/engine/optimizers.py).
max_epochs = 300
num_last_epochs = 15  # without Mosaic (YOLOv6 v3.0 stop_aug_last_n_epoch)
warmup_epochs = 3
base_lr = 0.01

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# paramwise_cfg.batch_size_per_gpu is the per-GPU batch of the weight-decay scaling (times the world
# size); the COCO configs' YOLOv6Runner sets it to train_dataloader.batch_size.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='YOLOv6OptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.937, weight_decay=5e-4, nesterov=True),
    paramwise_cfg=dict(batch_size_per_gpu=32, nominal_batch_size=64, scale_loss_by_world_size=True))

# Both act every iteration (convert_to_iter_based gives them the iterations per epoch) to the end.
param_scheduler = [
    dict(type='YOLOv6LR', max_epochs=max_epochs, warmup_epochs=warmup_epochs, min_warmup_iters=1000,
         warmup_bias_lr=0.1, lrf=0.01, by_epoch=True, convert_to_iter_based=True),
    dict(type='YOLOv6Momentum', warmup_epochs=warmup_epochs, min_warmup_iters=1000, warmup_momentum=0.8,
         by_epoch=True, convert_to_iter_based=True),
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

# `tools/train.py --auto-scale-lr` scales the lr by (total batch) / 256 (mmengine's rule; YOLOv6 scales
# its lr by the per-GPU batch / 32 and gets the world-size factor from the loss scale above).
auto_scale_lr = dict(enable=False, base_batch_size=256)
