# The small-data schedule for training from scratch on a CPU (configs/synthetic/, configs/bccd_det/):
# AdamW (lr 0.002, weight decay 0.05, none on norms and biases), a linear warm-up over
# `warmup_epochs`, then a cosine decay to 1% of the lr that ends with the run, EMA of the weights
# over ~100 iterations (BN statistics averaged too). Batch, epochs and SyncBN belong to the derived
# config (`train_dataloader.batch_size`, `train_cfg.max_epochs`, `sync_bn = None`; a base may not
# repeat a key of another base, and default_runtime.py sets sync_bn).
#
# The cosine stage has no `end` and no `T_max`: mmengine's Runner gives a scheduler without `end`
# the train loop's max_epochs and the cosine takes T_max = end - begin, so it follows
# `train_cfg.max_epochs` of the derived config or of `--cfg-options train_cfg.max_epochs=N`.
# (A value computed here, e.g. `end=max_epochs`, would keep this file's own max_epochs.)
# A derived config that changes the warm-up restates both stages from the base:
#     warmup_epochs = 5
#     param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
#                        dict(_base_.param_scheduler[1], begin=warmup_epochs)]
#
# Batch size: BatchNorm normalizes with the statistics of the batch. With single-image samples,
# batch 4 was too small on the synthetic set: the QARepVGG model (two BNs in series per block)
# trained slower than the RepVGG one and its test-time BN statistics no longer matched the
# training ones (eval-mode loss 8x the train-mode one); batch 16 at the same cost per iteration
# fixed both (docs/configs.md, "Synthetic shapes"). YOLOv6 itself trains with 32 per GPU.
max_epochs = 30  # a default; the derived configs set their own train_cfg.max_epochs
warmup_epochs = 2
base_lr = 0.002

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    # end and T_max: the train loop's max_epochs (see above)
    dict(type='CosineAnnealingLR', eta_min_ratio=0.01, by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
# EMA momentum (1 - 0.01) * exp(-(1 + iter) / 100) + 0.01: an average over the last ~100 iterations.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.01, gamma=100, update_buffers=True, priority=49),
]
