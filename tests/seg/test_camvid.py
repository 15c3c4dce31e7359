"""CamVidDataset and CheckSegLabels: listing, void -> 255, and one-line errors that name the bad file."""
import os
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS
from PIL import Image
from seg_testing import NUM_CLASSES, REPO_ROOT, VOID

from qarep_det.datasets import CamVidDataset, CheckSegLabels
from qarep_det.datasets.camvid import check_camvid_files
from qarep_det.utils import BadInput

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='CheckSegLabels', num_classes=NUM_CLASSES)]
REAL_CAMVID = Path(os.environ.get('QAREP_CAMVID', REPO_ROOT.parent / 'shared' / 'datasets' / 'camvid'))


def build(root: Path, split: str = 'train', pipeline=PIPELINE) -> CamVidDataset:
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='CamVidDataset', data_root=str(root), pipeline=pipeline,
                                   data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'labels/{split}')))


def test_lists_the_images_with_their_label_maps_and_maps_void_to_255(tiny_camvid):
    dataset = build(tiny_camvid)
    assert len(dataset) == 4 and len(build(tiny_camvid, 'val')) == 2
    assert dataset.metainfo['classes'][0] == 'Sky' and len(dataset.metainfo['classes']) == 11
    assert dataset.metainfo['label_map'] == {VOID: 255} and dataset.metainfo['reduce_zero_label'] is False
    sample = dataset[0]
    raw = np.array(Image.open(sample['seg_map_path']))
    assert set(np.unique(raw)) == set(range(NUM_CLASSES + 1))
    loaded = sample['gt_seg_map']
    assert set(np.unique(loaded)) == set(range(NUM_CLASSES)) | {255}
    np.testing.assert_array_equal(loaded == 255, raw == VOID)
    np.testing.assert_array_equal(loaded[raw != VOID], raw[raw != VOID])


def test_a_class_subset_keeps_void_ignored(tiny_camvid):
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(dict(type='CamVidDataset', data_root=str(tiny_camvid), pipeline=PIPELINE[:2],
                                      metainfo=dict(classes=('Road', 'Car')),
                                      data_prefix=dict(img_path='images/train', seg_map_path='labels/train')))
    assert dataset.label_map[3] == 0 and dataset.label_map[8] == 1 and dataset.label_map[0] == 255
    assert dataset.label_map[VOID] == 255
    assert set(np.unique(dataset[0]['gt_seg_map'])) == {0, 1, 255}


def _copy_set(src: Path, dst: Path) -> Path:
    for path in src.rglob('*'):
        if path.is_file():
            (dst / path.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dst / path.relative_to(src)).write_bytes(path.read_bytes())
    return dst


def test_a_label_map_of_another_size_names_the_file(tiny_camvid, tmp_path):
    root = _copy_set(tiny_camvid, tmp_path / 'camvid')
    bad = sorted((root / 'labels' / 'train').glob('*.png'))[1]
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(bad)
    dataset = build(root)
    dataset[0]  # the good ones still load
    with pytest.raises(BadInput, match=rf'label map {bad} is 20x10 but its image .*train_001\.jpg is 64x48'):
        dataset[1]


@pytest.mark.parametrize('value', [12, 254])
def test_values_outside_the_classes_name_the_file(tiny_camvid, tmp_path, value):
    root = _copy_set(tiny_camvid, tmp_path / 'camvid')
    bad = sorted((root / 'labels' / 'train').glob('*.png'))[2]
    label = np.array(Image.open(bad))
    label[0, 0] = value
    Image.fromarray(label).save(bad)
    with pytest.raises(BadInput, match=rf'label map {bad} holds values \[{value}\] outside the classes 0\.\.10'):
        build(root)[2]


def test_an_image_without_label_map_is_refused_when_listing(tiny_camvid, tmp_path):
    root = _copy_set(tiny_camvid, tmp_path / 'camvid')
    missing = root / 'labels' / 'val' / 'val_001.png'
    missing.unlink()
    with pytest.raises(BadInput, match=rf'val_001\.jpg has no label map {missing}'):
        build(root, 'val')


def test_preflight_checks_camvid_loaders_only(tiny_camvid, tmp_path):
    root = _copy_set(tiny_camvid, tmp_path / 'camvid')
    prefix = dict(img_path='images/val', seg_map_path='labels/val')
    cfg = Config(dict(
        val_dataloader=dict(dataset=dict(type='CamVidDataset', data_root=str(root), data_prefix=prefix)),
        test_dataloader=dict(dataset=dict(type='ADE20KDataset', data_root='/nowhere', data_prefix=prefix))))
    check_camvid_files(cfg, ('val_dataloader', 'test_dataloader', 'train_dataloader'))  # ADE20K and absent: skipped
    (root / 'labels' / 'val' / 'val_000.png').unlink()
    with pytest.raises(BadInput, match=rf'CamVid: {root}/images/val/val_000\.jpg has no label map'):
        check_camvid_files(cfg, ('val_dataloader',))
    check_camvid_files(cfg, ('test_dataloader',))


def test_check_seg_labels_passes_good_results_through_unchanged():
    seg = np.array([[0, 10], [255, 3]], np.uint8)
    results = dict(gt_seg_map=seg, ori_shape=(2, 2), seg_map_path='x.png')
    assert CheckSegLabels(num_classes=11)(results)['gt_seg_map'] is seg
    with pytest.raises(BadInput, match=r'x\.png holds values \[3, 10\] outside the classes 0\.\.2'):
        CheckSegLabels(num_classes=3)(results)
    with pytest.raises(ValueError, match='num_classes'):
        CheckSegLabels(num_classes=0)


@pytest.mark.skipif(not (REAL_CAMVID / 'images' / 'train').is_dir(), reason=f'CamVid not found at {REAL_CAMVID}')
def test_real_camvid():
    train, val = build(REAL_CAMVID), build(REAL_CAMVID, 'val')
    assert (len(train), len(val)) == (367, 101)
    sample = val[0]
    assert sample['gt_seg_map'].shape == (360, 480) and sample['img'].shape == (360, 480, 3)
    assert set(np.unique(sample['gt_seg_map'])) <= set(range(NUM_CLASSES)) | {255}
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='CamVidDataset', data_root=str(REAL_CAMVID),
                                                         data_prefix=dict(img_path='images/train',
                                                                          seg_map_path='labels/train')))))
    check_camvid_files(cfg, ('train_dataloader',))  # every real label file passes the pre-flight
