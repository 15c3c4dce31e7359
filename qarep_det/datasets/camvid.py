"""CamVid (11 classes, 480x360) as an MMSegmentation dataset.

Layout (the path comes from the config; the CamVid configs read ``$QAREP_CAMVID``, default
``../shared/datasets/camvid`` relative to the repository)::

    camvid/images/{train,val}/NAME.jpg
    camvid/labels/{train,val}/NAME.png     # one uint8 channel: 0..10 the classes, 11 void

Void (11) is mapped to 255 when a label map is loaded (mmseg's ``label_map``, applied by
``LoadAnnotations``), so mmseg's defaults ignore it everywhere without further settings: the
decode heads' ``ignore_index=255``, ``IoUMetric(ignore_index=255)``, ``Pad(seg_pad_val=255)`` and
``RandomCrop``'s ``cat_max_ratio``. A value of 255 already in a file is treated as void too.
:func:`check_camvid_files` is the tools' pre-flight over the label files.

Provenance: Brostow et al., "Semantic object classes in video: A high-definition ground truth
database", Pattern Recognition Letters 2009 (CamVid); the 11-class split, class order and palette
of Badrinarayanan et al., SegNet (TPAMI 2017); mmseg 1.2.2 ``BaseSegDataset``.
"""
from collections.abc import Mapping
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS
from PIL import Image

from ..utils import BadInput
from ..utils.config import dataset_cfgs

CAMVID_CLASSES = ('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car',
                  'Pedestrian', 'Bicyclist')
CAMVID_VOID = 11
"""The label value of void pixels in the files; loaded as 255 (ignored)."""


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid 11-class semantic segmentation: ``images/<split>/*.jpg`` with ``labels/<split>/*.png``.

    Labels are used as they are (``reduce_zero_label=False``: 0 is Sky, a class); void (11) is
    loaded as 255, mmseg's ignore index. Listing the dataset refuses, in one line naming the
    file, an image without its label map.

    Args:
        **kwargs: As :class:`mmseg.datasets.BaseSegDataset` (``data_root``, ``data_prefix=
            dict(img_path='images/train', seg_map_path='labels/train')``, ``pipeline``, ...),
            except the suffixes and ``reduce_zero_label``, which are fixed.
    """

    METAINFO = dict(
        classes=CAMVID_CLASSES,
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
                 [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]])

    def __init__(self, **kwargs) -> None:
        super().__init__(img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=False, **kwargs)

    @classmethod
    def get_label_map(cls, new_classes: Optional[Sequence[str]] = None) -> Dict[int, int]:
        """mmseg's class-subset map (if ``metainfo`` selects classes) plus void (11) -> 255."""
        return {**(super().get_label_map(new_classes) or {}), CAMVID_VOID: 255}

    def load_data_list(self) -> List[dict]:
        """The images of ``img_path`` with their label maps; :class:`BadInput` if a label map is missing."""
        data_list = super().load_data_list()
        for info in data_list:
            if not Path(info['seg_map_path']).is_file():
                raise BadInput(f'CamVid: {info["img_path"]} has no label map {info["seg_map_path"]}')
        return data_list


def check_camvid_files(cfg: Config, loaders: Sequence[str]) -> None:
    """Pre-flight of the tools: every CamVid label map of the named loaders exists, fits its image, holds 0..11.

    Reads each label map once (0.75 s for the 468 of CamVid, measured on the shared 2 cores) so that a bad file is
    one line before any runner or work folder exists, instead of an error from a data loader
    worker in the middle of training. Datasets of other types are skipped; missing folders are
    ``check_data_files``'s to report.

    Args:
        cfg: The config.
        loaders: Dataloader keys, e.g. ``('train_dataloader', 'val_dataloader')``.

    Raises:
        BadInput: Naming the first bad file and what is wrong with it.
    """
    for name in loaders:
        loader = cfg.get(name)
        if not isinstance(loader, Mapping):
            continue
        for dataset in dataset_cfgs(loader.get('dataset')):
            if dataset.get('type') not in ('CamVidDataset', 'mmseg.CamVidDataset'):
                continue
            root = Path(dataset.get('data_root') or '')
            prefix = dataset.get('data_prefix') or {}
            images, labels = root / prefix.get('img_path', ''), root / prefix.get('seg_map_path', '')
            for image in sorted(images.rglob('*.jpg')):
                _check_label_file(image, (labels / image.relative_to(images)).with_suffix('.png'))


def _check_label_file(image: Path, label: Path) -> None:
    """:class:`BadInput` if ``label`` is missing, unreadable, of another size than ``image`` or not 0..11 / 255."""
    if not label.is_file():
        raise BadInput(f'CamVid: {image} has no label map {label}')
    try:
        with Image.open(image) as img, Image.open(label) as lab:
            image_size = img.size
            values = np.unique(np.asarray(lab))
            label_size = lab.size
    except OSError as err:
        raise BadInput(f'CamVid: cannot read {image} or {label}: {err}') from None
    if label_size != image_size:
        raise BadInput(f'label map {label} is {label_size[0]}x{label_size[1]} but its image {image} is '
                       f'{image_size[0]}x{image_size[1]}')
    bad = values[(values > CAMVID_VOID) & (values != 255)]
    if bad.size:
        raise BadInput(f'label map {label} holds values {bad[:8].tolist()} outside the classes '
                       f'0..{len(CAMVID_CLASSES) - 1} and void ({CAMVID_VOID})')
