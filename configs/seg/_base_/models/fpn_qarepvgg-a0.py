# Semantic FPN (Kirillov et al., CVPR 2019: mmseg's FPN neck + FPNHead) on QARepVGG-A0, following the
# QARepVGG authors' setup (github.com/cxxgtxy/QARepVGG, segmentation/configs/fpn_qarepa0_512x512_80k_ade20k.py
# over their _base_/models/fpn_r50.py): output stride 32 (default strides), all four stages
# (48, 96, 192, 1280 channels) into a 256-wide FPN with 4 outputs, FPNHead 128 wide at strides 4..32.
# Blocks and ImageNet initialization as in fcn_qarepvgg-a0-s8.py.
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on GPUs through the runtime's sync_bn
data_preprocessor = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='QARepVGG', arch='A0', out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg),
    neck=dict(type='FPN', in_channels=[48, 96, 192, 1280], out_channels=256, num_outs=4),
    decode_head=dict(type='FPNHead', in_channels=[256, 256, 256, 256], in_index=[0, 1, 2, 3],
                     feature_strides=[4, 8, 16, 32], channels=128, dropout_ratio=0.1, num_classes=19,
                     norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
