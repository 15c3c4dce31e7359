"""The synthetic COCO set: determinism, valid boxes, reuse and atomic regeneration, COCO and mmdet loading."""
import json
from pathlib import Path
from typing import Dict

import cv2
import pytest
from pycocotools.coco import COCO

from qarep_det.datasets.synthetic import CLASSES, METAINFO, generate_synthetic_coco

SMALL = dict(num_train=6, num_val=3, image_size=(64, 96))


def read_tree(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    a = read_tree(generate_synthetic_coco(tmp_path / 'a', seed=3, **SMALL)['data_root'])
    b = read_tree(generate_synthetic_coco(tmp_path / 'b', seed=3, **SMALL)['data_root'])
    c = read_tree(generate_synthetic_coco(tmp_path / 'c', seed=4, **SMALL)['data_root'])
    assert len(a) == 6 + 3 + 2 + 1  # images, two JSON files, the manifest
    assert a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a if k.endswith('.jpg'))


def test_layout_boxes_and_pycocotools(tmp_path: Path) -> None:
    paths = generate_synthetic_coco(tmp_path / 'syn', **SMALL)
    assert paths['train_ann'] == tmp_path / 'syn' / 'annotations' / 'instances_train.json'
    for split, count in (('train', 6), ('val', 3)):
        coco = COCO(str(paths[f'{split}_ann']))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        images = coco.loadImgs(coco.getImgIds())
        assert len(images) == count and all((i['height'], i['width']) == (64, 96) for i in images)
        for image in images:
            assert cv2.imread(str(paths[f'{split}_img'] / image['file_name'])).shape == (64, 96, 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
            assert len(anns) >= 1
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert all(isinstance(v, int) for v in ann['bbox'])
                assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 96 and y + h <= 64
                assert 0 < ann['area'] <= w * h and ann['iscrowd'] == 0


def test_larger_set_uses_every_class_and_the_documented_defaults(tmp_path: Path) -> None:
    paths = generate_synthetic_coco(tmp_path / 'syn', num_train=30, num_val=0)
    coco = json.loads(paths['train_ann'].read_text())
    assert {a['category_id'] for a in coco['annotations']} == {1, 2, 3}
    assert {(i['height'], i['width']) for i in coco['images']} == {(256, 256)}
    assert json.loads(paths['val_ann'].read_text())['images'] == []
    assert METAINFO['classes'] == CLASSES and len(METAINFO['palette']) == len(CLASSES)


def test_complete_set_is_reused_and_others_regenerated(tmp_path: Path) -> None:
    out = tmp_path / 'syn'
    paths = generate_synthetic_coco(out, **SMALL)
    manifest = paths['manifest'].stat().st_mtime_ns
    generate_synthetic_coco(out, **SMALL)
    assert paths['manifest'].stat().st_mtime_ns == manifest  # reused: nothing rewritten
    reference = read_tree(out)

    (out / 'train' / '000002.jpg').unlink()  # incomplete: regenerated as before
    generate_synthetic_coco(out, **SMALL)
    assert read_tree(out) == reference

    generate_synthetic_coco(out, **dict(SMALL, num_train=2))  # other parameters: replaced
    assert sorted(p.name for p in (out / 'train').iterdir()) == ['000000.jpg', '000001.jpg']
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.syn.t')] == []  # no temp dirs left


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'precious.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='refusing to replace'):
        generate_synthetic_coco(out, **SMALL)
    assert read_tree(out) == {'precious.txt': b'keep'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['mine']  # no lock file or temp dir left either


@pytest.mark.parametrize('kwargs', [dict(num_train=-1), dict(seed=-1), dict(image_size=(16, 64)),
                                    dict(min_visible=0.0), dict(max_objects=0)])
def test_invalid_parameters(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_synthetic_coco(tmp_path / 'syn', **kwargs)


def test_mmdet_coco_dataset_loads_the_set(tmp_path: Path) -> None:
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    paths = generate_synthetic_coco(tmp_path / 'syn', **SMALL)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    dataset = CocoDataset(data_root=str(paths['data_root']), ann_file='annotations/instances_train.json',
                          data_prefix=dict(img='train/'), metainfo=METAINFO, pipeline=pipeline)
    assert len(dataset) == 6 and dataset.metainfo['classes'] == CLASSES
    coco = json.loads(paths['train_ann'].read_text())
    expected = [a for a in coco['annotations'] if a['image_id'] == coco['images'][0]['id']]
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 64, 96)
    instances = sample['data_samples'].gt_instances
    assert instances.labels.tolist() == [a['category_id'] - 1 for a in expected]
    assert instances.bboxes.tensor.tolist() == [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in expected)]
