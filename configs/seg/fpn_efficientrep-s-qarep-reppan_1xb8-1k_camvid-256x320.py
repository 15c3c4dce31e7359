# FPNHead over YOLOv6-S's EfficientRep + Rep-PAN built from QARepVGG blocks
# (_base_/models/fpn_efficientrep-s-qarep-reppan.py) on CamVid with the CPU schedule.
_base_ = ['./_base_/models/fpn_efficientrep-s-qarep-reppan.py', './_base_/datasets/camvid.py',
          './_base_/schedules/camvid_cpu.py']

model = dict(data_preprocessor=dict(size=_base_.crop_size), decode_head=dict(num_classes=_base_.num_classes))
