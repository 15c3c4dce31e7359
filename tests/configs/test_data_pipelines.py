"""The configs' data pipelines on real data: BCCD (prepared by prepare_bccd.py) and the synthetic set.

BCCD is read from ``$QAREP_BCCD`` (default ``../shared/datasets/bccd``); those tests skip without it.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmengine.config import Config

import qarep_det.datasets.transforms  # noqa: F401  (registers LetterResize, YOLOv6RandomAffine)
from qarep_det.datasets.synthetic import generate_synthetic_coco
from testing_utils import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
BCCD = Path(os.environ.get('QAREP_BCCD', REPO_ROOT.parent / 'shared' / 'datasets' / 'bccd'))
needs_bccd = pytest.mark.skipif(not (BCCD / 'BCCD' / 'Annotations').is_dir(), reason=f'BCCD not found at {BCCD}')

prepare_bccd = load_tool('dataset_converters/prepare_bccd')


def datasets(config: str, data_root: Path) -> dict:
    """The config's train/val/test datasets, reading from ``data_root``."""
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / config))
    built = {}
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        (dataset.dataset if dataset.type == 'MultiImageMixDataset' else dataset).data_root = f'{data_root}/'
        built[split] = DATASETS.build(dataset)
    return built


@pytest.fixture(scope='module')
def bccd_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('bccd')
    assert prepare_bccd.main(['--src', str(BCCD), '--out', str(out)]) == 0
    return out


@needs_bccd
def test_prepare_bccd_converts_all_splits_links_the_images_and_is_idempotent(bccd_root: Path, capsys) -> None:
    counts = {}
    for split in ('train', 'val', 'test'):
        coco = json.loads((bccd_root / 'annotations' / f'instances_{split}.json').read_text())
        counts[split] = (len(coco['images']), [c['name'] for c in coco['categories']])
        assert all((bccd_root / image['file_name']).is_file() for image in coco['images'])
    assert counts == {split: (n, ['RBC', 'WBC', 'Platelets']) for split, n in (('train', 205), ('val', 87),
                                                                                ('test', 72))}
    link = bccd_root / 'JPEGImages'
    assert link.is_symlink() and link.resolve() == (BCCD / 'BCCD' / 'JPEGImages').resolve()
    before = {p.name: p.read_bytes() for p in (bccd_root / 'annotations').iterdir()}
    assert prepare_bccd.main(['--src', str(BCCD), '--out', str(bccd_root)]) == 0
    assert {p.name: p.read_bytes() for p in (bccd_root / 'annotations').iterdir()} == before
    assert 'train: 205 images' in capsys.readouterr().out


def test_prepare_bccd_without_source_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    assert prepare_bccd.main(['--src', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert err == f'prepare_bccd.py: error: BCCD not found at {tmp_path / "nothing"} (set QAREP_BCCD or pass --src)\n'
    assert not (tmp_path / 'out').exists()


@needs_bccd
def test_prepare_bccd_never_replaces_a_real_image_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / 'out' / 'JPEGImages').mkdir(parents=True)
    assert prepare_bccd.main(['--src', str(BCCD), '--out', str(tmp_path / 'out')]) == 2
    assert 'refusing to replace' in capsys.readouterr().err


@needs_bccd
def test_bccd_config_pipelines_on_the_real_images(bccd_root: Path) -> None:
    built = datasets('bccd_det/yolov6n_qarep_bccd.py', bccd_root)
    assert {split: len(ds) for split, ds in built.items()} == {'train': 205, 'val': 87, 'test': 72}
    np.random.seed(0)
    for i in range(6):
        sample = built['train'][i]
        boxes = sample['data_samples'].gt_instances.bboxes.tensor
        assert tuple(sample['inputs'].shape) == (3, 416, 416)
        assert len(boxes) > 0 and boxes.min() >= 0 and boxes.max() <= 416
        assert ((boxes[:, 2:] - boxes[:, :2]) > 2).all()  # YOLOv6RandomAffine's size filter
        assert set(sample['data_samples'].gt_instances.labels.tolist()) <= {0, 1, 2}
    for split in ('val', 'test'):
        meta = built[split][0]['data_samples'].metainfo
        assert tuple(built[split][0]['inputs'].shape) == (3, 416, 416)
        assert meta['ori_shape'] == (480, 640) and meta['scale_factor'] == (0.65, 0.65)  # 640 -> 416, 480 -> 312
        np.testing.assert_array_equal(meta['pad_param'], [52, 52, 0, 0])
    assert built['test'][0]['data_samples'].img_path.endswith('.jpg')


def test_synthetic_config_pipelines(tmp_path: Path) -> None:
    root = generate_synthetic_coco(tmp_path / 'synthetic', num_train=4, num_val=2, seed=3)['data_root']
    built = datasets('synthetic/yolov6n_qarep_synthetic.py', root)
    assert (len(built['train']), len(built['val'])) == (4, 2)
    sample = built['train'][0]
    boxes = sample['data_samples'].gt_instances.bboxes.tensor
    # The config reads the set's 256x256 images at 128x128.
    assert tuple(sample['inputs'].shape) == (3, 128, 128) and len(boxes) > 0 and boxes.max() <= 128
    meta = built['val'][1]['data_samples'].metainfo
    assert meta['scale_factor'] == (0.5, 0.5) and meta['img_shape'] == (128, 128)
    np.testing.assert_array_equal(meta['pad_param'], [0, 0, 0, 0])


def test_coco_train_pipeline_with_and_without_mosaic(tmp_path: Path) -> None:
    """The COCO pipeline on synthetic images: 640x640 samples, also once the mode switch skips Mosaic."""
    root = generate_synthetic_coco(tmp_path / 'synthetic', num_train=4, num_val=1, seed=4)['data_root']
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'yolov6n_qarep.py'))
    inner = cfg.train_dataloader.dataset.dataset
    inner.update(data_root=f'{root}/', ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 metainfo=dict(classes=('circle', 'square', 'triangle')))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    for skip in ([], ['Mosaic']):  # the last 15 epochs: YOLOXModeSwitchHook calls update_skip_type_keys
        dataset.update_skip_type_keys(skip)
        for i in range(4):
            sample = dataset[i]
            boxes = sample['data_samples'].gt_instances.bboxes.tensor
            assert tuple(sample['inputs'].shape) == (3, 640, 640)
            assert boxes.min() >= 0 and boxes.max() <= 640 and ((boxes[:, 2:] - boxes[:, :2]) > 2).all()
