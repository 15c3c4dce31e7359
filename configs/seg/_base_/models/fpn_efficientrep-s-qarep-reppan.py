# YOLOv6-S's EfficientRep backbone and Rep-PAN neck (Li et al., 2022, Sec. 2.1; depth 0.33, width 0.5)
# built from QARepVGG blocks, with mmseg's FPNHead (Kirillov et al., CVPR 2019) over the neck's three
# outputs (64, 128, 256 channels at strides 8, 16, 32): the neck already fuses the levels, so no FPN.
# The QARepVGG authors have no such config; head width and loss follow fpn_qarepvgg-a0.py. Inputs are
# padded to multiples of 32 in testing (the neck upsamples by 2 and concatenates; mmseg crops the
# predictions back); training crops are multiples of 32.
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN on GPUs through the runtime's sync_bn
deepen_factor = 0.33
widen_factor = 0.5
block_cfg = dict(type='QARepVGGBlock')
data_preprocessor = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True, pad_val=0, seg_pad_val=255, test_cfg=dict(size_divisor=32))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='EfficientRep', deepen_factor=deepen_factor, widen_factor=widen_factor, block_cfg=block_cfg,
                  out_indices=(1, 2, 3), norm_cfg=norm_cfg),
    neck=dict(type='RepPANNeck', deepen_factor=deepen_factor, widen_factor=widen_factor, block_cfg=block_cfg,
              norm_cfg=norm_cfg),
    decode_head=dict(type='FPNHead', in_channels=[64, 128, 256], in_index=[0, 1, 2], feature_strides=[8, 16, 32],
                     channels=128, dropout_ratio=0.1, num_classes=19, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
