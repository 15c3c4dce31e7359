# Runtime shared by every qarep_det config: mmdet's default runtime (mmdet 3.3.0
# configs/_base_/default_runtime.py) plus the plugin import, SyncBN for multi-GPU runs and
# checkpoints every 10 epochs (the COCO validation interval; the best and the last 3 are kept).
default_scope = 'mmdet'

# Importing qarep_det registers its models, transforms and hooks (and makes mmengine checkpoints
# load under torch >= 2.6).
custom_imports = dict(imports=['qarep_det'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'

# Distributed runs convert every BatchNorm to torch.nn.SyncBatchNorm (mmdet's common multi-GPU
# practice; mmengine ignores it when not distributed). The YOLOv6 COCO configs set None: the
# official trainer keeps per-GPU BN (plain DDP); so do the small-data CPU configs.
sync_bn = 'torch'

load_from = None
resume = False
