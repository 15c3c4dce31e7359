"""YOLOv6HSVRandomAug and YOLOv6MixUp against hand computations on fixed seeds.

Reference: the official ``augment_hsv`` and ``mixup`` (meituan/YOLOv6 v3.0
``yolov6/data/data_augment.py``): gains ``U(-1, 1) * (0.015, 0.7, 0.4) + 1`` applied by lookup
tables in OpenCV's HSV; MixUp ratio ``Beta(32, 32)``, ``uint8(a * r + b * (1 - r))``.
"""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from qarep_det.datasets.yolov6_augment import YOLOv6HSVRandomAug, YOLOv6MixUp


def test_hsv_scales_the_value_of_a_grey_image_by_the_drawn_gain() -> None:
    img = np.full((4, 5, 3), 150, np.uint8)  # grey: H = S = 0, V = 150
    np.random.seed(0)
    out = YOLOv6HSVRandomAug()(dict(img=img.copy()))['img']
    np.random.seed(0)
    gain_v = np.random.uniform(-1, 1, 3)[2] * 0.4 + 1  # V's gain is the third of the three draws
    assert gain_v == pytest.approx(1.0 + 0.4 * (2 * 0.6027633760716439 - 1))
    expected = min(255, int(150 * gain_v))  # 150 * 1.0822 = 162.33 -> 162
    assert expected == 162
    np.testing.assert_array_equal(out, np.full_like(img, expected))


def test_hsv_scales_saturation_and_value_of_pure_red() -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 2] = 255  # BGR red: H = 0, S = 255, V = 255
    np.random.seed(3)
    out = YOLOv6HSVRandomAug(hue_gain=0.015, saturation_gain=0.7, value_gain=0.4)(dict(img=img.copy()))['img']
    np.random.seed(3)
    u = np.random.uniform(-1, 1, 3)
    g_s, g_v = 1 + 0.7 * u[1], 1 + 0.4 * u[2]
    s, v = min(255, int(255 * g_s)), min(255, int(255 * g_v))  # hue 0 stays 0
    # HSV -> BGR of hue 0: R = V, G = B = V * (1 - S / 255)
    expected = np.array([v * (1 - s / 255), v * (1 - s / 255), v])
    assert np.abs(out[0, 0].astype(float) - expected).max() <= 1
    assert (out == out[0, 0]).all()


def test_hsv_with_zero_gains_is_the_identity_and_draws_nothing() -> None:
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    np.random.seed(5)
    out = YOLOv6HSVRandomAug(0, 0, 0)(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(out, img)
    assert np.random.rand() == np.random.RandomState(5).rand()


def sample(value: int, boxes: list, labels: list, size: int = 8) -> dict:
    return dict(img=np.full((size, size, 3), value, np.uint8), img_shape=(size, size),
                gt_bboxes=HorizontalBoxes(np.asarray(boxes, np.float32).reshape(-1, 4)),
                gt_bboxes_labels=np.asarray(labels, np.int64), gt_ignore_flags=np.zeros(len(labels), bool))


def test_mixup_blends_with_a_beta_32_ratio_and_keeps_both_label_sets() -> None:
    dataset = [sample(200, [[1, 1, 4, 4], [2, 2, 6, 7]], [0, 2]), sample(200, [[0, 0, 3, 3]], [1])]
    mixup = YOLOv6MixUp(prob=0.1)
    np.random.seed(7)
    indexes = mixup.get_indexes(dataset)
    results = sample(100, [[5, 5, 8, 8]], [1])
    results['mix_results'] = [dataset[i] for i in indexes]
    out = mixup(results)

    rng = np.random.RandomState(7)
    assert rng.rand() < 0.1  # this seed mixes
    index = rng.randint(0, 2)
    ratio = rng.beta(32.0, 32.0)
    assert indexes == [index]
    expected = int(100 * ratio + 200 * (1 - ratio))
    np.testing.assert_array_equal(out['img'], np.full((8, 8, 3), expected, np.uint8))
    other = dataset[index]
    np.testing.assert_array_equal(out['gt_bboxes'].tensor.numpy(),
                                  np.concatenate([[[5, 5, 8, 8]], other['gt_bboxes'].tensor.numpy()]))
    np.testing.assert_array_equal(out['gt_bboxes_labels'], np.concatenate([[1], other['gt_bboxes_labels']]))
    assert out['gt_ignore_flags'].shape == out['gt_bboxes_labels'].shape


def test_mixup_skips_without_loading_when_the_coin_says_no() -> None:
    mixup = YOLOv6MixUp(prob=0.1)
    np.random.seed(0)
    assert np.random.RandomState(0).rand() >= 0.1
    assert mixup.get_indexes([sample(1, [], [])] * 3) == []
    results = sample(100, [[5, 5, 8, 8]], [1])
    out = mixup(dict(results, mix_results=[]))
    np.testing.assert_array_equal(out['img'], results['img'])


def test_mixup_builds_the_second_sample_with_its_own_mosaic() -> None:
    dataset = [sample(10 * (i + 1), [[1, 1, 6, 6]], [i % 3], size=16) for i in range(6)]
    mixup = YOLOv6MixUp(prob=1.0, pre_transform=[dict(type='Mosaic', img_scale=(16, 16), pad_val=114.0),
                                                 dict(type='LetterResize', scale=(16, 16))])
    np.random.seed(2)
    indexes = mixup.get_indexes(dataset)
    assert len(indexes) == 4 and mixup._counts == [3, 0]  # the second sample's image + Mosaic's three
    results = sample(100, [[1, 1, 6, 6]], [0], size=16)
    out = mixup(dict(results, mix_results=[dataset[i] for i in indexes]))
    assert out['img'].shape == (16, 16, 3) and len(out['gt_bboxes']) >= 1
    assert not np.array_equal(out['img'], results['img'])
    with pytest.raises(ValueError, match='same size'):
        YOLOv6MixUp(prob=1.0).transform(dict(sample(1, [], [], size=8), mix_results=[dataset[0]]))
