"""Data transforms mmdet lacks: YOLOv6's letterbox, its centred random affine and its 640 evaluation resize.

Provenance: ``letterbox``, ``random_affine``, ``get_transform_matrix`` and ``box_candidates`` in
the official YOLOv6 ``yolov6/data/data_augment.py`` (meituan/YOLOv6 v3.0, after YOLOv5). The
letterbox resizes keeping the aspect ratio so the image fits the target, optionally never enlarging
it, then pads it *centred* with grey 114, the extra pixel of an odd padding going to the
bottom/right. The record of the padding (``pad_param``) is mmyolo's convention, so a head can map
boxes back with ``(box - [left, top]) / scale_factor``.
"""
from typing import Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import RandomAffine
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type


@TRANSFORMS.register_module()
class LetterResize(BaseTransform):
    """Keep-ratio resize to fit ``scale``, then centred padding to exactly ``scale``.

    Required keys: ``img``; optional: ``gt_bboxes``.

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``; added keys: ``scale_factor`` (the actual
    ``(w_scale, h_scale)`` of the resize, replacing any earlier one as mmdet's ``Resize`` does, so
    in a test pipeline it must be the only resize), ``pad_param``
    (``np.float32 [top, bottom, left, right]`` in pixels of the output) and
    ``homography_matrix`` (composed with an earlier one, as mmdet's geometric transforms do).

    A box ``b`` of the input becomes ``b * scale_factor + [left, top]``, so a prediction on the
    output maps back to the input with ``(b - [left, top]) / scale_factor``. Instance masks and
    segmentation maps are not supported (a ``ValueError`` is raised if present).

    Args:
        scale: Output ``(width, height)``, or one int for a square.
        pad_val: Value of the padded pixels (all channels).
        allow_scale_up: Also enlarge images smaller than ``scale``; ``False`` only pads them
            (YOLOv6's ``scaleup=False``).
        interpolation: mmcv interpolation of the resize (``'bilinear'`` is cv2's INTER_LINEAR,
            YOLOv6's choice).
        clip_object_border: Clip the boxes to the output image (as mmdet's ``Resize``).
    """

    def __init__(self, scale: Union[int, Sequence[int]], pad_val: float = 114, allow_scale_up: bool = True,
                 interpolation: str = 'bilinear', clip_object_border: bool = True) -> None:
        width, height = (scale, scale) if isinstance(scale, int) else tuple(scale)
        if min(width, height) < 1:
            raise ValueError(f'scale must be positive (width, height), got {scale}')
        self.scale = (int(width), int(height))
        self.pad_val = pad_val
        self.allow_scale_up = allow_scale_up
        self.interpolation = interpolation
        self.clip_object_border = clip_object_border

    def resized_shape(self, height: int, width: int) -> Tuple[int, int]:
        """``(new_height, new_width)`` of an image of ``height x width`` before padding."""
        ratio = min(self.scale[1] / height, self.scale[0] / width)
        if not self.allow_scale_up:
            ratio = min(ratio, 1.0)
        return (min(max(1, round(height * ratio)), self.scale[1]),
                min(max(1, round(width * ratio)), self.scale[0]))

    def interpolation_for(self, height: int, width: int) -> str:
        """The mmcv interpolation used to resize a ``height x width`` image (``self.interpolation``)."""
        return self.interpolation

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Letterbox ``results['img']`` and its boxes; see the class docstring for the keys."""
        unsupported = [k for k in ('gt_masks', 'gt_seg_map') if results.get(k) is not None]
        if unsupported:
            raise ValueError(f'LetterResize does not transform {", ".join(unsupported)}')
        img = results['img']
        height, width = img.shape[:2]
        new_h, new_w = self.resized_shape(height, width)
        if (new_h, new_w) != (height, width):
            img = mmcv.imresize(img, (new_w, new_h), interpolation=self.interpolation_for(height, width))
        pad_h, pad_w = self.scale[1] - new_h, self.scale[0] - new_w
        top, left = pad_h // 2, pad_w // 2
        bottom, right = pad_h - top, pad_w - left
        if pad_h or pad_w:  # every channel gets pad_val (cv2's border fill would pad a scalar in channel 0 only)
            canvas = np.full((self.scale[1], self.scale[0]) + img.shape[2:], self.pad_val, dtype=img.dtype)
            canvas[top:top + new_h, left:left + new_w] = img
            img = canvas
        w_scale, h_scale = new_w / width, new_h / height

        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale_factor'] = (w_scale, h_scale)
        results['pad_param'] = np.array([top, bottom, left, right], dtype=np.float32)
        if results.get('gt_bboxes') is not None:
            boxes = results['gt_bboxes']
            boxes.rescale_((w_scale, h_scale))
            boxes.translate_((left, top))
            if self.clip_object_border:
                boxes.clip_(results['img_shape'])
        matrix = np.array([[w_scale, 0, left], [0, h_scale, top], [0, 0, 1]], dtype=np.float32)
        previous = results.get('homography_matrix')
        results['homography_matrix'] = matrix if previous is None else matrix @ previous
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, pad_val={self.pad_val}, '
                f'allow_scale_up={self.allow_scale_up}, interpolation={self.interpolation!r}, '
                f'clip_object_border={self.clip_object_border})')


@TRANSFORMS.register_module()
class YOLOv6RandomAffine(RandomAffine):
    """mmdet's ``RandomAffine`` about the image centre, with YOLOv6's filter of the warped boxes.

    mmdet's ``RandomAffine`` rotates, scales and shears about the top-left corner and keeps the
    top-left ``output`` pixels, so after a Mosaic (``border=-size / 2``) it mostly shows the
    top-left tile. YOLOv6 (``get_transform_matrix``: ``M = T @ S @ R @ C``) moves the input's
    centre to the origin first and then to the output's centre, shifted by up to
    ``max_translate_ratio`` of the output size: the central crop of a mosaic, or the whole of a
    letterboxed image. This class does the same with mmdet's random draws (same arguments and
    ranges; the output is ``input + 2 * border``).

    A warped box is clipped to the output and kept if both sides exceed ``min_bbox_size`` pixels,
    at least ``min_area_ratio`` of its warped area remains, and its aspect ratio is below
    ``max_aspect_ratio`` (YOLOv6's ``box_candidates``, which compares with the box scaled by the
    random scale: the same without rotation and shear). Instance masks are not supported.

    Args:
        min_bbox_size: Smallest width and height (pixels) of a kept box.
        min_area_ratio: Smallest visible fraction of a kept box's warped area.
        max_aspect_ratio: Largest ``max(w / h, h / w)`` of a kept box.
        **kwargs: ``RandomAffine``'s arguments (``max_rotate_degree``, ``max_translate_ratio``,
            ``scaling_ratio_range``, ``max_shear_degree``, ``border``, ``border_val``); its
            ``bbox_clip_border`` must stay ``True``.
    """

    def __init__(self, min_bbox_size: float = 2, min_area_ratio: float = 0.1, max_aspect_ratio: float = 20,
                 **kwargs) -> None:
        if not kwargs.get('bbox_clip_border', True):
            raise ValueError('YOLOv6RandomAffine always clips the boxes (bbox_clip_border=True)')
        super().__init__(**kwargs)
        self.min_bbox_size = min_bbox_size
        self.min_area_ratio = min_area_ratio
        self.max_aspect_ratio = max_aspect_ratio

    def centred_homography(self, in_shape: Tuple[int, int], out_shape: Tuple[int, int]) -> np.ndarray:
        """A random ``3x3`` warp from an ``in_shape`` image to an ``out_shape`` one (both ``(h, w)``)."""
        (in_h, in_w), (height, width) = in_shape, out_shape
        about_origin = self._get_random_homography_matrix(height, width)  # T @ shear @ R @ S
        return (self._get_translation_matrix(width / 2, height / 2) @ about_origin
                @ self._get_translation_matrix(-in_w / 2, -in_h / 2))

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Warp ``img`` and ``gt_bboxes``; drop the boxes (with labels and ignore flags) that fail the filter."""
        if results.get('gt_masks') is not None:
            raise ValueError('YOLOv6RandomAffine does not transform gt_masks')
        img = results['img']
        height, width = img.shape[0] + 2 * self.border[1], img.shape[1] + 2 * self.border[0]
        warp = self.centred_homography(img.shape[:2], (height, width))
        results['img'] = cv2.warpAffine(img, warp[:2], dsize=(width, height), borderValue=self.border_val)
        results['img_shape'] = (height, width)
        boxes = results.get('gt_bboxes')
        if boxes is not None and len(boxes):
            boxes.project_(warp)
            warped_areas = boxes.areas
            boxes.clip_((height, width))
            w, h = boxes.widths, boxes.heights
            aspect = torch.maximum(w / h.clamp_min(1e-6), h / w.clamp_min(1e-6))
            keep = ((w > self.min_bbox_size) & (h > self.min_bbox_size) & (w * h > self.min_area_ratio * warped_areas)
                    & (aspect < self.max_aspect_ratio)).numpy()
            results['gt_bboxes'] = boxes[keep]
            for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
                if key in results:
                    results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, min_bbox_size={self.min_bbox_size}, '
                f'min_area_ratio={self.min_area_ratio}, max_aspect_ratio={self.max_aspect_ratio})')


@TRANSFORMS.register_module()
class YOLOv6EvalResize(LetterResize):
    """The image preparation of YOLOv6's ``tools/eval.py --reproduce_640_eval``, as one letterbox.

    Provenance: ``TrainValDataset.load_image`` with ``shrink_size`` and ``letterbox(..., auto=False,
    scaleup=False)`` in the official ``yolov6/data/datasets.py`` / ``data_augment.py``, with the
    per-model ``shrink_size`` of ``configs/experiment/eval_640_repro.py`` (meituan/YOLOv6 v3.0).

    The longer side is resized to ``min(scale) - shrink_size`` (ratio ``r = (min(scale) -
    shrink_size) / max(h, w)``; the new sides are ``int(side * r)``, truncated; INTER_AREA when
    ``r < 1``, INTER_LINEAR otherwise), then padded centred with ``pad_val`` to ``scale`` without
    further scaling. Keys and box mapping as :class:`LetterResize` (``scale_factor`` is the actual
    ``new / old`` per axis, as YOLOv6's ``scale_coords`` gains).

    Args:
        scale: Output ``(width, height)``, or one int for a square (YOLOv6: 640).
        shrink_size: Pixels taken off the longer side before padding (YOLOv6: 4 for N/M/L, 6 for
            S, 2 by default).
        pad_val: Value of the padded pixels.
    """

    def __init__(self, scale: Union[int, Sequence[int]] = 640, shrink_size: int = 0, pad_val: float = 114) -> None:
        super().__init__(scale, pad_val=pad_val, allow_scale_up=True, interpolation='bilinear')
        if not 0 <= shrink_size < min(self.scale):
            raise ValueError(f'shrink_size must be in [0, {min(self.scale)}), got {shrink_size}')
        self.shrink_size = int(shrink_size)

    def ratio(self, height: int, width: int) -> float:
        """YOLOv6's resize ratio of a ``height x width`` image."""
        return (min(self.scale) - self.shrink_size) / max(height, width)

    def resized_shape(self, height: int, width: int) -> Tuple[int, int]:
        """``(int(height * r), int(width * r))`` (at least 1 pixel)."""
        ratio = self.ratio(height, width)
        return max(1, int(height * ratio)), max(1, int(width * ratio))

    def interpolation_for(self, height: int, width: int) -> str:
        """``'area'`` when shrinking, ``'bilinear'`` when enlarging (YOLOv6's evaluation loader)."""
        return 'area' if self.ratio(height, width) < 1 else 'bilinear'

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, shrink_size={self.shrink_size}, pad_val={self.pad_val})'
