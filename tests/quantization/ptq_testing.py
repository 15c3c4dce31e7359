"""Models and images of the quantization tests: a tiny YOLOv6 with realistic BN statistics.

Why not just random weights: a randomly initialized network (BN gamma 1, beta 0) is chaotic, it
amplifies any perturbation layer after layer (measured on the YOLOv6-N layout at 128 px: 40 dB of
input noise comes out of the backbone at 17 dB, in FP32), so its INT8 SQNR says little about
quantization. Shifting every BN by +1 std (beta = 1) lets most ReLUs pass, closer to the ordered
regime of a trained network (the same input noise comes out at 30 dB), and running the BNs on
images gives them the statistics of real activations (``realistic_bn``). The prediction layers
get weights of unit gain, so the outputs vary around their biases instead of sitting on them.
"""
from typing import List

import numpy as np
import torch
from mmdet.registry import MODELS
from torch import Tensor, nn

from qarep_det.datasets.synthetic import render_image
from testing_utils import measure_bn

IMAGE_SIZE = 96
NUM_CLASSES = 3


def tiny_yolov6(block: str = 'QARepVGGBlockV2', reg_max: int = 0) -> nn.Module:
    """YOLOv6-N layout (depth 0.33, width 0.25), 3 classes, plain distances (``reg_max=0``) or DFL."""
    scale = dict(deepen_factor=0.33, widen_factor=0.25)
    block_cfg = dict(type=block)
    model = MODELS.build(dict(
        type='YOLOv6',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.], bgr_to_rgb=True,
                               pad_size_divisor=32),
        backbone=dict(type='EfficientRep', use_cspsppf=True, block_cfg=block_cfg, **scale),
        neck=dict(type='RepBiFPANNeck', block_cfg=block_cfg, **scale),
        bbox_head=dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=NUM_CLASSES,
                                                           widen_factor=0.25, reg_max=reg_max),
                       loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.5) if reg_max else None),
        test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.65), max_per_img=100)))
    model.bbox_head.head_module.init_weights()  # the only custom init (prior-probability biases)
    return model


def synthetic_images(num: int, size: int = IMAGE_SIZE, seed: int = 0) -> Tensor:
    """``(num, 3, size, size)`` images of the synthetic set's generator, scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    images = [render_image(rng, (size, size), 3, 0.5)[0] for _ in range(num)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def realistic_bn(model: nn.Module, batches: List[Tensor], shift: float = 1.0) -> nn.Module:
    """BN beta = ``shift``, running statistics measured on ``batches``, unit-gain prediction layers."""
    generator = torch.Generator().manual_seed(0)
    head = model.bbox_head.head_module
    for conv in list(head.cls_preds) + list(head.reg_preds):
        conv.weight.normal_(0, conv.weight[0].numel() ** -0.5, generator=generator)
    return measure_bn(model, batches, shift)
