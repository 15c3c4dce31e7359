# FCN (Long et al., CVPR 2015) on QARepVGG-A0, following the QARepVGG authors' segmentation setup
# (github.com/cxxgtxy/QARepVGG, segmentation/configs/): their _base_/models/fcn_r50-d8.py with the
# backbone swapped, as in fcn_qarepa0_512x1024_80k_cityscapes.py: the decode head on the last stage
# (1280 channels; 512 wide, two 3x3 convs, input concatenated, dropout 0.1) and an auxiliary FCN head
# on stage 3 (192 channels; 256 wide, one conv, loss weight 0.4). Output stride 32: their backbone
# keeps its classification strides (even in the configs named -d8); their _s1 configs
# (fcn_qarepa0_s1_*.py) set strides (2, 2, 1, 1), output stride 8 without dilation, which the
# *-s8_* configs here do (backbone=dict(strides=(2, 2, 1, 1))). Their blocks are their
# QARepVGGBlockV2 = our QARepVGGBlock (the default of QARepVGG). They start from ImageNet weights
# (pretrained='pretrained/QARepVGGA0.pth'); set model.backbone.init_cfg=dict(type='Pretrained',
# checkpoint=...) to do the same.
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on GPUs through the runtime's sync_bn
data_preprocessor = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='QARepVGG', arch='A0', out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=1280, in_index=3, channels=512, num_convs=2, concat_input=True,
                     dropout_ratio=0.1, num_classes=19, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(type='FCNHead', in_channels=192, in_index=2, channels=256, num_convs=1, concat_input=False,
                        dropout_ratio=0.1, num_classes=19, norm_cfg=norm_cfg, align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
