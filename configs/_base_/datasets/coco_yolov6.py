# COCO 2017 detection at 640x640 with YOLOv6 v3.0's augmentation (data_aug of the official
# configs/yolov6{n,s}.py): Mosaic, a centred random affine (scale 0.5..1.5, translate 0.1, no
# rotation or shear), YOLOv6's multiplicative HSV jitter (gains 0.015 / 0.7 / 0.4, always applied)
# and horizontal flip, in mmdet's MultiImageMixDataset (M/L add MixUp, see yolov6m_qarep.py).
# Evaluation letterboxes to 640 (grey 114, centred) and reports COCO bbox mAP. 32 images and 8
# workers per GPU. `eval_protocol='yolov6_640'` (e.g. `--cfg-options
# eval_protocol=yolov6_640`) evaluates as YOLOv6's `tools/eval.py --reproduce_640_eval` instead.
#
# Expected layout: data/coco/{annotations/instances_{train,val}2017.json, train2017/, val2017/}.
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
img_scale = (640, 640)  # (width, height)
backend_args = None

canvas = (2 * img_scale[0], 2 * img_scale[1])  # the mosaic canvas

# As YOLOv6: every image is first resized to fit 640 (its load_image); a sample is a 4-image Mosaic
# on a 1280 canvas, or (in the last 15 epochs, when YOLOXModeSwitchHook skips Mosaic) the single
# image centred on that canvas without scaling; YOLOv6RandomAffine then takes the central 640x640
# with a random scale and translation, as YOLOv6's random_affine does in both cases.
train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='LetterResize', scale=canvas, pad_val=114, allow_scale_up=False),
    dict(type='YOLOv6RandomAffine', max_rotate_degree=0.0, max_translate_ratio=0.1, scaling_ratio_range=(0.5, 1.5),
         max_shear_degree=0.0, border=(-img_scale[0] // 2, -img_scale[1] // 2), border_val=(114, 114, 114)),
    dict(type='YOLOv6HSVRandomAug', hue_gain=0.015, saturation_gain=0.7, value_gain=0.4),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]

train_dataset = dict(
    type='MultiImageMixDataset',
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=32),
        pipeline=[dict(type='LoadImageFromFile', backend_args=backend_args),
                  dict(type='LoadAnnotations', with_bbox=True),
                  dict(type='Resize', scale=img_scale, keep_ratio=True)],
        backend_args=backend_args),
    pipeline=train_pipeline)

# LetterResize fits the longer side to 640 (up or down, as YOLOv6's evaluation loader does before
# its letterbox) and pads centred; the head maps boxes back with pad_param and scale_factor.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LetterResize', scale=img_scale, pad_val=114),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'pad_param')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + val_dataloader['dataset']['ann_file'],  # the annotations the val loader reads
    metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator

# Evaluation protocol, applied when the runner is built (YOLOv6Runner, qarep_det/engine/runner.py):
# 'letterbox': the pipelines above and the model's test_cfg (score > 0.001), as mmdet evaluates.
# 'yolov6_640': YOLOv6's `tools/eval.py --reproduce_640_eval`, to compare a converted checkpoint with
#   the published mAP: longer side to 640 - shrink_size with INTER_AREA (YOLOv6EvalResize), centred
#   letterbox to 640, score > 0.03, NMS IoU 0.65 over all (box, class) pairs, 30000 candidates, 300
#   detections. shrink_size is per model (official eval_640_repro.py: 2 by default, N/M/L 4, S 6).
runner_type = 'YOLOv6Runner'  # also keeps the weight decay's per-GPU batch = train_dataloader.batch_size
eval_protocol = 'letterbox'
eval_protocols = dict(
    yolov6_640=dict(shrink_size=2, score_thr=0.03, iou_threshold=0.65, nms_pre=30000, max_per_img=300))
