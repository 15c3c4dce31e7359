"""A stock MMDetection RetinaNet with a QARepVGG-A0 backbone: config, build, forward, fusion, inference."""
import numpy as np
import torch
from mmdet.apis import inference_detector, init_detector
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from qarep_det import reparameterize_model
from qarep_det.models.backbones import QARepVGG
from qarep_det.models.layers import QARepVGGBlock
from testing_utils import randomize_bn, relative_error


def test_retinanet_qarepvgg_a0_builds_runs_and_fuses(repo_root) -> None:
    cfg = Config.fromfile(str(repo_root / 'configs' / 'retinanet_qarepvgg-a0_fpn_coco.py'))
    assert cfg.model.backbone.to_dict() == dict(type='QARepVGG', arch='A0', out_indices=(1, 2, 3))  # ResNet keys gone
    assert cfg.model.neck.in_channels == [96, 192, 1280] and cfg.model.neck.num_outs == 5
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model).__name__ == 'RetinaNet' and isinstance(model.backbone, QARepVGG)
    assert sum(isinstance(m, QARepVGGBlock) for m in model.backbone.modules()) == 22
    assert model.backbone.out_channels == tuple(cfg.model.neck.in_channels)
    randomize_bn(model.backbone, torch.Generator().manual_seed(0))
    model.eval()

    inputs = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        cls_scores, bbox_preds = model(inputs, mode='tensor')
        fused_cls, fused_box = reparameterize_model(model)(inputs, mode='tensor')
    sizes = [16, 8, 4, 2, 1]  # strides 8..128
    assert [tuple(t.shape) for t in cls_scores] == [(1, 9 * 80, s, s) for s in sizes]
    assert [tuple(t.shape) for t in bbox_preds] == [(1, 9 * 4, s, s) for s in sizes]
    for fused, plain in zip(fused_cls + fused_box, cls_scores + bbox_preds):
        assert relative_error(fused, plain) < 1e-4


def test_retinanet_qarepvgg_a0_inference_through_mmdet_apis(repo_root) -> None:
    cfg = Config.fromfile(str(repo_root / 'configs' / 'retinanet_qarepvgg-a0_fpn_coco.py'))
    cfg.test_dataloader.dataset.pipeline[1].scale = (160, 96)  # small, CPU-friendly test resolution
    cfg.model.test_cfg.score_thr = 0.0  # keep detections from the untrained model
    torch.manual_seed(0)
    model = init_detector(cfg, checkpoint=None, device='cpu')
    image = np.random.default_rng(0).integers(0, 256, (60, 100, 3), dtype=np.uint8)
    result = inference_detector(model, image)
    assert result.metainfo['ori_shape'] == (60, 100)
    assert result.metainfo['img_shape'] == (96, 160)  # keep_ratio: scale factor 1.6 fits (160, 96)
    boxes = result.pred_instances.bboxes
    assert boxes.shape == (100, 4)  # max_per_img
    assert len(result.pred_instances.scores) == len(result.pred_instances.labels) == 100
    assert boxes.min() >= 0 and boxes[:, 0::2].max() <= 100 and boxes[:, 1::2].max() <= 60  # in the original image
