# The project's synthetic shapes set (qarep_det/datasets/synthetic.py; circle/square/triangle on
# cluttered backgrounds, 256x256, 160 train / 40 val images) at 256x256, written by
# `python tools/make_synthetic.py data/synthetic`. A light single-image pipeline (no Mosaic):
# letterbox to 256 (a no-op on the set's own images), a mild centred random affine, HSV
# jitter and horizontal flips.
dataset_type = 'CocoDataset'
data_root = 'data/synthetic/'
metainfo = dict(classes=('circle', 'square', 'triangle'), palette=[(220, 20, 60), (0, 128, 255), (0, 170, 0)])
img_scale = (256, 256)  # (width, height)
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LetterResize', scale=img_scale, pad_val=114),
    dict(type='YOLOv6RandomAffine', max_rotate_degree=0.0, max_translate_ratio=0.1,
         scaling_ratio_range=(0.75, 1.25), max_shear_degree=0.0, border_val=(114, 114, 114)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LetterResize', scale=img_scale, pad_val=114),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'pad_param')),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json', metric='bbox',
                     backend_args=backend_args)
test_evaluator = val_evaluator
