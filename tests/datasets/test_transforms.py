"""LetterResize and YOLOv6RandomAffine: exact shapes, pad values, scale factors, box mapping.

The reference letterbox below is the official YOLOv6 ``letterbox`` (yolov6/data/data_augment.py,
``auto=False``) written out: cv2 INTER_LINEAR resize to ``round(side * r)``, then
``top = round(dh - 0.1)``, ``bottom = round(dh + 0.1)`` for ``dh = padding / 2``, grey 114.
"""
import cv2
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from qarep_det.datasets.transforms import LetterResize, YOLOv6RandomAffine


def gradient_image(height: int, width: int) -> np.ndarray:
    """A uint8 BGR image whose three channels differ (so a per-channel padding bug shows)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 7 % 256, yy * 5 % 256, (xx + yy) * 3 % 256], axis=-1).astype(np.uint8)


def yolov6_letterbox(img: np.ndarray, new_shape: tuple, scaleup: bool = True) -> np.ndarray:
    shape = img.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def letterbox(img: np.ndarray, boxes=None, **kwargs) -> dict:
    results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    if boxes is not None:
        results['gt_bboxes'] = HorizontalBoxes(np.asarray(boxes, dtype=np.float32))
    return LetterResize(**kwargs)(results)


def test_landscape_image_is_scaled_to_the_width_and_padded_top_and_bottom_with_114() -> None:
    img = gradient_image(30, 40)
    out = letterbox(img, boxes=[[10, 5, 20, 15], [0, 0, 40, 30]], scale=(64, 51))  # r = min(51/30, 64/40) = 1.6
    assert out['img'].shape == (51, 64, 3) and out['img_shape'] == (51, 64)
    assert out['scale_factor'] == (1.6, 1.6)  # 40 -> 64, 30 -> 48
    np.testing.assert_array_equal(out['pad_param'], [1, 2, 0, 0])  # 51 - 48 = 3 rows: 1 on top, 2 below
    assert out['pad_param'].dtype == np.float32
    assert (out['img'][0] == 114).all() and (out['img'][49:] == 114).all()  # every channel, not just the first
    np.testing.assert_array_equal(out['img'][1:49], cv2.resize(img, (64, 48), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[16, 9, 32, 25], [0, 1, 64, 49]])
    np.testing.assert_allclose(out['homography_matrix'], [[1.6, 0, 0], [0, 1.6, 1], [0, 0, 1]], rtol=1e-6)


def test_portrait_image_is_padded_left_and_right() -> None:
    out = letterbox(gradient_image(40, 20), boxes=[[2, 4, 12, 36]], scale=32)  # r = min(32/40, 32/20) = 0.8
    assert out['img'].shape == (32, 32, 3)
    assert out['scale_factor'] == (0.8, 0.8)  # 20 -> 16, 40 -> 32
    np.testing.assert_array_equal(out['pad_param'], [0, 0, 8, 8])
    assert (out['img'][:, :8] == 114).all() and (out['img'][:, 24:] == 114).all()
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[9.6, 3.2, 17.6, 28.8]], rtol=1e-6)


def test_without_scale_up_a_small_image_is_only_padded() -> None:
    img = gradient_image(30, 40)
    out = letterbox(img, scale=(64, 64), allow_scale_up=False)
    assert out['scale_factor'] == (1.0, 1.0)
    np.testing.assert_array_equal(out['pad_param'], [17, 17, 12, 12])
    np.testing.assert_array_equal(out['img'][17:47, 12:52], img)
    assert out['img'].sum() == img.sum() + 114 * 3 * (64 * 64 - 30 * 40)


def test_scale_factor_is_the_actual_per_axis_ratio_after_rounding() -> None:
    out = letterbox(gradient_image(33, 50), scale=(64, 64))  # r = 1.28: 50 -> 64, 33 -> round(42.24) = 42
    assert out['scale_factor'] == (64 / 50, 42 / 33)
    np.testing.assert_array_equal(out['pad_param'], [11, 11, 0, 0])


@pytest.mark.parametrize('shape, scale, scale_up', [
    ((480, 640), (416, 416), True), ((640, 480), (640, 640), True), ((17, 101), (64, 48), True),
    ((33, 50), (64, 64), True), ((30, 40), (64, 51), False), ((300, 200), (128, 96), False)])
def test_image_equals_the_official_yolov6_letterbox(shape, scale, scale_up) -> None:
    img = gradient_image(*shape)
    out = letterbox(img, scale=scale, allow_scale_up=scale_up)
    np.testing.assert_array_equal(out['img'], yolov6_letterbox(img, (scale[1], scale[0]), scaleup=scale_up))


@pytest.mark.parametrize('shape, scale', [((480, 640), (416, 416)), ((17, 101), (64, 48)), ((300, 200), (96, 128))])
def test_boxes_mapped_back_with_pad_param_and_scale_factor_equal_the_originals(shape, scale) -> None:
    rng = np.random.default_rng(0)
    height, width = shape
    xy = rng.uniform(0, 1, (20, 2, 2)) * (width, height)
    boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
    out = letterbox(gradient_image(*shape), boxes=boxes, scale=scale)
    top, _, left, _ = out['pad_param']
    w_scale, h_scale = out['scale_factor']
    back = (out['gt_bboxes'].tensor.numpy() - [left, top, left, top]) / [w_scale, h_scale, w_scale, h_scale]
    np.testing.assert_allclose(back, boxes, rtol=1e-5, atol=1e-3)


def test_letterresize_rejects_masks_and_bad_scales() -> None:
    with pytest.raises(ValueError, match='gt_masks'):
        LetterResize(scale=32)(dict(img=gradient_image(8, 8), gt_masks=object()))
    with pytest.raises(ValueError, match='positive'):
        LetterResize(scale=(0, 32))


def affine(img: np.ndarray, boxes, **kwargs) -> dict:
    """YOLOv6RandomAffine without rotation or shear; ``kwargs`` fix the scale, translation and border."""
    kwargs = dict(max_rotate_degree=0.0, max_shear_degree=0.0, max_translate_ratio=0.0, **kwargs)
    results = dict(img=img, img_shape=img.shape[:2], gt_bboxes=HorizontalBoxes(np.asarray(boxes, dtype=np.float32)),
                   gt_bboxes_labels=np.arange(len(boxes)), gt_ignore_flags=np.zeros(len(boxes), dtype=bool))
    return YOLOv6RandomAffine(**kwargs)(results)


def test_affine_with_unit_scale_and_no_border_is_the_identity() -> None:
    img = gradient_image(48, 64)
    out = affine(img, [[5, 6, 30, 40]], scaling_ratio_range=(1.0, 1.0))
    np.testing.assert_array_equal(out['img'], img)
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[5, 6, 30, 40]])


def test_affine_with_negative_border_takes_the_central_crop_and_filters_boxes() -> None:
    img = gradient_image(128, 128)  # a mosaic canvas of 2 x 64
    boxes = [[40, 40, 60, 60],  # inside the central 64 x 64 [32, 96): shifted by -32
             [20, 40, 40, 60],  # 8 of 20 px wide remain: 40% of the area, kept and clipped
             [10, 40, 34, 60],  # 2 px wide remain: dropped (sides must exceed 2 px)
             [0, 0, 30, 30]]  # wholly outside: dropped
    out = affine(img, boxes, scaling_ratio_range=(1.0, 1.0), border=(-32, -32))
    assert out['img'].shape == (64, 64, 3) and out['img_shape'] == (64, 64)
    np.testing.assert_array_equal(out['img'], img[32:96, 32:96])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[8, 8, 28, 28], [0, 8, 8, 28]])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 1])
    assert out['gt_ignore_flags'].tolist() == [False, False]


def test_affine_scales_about_the_centre_and_drops_mostly_hidden_boxes() -> None:
    img = np.full((64, 64, 3), 50, dtype=np.uint8)
    boxes = [[27, 27, 37, 37],  # around the centre (32, 32): doubled about it
             [0, 20, 9, 30]]  # x 0..9 -> -32..-14: outside after doubling
    out = affine(img, boxes, scaling_ratio_range=(2.0, 2.0))
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[22, 22, 42, 42]])
    assert (out['img'] == 50).all()  # the centre half fills the whole output

    half = affine(img, [[0, 0, 64, 64]], scaling_ratio_range=(0.5, 0.5))
    np.testing.assert_allclose(half['gt_bboxes'].tensor.numpy(), [[16, 16, 48, 48]])
    assert (half['img'][:15] == 114).all() and (half['img'][17:47, 17:47] == 50).all()


def test_affine_keeps_a_box_by_its_visible_fraction_of_the_warped_area() -> None:
    img = gradient_image(64, 64)
    boxes = [[-18, 10, 2.5, 30],  # 2.5 x 20 of 20.5 x 20 visible: 12.2%
             [-10, 40, 2.5, 60]]  # 2.5 x 20 of 12.5 x 20 visible: 20%
    out = affine(img, boxes, scaling_ratio_range=(1.0, 1.0), min_area_ratio=0.1)
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[0, 10, 2.5, 30], [0, 40, 2.5, 60]])
    strict = affine(img, boxes, scaling_ratio_range=(1.0, 1.0), min_area_ratio=0.15)
    np.testing.assert_allclose(strict['gt_bboxes'].tensor.numpy(), [[0, 40, 2.5, 60]])
    assert strict['gt_bboxes_labels'].tolist() == [1]


def test_affine_translation_moves_the_centre_by_at_most_the_ratio() -> None:
    transform = YOLOv6RandomAffine(max_rotate_degree=0.0, max_shear_degree=0.0, scaling_ratio_range=(1.0, 1.0),
                                   max_translate_ratio=0.1)
    shifts = np.array([transform.centred_homography((64, 64), (64, 64))[:2, 2] for _ in range(200)])
    assert np.abs(shifts).max() <= 6.4 + 1e-5 and np.abs(shifts).max() > 5  # 0.1 x 64 pixels
