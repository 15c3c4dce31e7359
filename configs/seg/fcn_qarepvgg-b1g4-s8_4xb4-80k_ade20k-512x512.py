# fcn_qarepvgg-a0-s8_4xb4-80k_ade20k-512x512.py on QARepVGG-B1g4
# (stage widths 128, 256, 512, 2048; the heads of the authors'
# fcn_qarepb1g4-d8_512x1024_80k_cityscapes.py).
_base_ = './fcn_qarepvgg-a0-s8_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(arch='B1g4'), decode_head=dict(in_channels=2048), auxiliary_head=dict(in_channels=512))
