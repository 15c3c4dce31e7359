"""The fused FP32 deployment: channels_last TorchScript that reproduces the eager model, also for heads
whose layers stay outside the graph."""
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config

from qarep_det import reparameterize_model
from qarep_det.ptq.evaluation import memory_format
from qarep_det.quantization import deploy_fused, load_deployed, save_deployed
from qarep_det.quantization.tasks.detection import DeployedDetector

from ptq_testing import IMAGE_SIZE, NUM_CLASSES

YOLOV6_CFG = dict(type='YOLOv6', data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.],
                                                        std=[255., 255., 255.], bgr_to_rgb=True, pad_size_divisor=32),
                  bbox_head=dict(type='YOLOv6Head', head_module=dict(type='YOLOv6HeadModule', num_classes=NUM_CLASSES,
                                                                     widen_factor=0.25, reg_max=0)),
                  test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.65),
                                max_per_img=100))


def samples(num: int, height: int, width: int) -> list:
    return [DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width), scale_factor=(1., 1.)))
            for _ in range(num)]


def assert_same_outputs(expected: tuple, actual: tuple, atol: float) -> None:
    flat_expected = [t for level in expected for t in level]
    flat_actual = [t for level in actual for t in level]
    assert len(flat_expected) == len(flat_actual) > 0
    for e, a in zip(flat_expected, flat_actual):
        assert e.shape == a.shape and torch.allclose(e, a, atol=atol), (e - a).abs().max()


def test_fused_yolov6_file_reproduces_the_unfused_model(yolov6_model, test_images, tmp_path) -> None:
    deployed = deploy_fused(yolov6_model)
    assert type(deployed) is DeployedDetector and memory_format(deployed) == 'channels_last'
    assert memory_format(yolov6_model) == 'contiguous'  # the training model is left as it was
    path = save_deployed(deployed, tmp_path, YOLOV6_CFG, test_images[:1])
    assert path.name == 'model_fp32.pt'
    loaded = load_deployed(path)
    assert type(loaded) is DeployedDetector and not loaded.quantized
    assert loaded.info == dict(task='detection', model='YOLOv6', graph='fp32_fused')
    images = torch.rand(3, 3, 64, 128)  # another batch size and resolution than traced
    with torch.no_grad():
        assert_same_outputs(yolov6_model(images, mode='tensor'), loaded(images, mode='tensor'), atol=1e-4)
        expected = reparameterize_model(yolov6_model).predict(test_images, samples(2, IMAGE_SIZE, IMAGE_SIZE))
        actual = loaded.predict(test_images, samples(2, IMAGE_SIZE, IMAGE_SIZE))
    for e, a in zip(expected, actual):
        assert len(e.pred_instances) == len(a.pred_instances) > 0
        assert torch.allclose(e.pred_instances.bboxes, a.pred_instances.bboxes, atol=1e-3)


def test_fused_retinanet_keeps_its_head_layers_in_the_file(repo_root, tmp_path) -> None:
    cfg = Config.fromfile(str(repo_root / 'configs' / 'retinanet_qarepvgg-a0_fpn_coco.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    images = torch.rand(1, 3, 96, 128)
    loaded = load_deployed(save_deployed(deploy_fused(model), tmp_path, cfg.model, images))
    with torch.no_grad():
        expected, actual = model(images, mode='tensor'), loaded(images, mode='tensor')
    assert len(expected) == len(actual) == 2  # cls_scores, bbox_preds: the head layers ran inside the file
    assert_same_outputs(expected, actual, atol=1e-4)
