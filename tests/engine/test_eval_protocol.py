"""``eval_protocol='yolov6_640'``: YOLOv6's ``--reproduce_640_eval`` image preparation and thresholds.

Reference written out here from the official ``load_image(shrink_size)`` + ``letterbox(auto=False,
scaleup=False)`` (meituan/YOLOv6 v3.0 ``yolov6/data/datasets.py``, ``data_augment.py``):
``r = (640 - shrink) / max(h, w)``, ``cv2.resize`` to ``(int(w * r), int(h * r))`` with INTER_AREA
when ``r < 1`` (INTER_LINEAR otherwise), then ``top = round(dh - 0.1)``, ``bottom = round(dh + 0.1)``
grey-114 borders.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import qarep_det  # noqa: F401  (registers the transforms and the runner)
from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.datasets.transforms import YOLOv6EvalResize
from qarep_det.engine.eval_protocol import apply_eval_protocol
from qarep_det.engine.runner import YOLOv6Runner
from qarep_det.utils.errors import BadInput

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'


def official_eval_image(img: np.ndarray, shrink: int, size: int = 640) -> np.ndarray:
    h0, w0 = img.shape[:2]
    ratio = (size - shrink) / max(h0, w0)
    if ratio != 1:
        img = cv2.resize(img, (int(w0 * ratio), int(h0 * ratio)),
                         interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR)
    dh, dw = (size - img.shape[0]) / 2, (size - img.shape[1]) / 2
    top, bottom, left, right = (int(round(dh - 0.1)), int(round(dh + 0.1)), int(round(dw - 0.1)),
                                int(round(dw + 0.1)))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def pattern(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 7 % 256, yy * 5 % 256, (xx * yy) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize('shape, shrink', [((480, 640), 4), ((427, 640), 6), ((200, 301), 6), ((640, 512), 2)])
def test_eval_resize_equals_the_official_load_and_letterbox(shape, shrink) -> None:
    img = pattern(*shape)
    out = YOLOv6EvalResize(640, shrink_size=shrink)(dict(img=img.copy(), img_shape=shape, ori_shape=shape))
    np.testing.assert_array_equal(out['img'], official_eval_image(img, shrink))
    ratio = (640 - shrink) / max(shape)
    new_h, new_w = int(shape[0] * ratio), int(shape[1] * ratio)
    assert out['scale_factor'] == (new_w / shape[1], new_h / shape[0])  # YOLOv6's per-axis gains
    top, left = (640 - new_h) // 2, (640 - new_w) // 2
    np.testing.assert_array_equal(out['pad_param'], [top, 640 - new_h - top, left, 640 - new_w - left])


def test_eval_resize_numbers_for_a_640x480_image() -> None:
    boxes = HorizontalBoxes(np.array([[0, 0, 640, 480], [100, 50, 200, 150]], np.float32))
    out = YOLOv6EvalResize(640, shrink_size=4)(dict(img=np.zeros((480, 640, 3), np.uint8), img_shape=(480, 640),
                                                   gt_bboxes=boxes))
    # r = 636 / 640: 480 -> int(477.0) = 477, 640 -> 636; padding 163 rows (81 + 82) and 4 columns (2 + 2)
    assert out['img'].shape == (640, 640, 3) and out['img_shape'] == (640, 640)
    np.testing.assert_array_equal(out['pad_param'], [81, 82, 2, 2])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                               [[2, 81, 638, 558], [2 + 100 * 636 / 640, 81 + 50 * 477 / 480,
                                                    2 + 200 * 636 / 640, 81 + 150 * 477 / 480]], rtol=1e-6)
    with pytest.raises(ValueError, match='shrink_size'):
        YOLOv6EvalResize(640, shrink_size=640)


def test_apply_eval_protocol_rewrites_pipelines_and_thresholds_of_a_copy() -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / 'yolov6s_repvgg.py'))
    assert apply_eval_protocol(cfg) is cfg  # 'letterbox': the config as written
    cfg.eval_protocol = 'yolov6_640'
    applied = apply_eval_protocol(cfg)
    for loader in (applied.val_dataloader, applied.test_dataloader):
        assert [s['type'] for s in loader.dataset.pipeline] == ['LoadImageFromFile', 'YOLOv6EvalResize',
                                                                'LoadAnnotations', 'PackDetInputs']
        assert loader.dataset.pipeline[1] == dict(type='YOLOv6EvalResize', scale=(640, 640), shrink_size=6,
                                                  pad_val=114)
    assert applied.model.test_cfg == dict(nms_pre=30000, score_thr=0.03, nms=dict(type='nms', iou_threshold=0.65),
                                          max_per_img=300)
    assert cfg.model.test_cfg.score_thr == 0.001 and cfg.val_dataloader.dataset.pipeline[1].type == 'LetterResize'
    for name, shrink in (('yolov6n_qarep.py', 4), ('yolov6m_repvgg.py', 4), ('yolov6l.py', 4)):
        other = Config.fromfile(str(CONFIG_DIR / name))
        other.eval_protocol = 'yolov6_640'
        assert apply_eval_protocol(other).test_dataloader.dataset.pipeline[1].shrink_size == shrink


def test_apply_eval_protocol_bad_values_are_one_line() -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / 'yolov6n_qarep.py'))
    cfg.eval_protocol = 'yolov6_1280'
    with pytest.raises(BadInput, match="one of letterbox, yolov6_640, got 'yolov6_1280'"):
        apply_eval_protocol(cfg)
    cfg.eval_protocol = 'yolov6_640'
    cfg.eval_protocols = dict(yolov6_640=dict(shrink_size=4))
    with pytest.raises(BadInput, match='lacks score_thr, iou_threshold, nms_pre, max_per_img'):
        apply_eval_protocol(cfg)
    synthetic = Config.fromfile(str(CONFIG_DIR / 'synthetic' / 'yolov6n_qarep_synthetic.py'))
    synthetic.eval_protocol = 'yolov6_640'
    with pytest.raises(BadInput, match='lacks shrink_size'):
        apply_eval_protocol(synthetic)


def test_the_configs_runner_applies_the_protocol(monkeypatch) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / 'yolov6n_qarep.py'))
    cfg.merge_from_dict({'eval_protocol': 'yolov6_640'})  # what --cfg-options eval_protocol=yolov6_640 does
    monkeypatch.setattr(Runner, 'from_cfg', classmethod(lambda cls, c: c))  # return the config it would build
    assert cfg.runner_type == 'YOLOv6Runner'
    built = RUNNERS.build(cfg)  # as tools/train.py and tools/test.py do for a config with runner_type
    assert built.test_dataloader.dataset.pipeline[1].type == 'YOLOv6EvalResize'
    assert built.model.test_cfg.score_thr == 0.03
    assert YOLOv6Runner.from_cfg(cfg).val_dataloader.dataset.pipeline[1].shrink_size == 4


def test_the_runner_keeps_the_weight_decay_batch_equal_to_the_training_batch(monkeypatch) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / 'yolov6m_qarep.py'))
    monkeypatch.setattr(Runner, 'from_cfg', classmethod(lambda cls, c: c))
    assert YOLOv6Runner.from_cfg(cfg).optim_wrapper.paramwise_cfg.batch_size_per_gpu == 32
    cfg.merge_from_dict({'train_dataloader.batch_size': 16})  # --cfg-options train_dataloader.batch_size=16
    built = YOLOv6Runner.from_cfg(cfg)
    assert built.optim_wrapper.paramwise_cfg == dict(batch_size_per_gpu=16, nominal_batch_size=64,
                                                     scale_loss_by_world_size=True)
    assert cfg.optim_wrapper.paramwise_cfg.batch_size_per_gpu == 32  # the given config is not changed


def test_protocol_pipeline_on_images(tmp_path: Path) -> None:
    root = generate_synthetic_coco(tmp_path / 'synthetic', num_train=1, num_val=2, seed=3)['data_root']
    cfg = Config.fromfile(str(CONFIG_DIR / 'yolov6n_qarep.py'))
    cfg.eval_protocol = 'yolov6_640'
    dataset_cfg = apply_eval_protocol(cfg).test_dataloader.dataset
    dataset_cfg.update(data_root=f'{root}/', ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                       metainfo=dict(classes=('circle', 'square', 'triangle')))
    item = DATASETS.build(dataset_cfg)[0]
    meta = item['data_samples'].metainfo
    assert tuple(item['inputs'].shape) == (3, 640, 640)
    assert meta['scale_factor'] == (636 / 256, 636 / 256) and meta['ori_shape'] == (256, 256)  # 256 -> 636, linear
    np.testing.assert_array_equal(meta['pad_param'], [2, 2, 2, 2])
