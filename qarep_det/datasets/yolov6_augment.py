"""YOLOv6's photometric jitter and MixUp as mmdet transforms.

Provenance: ``augment_hsv`` and ``mixup`` in the official YOLOv6 ``yolov6/data/data_augment.py``
and their use in ``TrainValDataset.__getitem__`` / ``general_augment`` of
``yolov6/data/datasets.py`` (meituan/YOLOv6 v3.0); read there, written anew for mmdet.

YOLOv6 jitters every training image in HSV space with three random *multiplicative* gains
``1 + U(-1, 1) * (hgain, sgain, vgain)`` (0.015 / 0.7 / 0.4 in its COCO configs) applied through
lookup tables (hue modulo 180, saturation and value clipped to 255), always (no probability).
mmdet's ``YOLOXHSVRandomAug`` adds random offsets instead.

YOLOv6's MixUp (``mixup: 0.1`` for M/L) happens only on Mosaic samples: with that probability a
second, independent Mosaic sample (its own four images, random affine included) is blended in
with a ratio drawn from Beta(32, 32), and the labels of both are kept. mmdet's ``MixUp`` is
YOLOX's (one plain image, always applied), hence :class:`YOLOv6MixUp`.
"""
import copy
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmdet.registry import TRANSFORMS


def hsv_gain_tables(gains: np.ndarray, dtype=np.uint8) -> List[np.ndarray]:
    """YOLOv6's lookup tables for hue, saturation and value under multiplicative ``gains``.

    Args:
        gains: ``(3,)`` multipliers of H, S and V.
        dtype: dtype of the tables (the image's).

    Returns:
        Three ``(256,)`` tables: ``(x * g_h) % 180``, ``clip(x * g_s, 0, 255)``,
        ``clip(x * g_v, 0, 255)``, truncated to ``dtype``.
    """
    x = np.arange(0, 256, dtype=np.float64)
    return [((x * gains[0]) % 180).astype(dtype), np.clip(x * gains[1], 0, 255).astype(dtype),
            np.clip(x * gains[2], 0, 255).astype(dtype)]


@TRANSFORMS.register_module()
class YOLOv6HSVRandomAug(BaseTransform):
    """Multiplicative HSV jitter of a BGR ``uint8`` image, always applied (YOLOv6 ``augment_hsv``).

    Draws ``gains = np.random.uniform(-1, 1, 3) * (hue_gain, saturation_gain, value_gain) + 1``
    from numpy's global generator (one draw of three numbers per image), converts the image to
    HSV with OpenCV, maps each channel through :func:`hsv_gain_tables` and converts back. With all
    three gains 0 nothing is drawn and the image is unchanged.

    Required and modified keys: ``img``.

    Args:
        hue_gain: Largest relative change of the hue.
        saturation_gain: Largest relative change of the saturation.
        value_gain: Largest relative change of the value.
    """

    def __init__(self, hue_gain: float = 0.015, saturation_gain: float = 0.7, value_gain: float = 0.4) -> None:
        if min(hue_gain, saturation_gain, value_gain) < 0:
            raise ValueError('HSV gains must be >= 0')
        self.gains = np.array([hue_gain, saturation_gain, value_gain], dtype=np.float64)

    def transform(self, results: dict) -> dict:
        """Jitter ``results['img']`` (3-channel BGR ``uint8``)."""
        if not self.gains.any():
            return results
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'YOLOv6HSVRandomAug needs a BGR uint8 image, got {img.dtype} {img.shape}')
        gains = np.random.uniform(-1, 1, 3) * self.gains + 1
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
        lut_hue, lut_sat, lut_val = hsv_gain_tables(gains, img.dtype)
        hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
        results['img'] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        hue, sat, val = self.gains.tolist()
        return f'{type(self).__name__}(hue_gain={hue}, saturation_gain={sat}, value_gain={val})'


@TRANSFORMS.register_module()
class YOLOv6MixUp(BaseTransform):
    """With probability ``prob``, blend in a second sample made by ``pre_transform`` (YOLOv6 MixUp).

    For :class:`mmdet.datasets.MultiImageMixDataset`: :meth:`get_indexes` flips the coin (so the
    other images are loaded only when they are used) and returns the index of the second sample's
    first image followed by the indexes the multi-image steps of ``pre_transform`` (Mosaic) ask for.
    :meth:`transform` builds the second sample with ``pre_transform`` from those images, then sets
    ``img = uint8(img * r + img2 * (1 - r))`` with ``r ~ Beta(32, 32)`` (numpy's global generator)
    and appends the second sample's boxes, labels and ignore flags. Both samples must come out of
    their pipelines with the same image size; place it after the affine step and before HSV/flip.

    Required keys: ``img``, ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags`` and (given by
    the dataset wrapper) ``mix_results``. Modified keys: ``img`` and those three.

    Args:
        prob: Probability of mixing a sample (YOLOv6 M/L: 0.1).
        pre_transform: Transforms that make the second sample (YOLOv6: Mosaic and the random affine,
            as for the first); multi-image steps among them get their images from ``mix_results``.
        beta: The Beta distribution's two (equal) parameters.
    """

    def __init__(self, prob: float = 0.1, pre_transform: Optional[Sequence[dict]] = None, beta: float = 32.0) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.beta = beta
        self.pre_transform = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pre_transform or []])
        self._counts: List[int] = []  # images each pre-transform asked for in the last get_indexes

    def get_indexes(self, dataset) -> List[int]:
        """Flip the coin; the images to load for a second sample (none when not mixing)."""
        self._counts = []
        if np.random.rand() >= self.prob:
            return []
        indexes = [int(np.random.randint(0, len(dataset)))]
        for step in self.pre_transform.transforms:
            if hasattr(step, 'get_indexes'):
                more = step.get_indexes(dataset)
                more = list(more) if isinstance(more, Sequence) else [more]
                indexes += more
                self._counts.append(len(more))
            else:
                self._counts.append(0)
        return indexes

    def transform(self, results: dict) -> Optional[dict]:
        """Blend in the second sample if :meth:`get_indexes` loaded one."""
        mix = results.get('mix_results') or []
        if not mix:
            return results
        other, rest = copy.deepcopy(mix[0]), list(mix[1:])
        for step, count in zip(self.pre_transform.transforms, self._counts or [0] * len(self.pre_transform.transforms)):
            if count:
                other['mix_results'], rest = rest[:count], rest[count:]
            other = step(other)
            if other is None:
                return results
            other.pop('mix_results', None)
        if other['img'].shape != results['img'].shape:
            raise ValueError(f'YOLOv6MixUp: the second sample is {other["img"].shape[:2]}, '
                             f'the first {results["img"].shape[:2]}; pre_transform must produce the same size')
        ratio = np.random.beta(self.beta, self.beta)
        results['img'] = (results['img'] * ratio + other['img'] * (1 - ratio)).astype(np.uint8)
        boxes = results['gt_bboxes']
        results['gt_bboxes'] = type(boxes).cat([boxes, other['gt_bboxes']], dim=0)
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = np.concatenate([results[key], other[key]], 0)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, pre_transform={self.pre_transform}, beta={self.beta})'
