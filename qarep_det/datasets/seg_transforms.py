"""A check of loaded segmentation labels, so that bad label files fail early and say which file.

mmseg loads whatever a PNG holds: a label map of another size than its image fails later in a
crop or a loss with a shape error, and a value outside the classes is either an index error in
the loss or silently counted as a class. ``CheckSegLabels``, placed right after
``LoadAnnotations``, refuses both in one line naming the file.

Provenance: qarep_det's own (the one-line ``BadInput`` convention); mmseg 1.2.2 result keys
(``gt_seg_map``, ``seg_map_path``, ``img``, ``img_path``).
"""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..utils import BadInput


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Refuse a label map whose size differs from its image or whose values are not classes.

    Runs after ``LoadImageFromFile`` and ``LoadAnnotations`` (after the dataset's ``label_map``,
    so CamVid's void 11 is already 255) and before any crop; the label map is compared with the
    image's size as loaded (``ori_shape``), so a resize of the image in between is fine.

    Args:
        num_classes: Valid labels are ``0 .. num_classes - 1``.
        ignore_index: The one other accepted value (ignored pixels).

    Raises:
        BadInput: From :meth:`transform`, naming the label file, the sizes or the bad values.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f'num_classes must be at least 1, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results['gt_seg_map']
        path = results.get('seg_map_path', '<label map>')
        image_hw = tuple(results['ori_shape'][:2])
        if tuple(seg.shape[:2]) != image_hw:
            raise BadInput(f'label map {path} is {seg.shape[1]}x{seg.shape[0]} but its image '
                           f'{results.get("img_path", "")} is {image_hw[1]}x{image_hw[0]}')
        values = np.unique(seg)
        bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise BadInput(f'label map {path} holds values {bad[:8].tolist()} outside the classes '
                           f'0..{self.num_classes - 1} (and the ignore value)')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})'
