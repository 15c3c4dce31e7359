# BCCD (blood cell detection, 640x480 microscopy, classes RBC/WBC/Platelets; 205/87/72 images in
# train/val/test) at 416x416, as prepared by tools/dataset_converters/prepare_bccd.py into
# data/bccd/ (COCO JSON in annotations/, JPEGImages/ a link to the read-only original).
# The COCO pipeline (coco_yolov6.py) at the test scale 416 / 640: a sample is a 4-image Mosaic
# with probability 0.5, else the single image centred on the 832 mosaic canvas; both are cropped
# to the central 416x416 with a mild random scale (cells have a fixed magnification). Flips both
# ways (microscopy has no up or down).
dataset_type = 'CocoDataset'
data_root = 'data/bccd/'
metainfo = dict(classes=('RBC', 'WBC', 'Platelets'), palette=[(220, 20, 60), (255, 255, 255), (0, 128, 255)])
img_scale = (416, 416)  # (width, height)
canvas = (2 * img_scale[0], 2 * img_scale[1])  # the mosaic canvas
backend_args = None

train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0, prob=0.5),
    dict(type='LetterResize', scale=canvas, pad_val=114, allow_scale_up=False),  # centres a single image
    dict(type='YOLOv6RandomAffine', max_rotate_degree=0.0, max_translate_ratio=0.1, scaling_ratio_range=(0.75, 1.25),
         max_shear_degree=0.0, border=(-img_scale[0] // 2, -img_scale[1] // 2), border_val=(114, 114, 114)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=[0.3, 0.3], direction=['horizontal', 'vertical']),
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
        type='MultiImageMixDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img=''),
            filter_cfg=dict(filter_empty_gt=False),
            pipeline=[dict(type='LoadImageFromFile', backend_args=backend_args),
                      dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='Resize', scale=img_scale, keep_ratio=True)],
            backend_args=backend_args),
        pipeline=train_pipeline))
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
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
# Reported figures come from the held-out test split (val selects the checkpoint): the val loader
# and evaluator on instances_test.json.
test_dataloader = dict(val_dataloader,
                       dataset=dict(val_dataloader['dataset'], ann_file='annotations/instances_test.json'))

# Each evaluator reads the annotations its loader reads.
val_evaluator = dict(type='CocoMetric', ann_file=data_root + val_dataloader['dataset']['ann_file'], metric='bbox',
                     backend_args=backend_args)
test_evaluator = dict(val_evaluator, ann_file=data_root + test_dataloader['dataset']['ann_file'])
