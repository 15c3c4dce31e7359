# CamVid (Brostow et al., 2009; the 11-class SegNet split): 367 training and 101 validation images
# of 480x360, labels 0..10 and void 11 (loaded as 255, the ignore index of mmseg's losses and
# IoUMetric; see qarep_det/datasets/camvid.py). The folder is $QAREP_CAMVID, by default
# ../shared/datasets/camvid next to the repository (never copied into it). Training: mmseg's
# Cityscapes augmentation (random rescale 0.5-2.0, crop with cat_max_ratio 0.75, flip, photometric
# distortion) at CamVid's size with a CPU-sized crop; validation and test on the full 480x360 images.
dataset_type = 'CamVidDataset'
data_root = '{{$QAREP_CAMVID:{{fileDirname}}/../../../../../shared/datasets/camvid}}'
num_classes = 11
crop_size = (256, 320)  # (h, w); multiples of 32 for the Rep-PAN neck
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),  # a bad label file: one line naming it
    dict(type='RandomResize', scale=(480, 360), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/train', seg_map_path='labels/train'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/val', seg_map_path='labels/val'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])  # ignore_index=255: void is not scored
test_evaluator = val_evaluator
