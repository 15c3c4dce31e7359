# The CPU schedule of every CamVid config (one model in under 45 minutes on 2 cores; measured
# timings in docs/segmentation.md): mmseg's SGD recipe (lr 0.01, momentum 0.9, weight decay 5e-4,
# poly decay to 1e-4 with power 0.9, schedule_80k.py) over max_iters iterations, after a linear
# warm-up (the models start from random weights here), plain BN (no SyncBN: single process or CPU
# torchrun), validation with IoUMetric halfway and at the end, seed 0. It includes the runtime, so
# that it can turn SyncBN off.
_base_ = '../default_runtime.py'

max_iters = 1000
warmup_iters = 50
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters // 2, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
sync_bn = None  # plain BN, also under torchrun on CPU
randomness = dict(seed=0)
