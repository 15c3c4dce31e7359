# YOLOv6-N (QARepVGG-v2 blocks) on the project's synthetic shapes set (3 classes): the demo and
# test model. Differs from the COCO model by the 3 classes, the synthetic data (see
# _base_/datasets/synthetic_yolov6.py) read at 128x128 instead of its 256x256, and the small-data
# schedule (_base_/schedules/small_data_adamw.py): batch 16, 80 epochs (10 iters each, 800 in all),
# AdamW lr 0.002 with 8 epochs (80 iters) of warm-up and a cosine to 1%, EMA over ~100 iters,
# validation every 20 epochs, no SyncBN. About 7 minutes on one CPU core.
# Why batch 16 at 128 instead of batch 4 at 256 (the same work per iteration): at batch 4 the
# QARepVGG model's BN statistics were too noisy (it trained slower than RepVGG and its test-time
# statistics drifted: 0.012 mAP@0.5 against 0.051 after 320 iterations); at 128 the budget buys
# 800 iterations of batch 16 rather than 200 at 256 (0.097 / 0.336 mAP@0.5 for QARepVGG / RepVGG at
# 256, 0.644 / 0.589 here). The figures are in docs/configs.md ("Synthetic shapes").
# Make the data first: python tools/make_synthetic.py data/synthetic
_base_ = ['../_base_/models/yolov6_efficientrep.py', '../_base_/datasets/synthetic_yolov6.py',
          '../_base_/schedules/small_data_adamw.py', '../_base_/default_runtime.py']

img_scale = (128, 128)  # (width, height)
max_epochs = 80
warmup_epochs = 8

model = dict(bbox_head=dict(head_module=dict(num_classes=3)))

# The set's pipelines with the letterbox at img_scale (the 256x256 images are scaled down).
train_pipeline = [dict(t, scale=img_scale) if t.type == 'LetterResize' else t for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=img_scale) if t.type == 'LetterResize' else t for t in _base_.test_pipeline]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=20)
param_scheduler = [dict(_base_.param_scheduler[0], end=warmup_epochs),
                   dict(_base_.param_scheduler[1], begin=warmup_epochs)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=20, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=16)
sync_bn = None
