# MMSegmentation's own BiSeNetV2 (Yu et al., IJCV 2021; mmseg 1.2.2 configs/_base_/models/bisenetv2.py,
# trained from scratch as in mmseg's bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py) on CamVid with the
# same CPU schedule as every CamVid config here: the reference the Rep models are compared with. Only
# the classes and plain BN change (mmseg's heads use SyncBN; the CPU schedule trains without it).
_base_ = ['mmseg::_base_/models/bisenetv2.py', './_base_/datasets/camvid.py', './_base_/schedules/camvid_cpu.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    decode_head=dict(num_classes=_base_.num_classes, norm_cfg=norm_cfg),
    auxiliary_head=[dict(head, num_classes=_base_.num_classes, norm_cfg=norm_cfg)
                    for head in _base_.model.auxiliary_head])
