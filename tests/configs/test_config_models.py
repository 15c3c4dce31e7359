"""Every YOLOv6 config's model builds, trains one step and fuses without changing its outputs.

A 2-image batch (one image with two boxes, one without any) at 128x128 on CPU; the fused model
(:func:`qarep_det.reparameterize_model`) is compared with the unfused one in eval mode, after
giving every BatchNorm random statistics so that the fusion is not trivially exact.
"""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch.nn.modules.batchnorm import _BatchNorm

from qarep_det import reparameterize_model
from qarep_det.models.layers import RepModule
from testing_utils import randomize_bn, relative_error

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
SMALL = ['yolov6n_qarep.py', 'yolov6n_qarep_v1.py', 'yolov6n_repvgg.py', 'yolov6s_qarep.py', 'yolov6s_repvgg.py',
         'bccd_det/yolov6n_qarep_bccd.py', 'bccd_det/yolov6n_repvgg_bccd.py', 'synthetic/yolov6n_qarep_synthetic.py',
         'synthetic/yolov6n_repvgg_synthetic.py']
LARGE = ['yolov6m_qarep.py', 'yolov6m_repvgg.py', 'yolov6l.py']  # 38M-60M parameters
CONFIGS = SMALL + [pytest.param(name, marks=pytest.mark.slow) for name in LARGE]
SIZE = 128


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(str(CONFIG_DIR / name)).model)


def batch(num_classes: int) -> dict:
    """What the data loader hands the model: uint8 images and samples with boxes in pixels."""
    gen = torch.Generator().manual_seed(0)
    samples = []
    for boxes, labels in (([[10., 20., 60., 90.], [70., 30., 120., 64.]], [0, num_classes - 1]), ([], [])):
        sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(boxes).reshape(-1, 4), labels=torch.tensor(labels))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8, generator=gen) for _ in samples]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_model_trains_one_step_and_fuses_exactly(name: str) -> None:
    model = build(name)
    head = model.bbox_head.head_module
    model.init_weights()
    model.train()
    data = model.data_preprocessor(batch(head.num_classes), training=True)
    assert data['inputs'].shape == (2, 3, SIZE, SIZE) and 0 <= data['inputs'].min() and data['inputs'].max() <= 1
    losses = model(**data, mode='loss')
    assert set(losses) == ({'loss_cls', 'loss_bbox', 'loss_dfl'} if head.reg_max else {'loss_cls', 'loss_bbox'})
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())

    randomize_bn(model, torch.Generator().manual_seed(1))
    for conv in (*head.cls_preds, *head.reg_preds):  # init_weights zeroes them: make the outputs depend on the input
        torch.nn.init.normal_(conv.weight, std=0.01, generator=torch.Generator().manual_seed(2))
    model.eval()
    fused = reparameterize_model(model)
    assert not [m for m in fused.modules() if isinstance(m, _BatchNorm)]
    assert all(m.deploy for m in fused.modules() if isinstance(m, RepModule))
    inputs = data['inputs']
    with torch.no_grad():
        cls_scores, bbox_preds = model(inputs, mode='tensor')
        fused_cls, fused_box = fused(inputs, mode='tensor')
    strides = (8, 16, 32)
    assert [tuple(t.shape) for t in cls_scores] == [(2, head.num_classes, SIZE // s, SIZE // s) for s in strides]
    assert [t.shape[1] for t in bbox_preds] == [4 * (head.reg_max + 1)] * 3
    for actual, expected in zip(fused_cls + fused_box, cls_scores + bbox_preds):
        assert relative_error(actual, expected) < 1e-4
