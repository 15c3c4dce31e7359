"""VOC and YOLO -> COCO conversion on the tiny dirty fixtures of ``conftest.py``: exact counts and boxes."""
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools.coco import COCO

from qarep_det.datasets import converters
from qarep_det.datasets.converters import (SplitStats, _parse_voc_xml, _SplitBuilder, convert_voc, convert_yolo,
                                           image_size, load_class_names)
from qarep_det.utils import BadInput

CLASSES = ['cat', 'dog', 'bird']  # the fixtures' classes: not sorted, and no 'bird' box in VOC train


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def boxes_by_file(coco: dict) -> dict:
    """``{file_name: [(category_id, bbox, iscrowd), ...]}`` of every image, empty lists included."""
    names = {image['id']: image['file_name'] for image in coco['images']}
    result = {name: [] for name in names.values()}
    for ann in coco['annotations']:
        result[names[ann['image_id']]].append((ann['category_id'], ann['bbox'], ann['iscrowd']))
    return result


def assert_boxes_inside(coco: dict) -> None:
    sizes = {image['id']: (image['width'], image['height']) for image in coco['images']}
    assert all(w > 0 and h > 0 for w, h in sizes.values())
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        width, height = sizes[ann['image_id']]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height, ann


def test_voc_counts_boxes_and_categories(voc_parent: Path, tmp_path: Path) -> None:
    results = convert_voc(voc_parent, tmp_path / 'out', classes=CLASSES)
    assert list(results) == ['train', 'val']  # test.txt does not exist: not a default split found
    path, stats = results['train']
    assert path == tmp_path / 'out' / 'instances_train.json'
    assert asdict(stats) == asdict(SplitStats(
        images=6, boxes=6, clipped=1, degenerate=2, outside=2, unknown_class=1, malformed=3, difficult=1,
        no_labels=1, empty_labels=1, size_from_image=3, skipped_images=6, orphan_labels=1))
    coco = load(path)
    assert coco['categories'] == [dict(id=1, name='cat', supercategory='none'),
                                  dict(id=2, name='dog', supercategory='none'),
                                  dict(id=3, name='bird', supercategory='none')]
    assert coco['info']['data_root'] == str((voc_parent / 'MYSET').resolve())
    assert boxes_by_file(coco) == {
        'JPEGImages/a.jpg': [(1, [10.0, 20.0, 40.0, 40.0], 0), (2, [0.0, 4.0, 30.0, 76.0], 0),
                             (2, [20.0, 10.0, 20.0, 20.0], 1)],
        'JPEGImages/b.jpg': [(1, [0.0, 0.0, 64.0, 48.0], 0)],
        'JPEGImages/c.jpg': [(2, [0.0, 0.0, 10.0, 10.0], 0)],
        'JPEGImages/d.jpg': [],
        'JPEGImages/e.jpg': [],
        'JPEGImages/h.png': [(1, [4.0, 4.0, 11.0, 11.0], 0)],
    }
    assert [(i['width'], i['height']) for i in coco['images']] == [(100, 80)] + [(64, 48)] * 5
    assert_boxes_inside(coco)
    val = load(results['val'][0])
    assert [i['file_name'] for i in val['images']] == ['JPEGImages/b.jpg'] and len(val['annotations']) == 1
    assert len(COCO(str(path)).getAnnIds()) == 6


def test_voc_default_classes_are_sorted_names_and_zero_based_option(voc_parent: Path, tmp_path: Path) -> None:
    results = convert_voc(voc_parent / 'MYSET', tmp_path / 'out', splits=['train'], one_based=False)
    coco = load(results['train'][0])
    assert [c['name'] for c in coco['categories']] == ['cat', 'dog', 'horse']  # no 200,000-character name
    assert results['train'][1].unknown_class == 0
    assert boxes_by_file(coco)['JPEGImages/a.jpg'][0] == (1, [11.0, 21.0, 39.0, 39.0], 0)


def test_yolo_counts_boxes_and_categories(yolo_root: Path, tmp_path: Path) -> None:
    results = convert_yolo(yolo_root, tmp_path / 'out')
    assert list(results) == ['train', 'val']
    path, stats = results['train']
    assert asdict(stats) == asdict(SplitStats(
        images=5, boxes=5, clipped=1, degenerate=2, outside=1, unknown_class=2, malformed=4, difficult=0,
        no_labels=1, empty_labels=1, size_from_image=0, skipped_images=2, orphan_labels=2))
    coco = load(path)
    assert [c['name'] for c in coco['categories']] == CLASSES
    assert boxes_by_file(coco) == {
        'images/train/sub/y5.jpg': [(2, [0.0, 0.0, 100.0, 80.0], 0)],
        'images/train/y1.jpg': [(1, [40.0, 30.0, 20.0, 20.0], 0), (2, [85.0, 20.0, 15.0, 40.0], 0),
                                (3, [10.0, 8.0, 20.0, 24.0], 0)],
        'images/train/y2.png': [],
        'images/train/y3.jpg': [],
        'images/train/y6.jpg': [(1, [0.0, 0.0, 80.0, 100.0], 0)],
    }
    assert next(i for i in coco['images'] if i['file_name'].endswith('y6.jpg'))['width'] == 80
    assert_boxes_inside(coco)
    assert len(COCO(str(path)).getAnnIds()) == 5


def test_yolo_roboflow_layout_and_explicit_classes(yolo_root: Path, tmp_path: Path) -> None:
    (yolo_root / 'images' / 'val').rename(yolo_root / 'valid_images')
    (yolo_root / 'valid').mkdir()
    (yolo_root / 'valid_images').rename(yolo_root / 'valid' / 'images')
    (yolo_root / 'labels' / 'val').rename(yolo_root / 'valid' / 'labels')
    results = convert_yolo(yolo_root, tmp_path / 'out', splits=['val'], classes=['a', 'b', 'c'])
    coco = load(results['val'][0])
    assert [c['name'] for c in coco['categories']] == ['a', 'b', 'c']
    assert boxes_by_file(coco) == {'valid/images/v1.jpg': [(3, [25.0, 20.0, 50.0, 40.0], 0)]}


def test_existing_output_is_kept_unless_overwrite(yolo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'instances_val.json').write_text('keep me')
    with pytest.raises(BadInput, match='output exists'):
        convert_yolo(yolo_root, out)
    assert (out / 'instances_val.json').read_text() == 'keep me'
    assert not (out / 'instances_train.json').exists()  # refused before writing anything
    convert_yolo(yolo_root, out, overwrite=True)
    assert load(out / 'instances_val.json')['images'][0]['file_name'] == 'images/val/v1.jpg'
    assert sorted(p.name for p in out.iterdir()) == ['instances_train.json', 'instances_val.json']  # no temp files


def test_bad_inputs_raise_conversion_errors(voc_parent: Path, yolo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / 'out'
    with pytest.raises(BadInput, match='no such directory'):
        convert_voc(tmp_path / 'missing', out)
    with pytest.raises(BadInput, match='not found.*: test'):
        convert_voc(voc_parent, out, splits=['train', 'test'])
    with pytest.raises(BadInput, match='no splits found'):
        convert_yolo(yolo_root / 'labels', out, classes=['a'])
    with pytest.raises(BadInput, match='duplicates cat'):
        convert_yolo(yolo_root, out, classes=['cat', 'cat'])
    (yolo_root / 'data.yaml').unlink()
    with pytest.raises(BadInput, match='no class names'):
        convert_yolo(yolo_root, out)
    assert not out.exists()


@pytest.mark.parametrize('text, expected', [
    ('names: [a, b, c]\n', ['a', 'b', 'c']),
    ('names:\n  1: b\n  0: a\n', ['a', 'b']),
    ('nc: 2\nnames: [a, b, c]\n', 'nc is 2'),
    ('names:\n  0: a\n  2: c\n', 'class indices'),
    ('names: a\n', 'no names'),
    ('names: [a, b\n', 'cannot read'),
    ('!!python/object/apply:os.system ["echo unsafe"]\n', 'cannot read'),  # safe_load refuses it
])
def test_load_class_names(tmp_path: Path, text: str, expected) -> None:
    path = tmp_path / 'data.yaml'
    path.write_text(text)
    if isinstance(expected, list):
        assert load_class_names(path) == expected
    else:
        with pytest.raises(BadInput, match=expected):
            load_class_names(path)


coordinate = st.floats(-1e4, 1e4, allow_nan=False) | st.sampled_from([0.0, 0.1, 0.3, 99.995, 100.0, 100.005])


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 2000), height=st.integers(1, 2000), box=st.tuples(*[coordinate] * 4),
       offset=st.sampled_from([0.0, 1.0]), min_size=st.sampled_from([0.0, 0.01, 1.0, math.nan]))
@example(width=1, height=9, box=(2.14, 0.0, 5.0, 5.0), offset=0.0, min_size=1.0)  # 2.14 + (1 - 2.14) > 1 in floats
@example(width=100, height=80, box=(150.0, 10.0, 200.0, 20.0), offset=0.0, min_size=math.nan)  # was w = -50
@example(width=100, height=80, box=(100.0, 10.0, 120.0, 20.0), offset=0.0, min_size=0.0)  # was w = 0
def test_written_boxes_never_leave_their_image(width, height, box, offset, min_size) -> None:
    """Even with a ``min_size`` the converters refuse (nan), no box of non-positive size is written."""
    builder = _SplitBuilder(num_classes=1, min_size=min_size)
    builder.add_box(builder.add_image('x.jpg', width, height), 0, box, offset=offset)
    stats = builder.stats
    assert stats.boxes + stats.degenerate + stats.outside == 1
    for ann in builder.annotations:
        x, y, w, h = ann['bbox']
        assert 0 < w < math.inf and 0 < h < math.inf and not (w < min_size or h < min_size)
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height


def test_mmdet_coco_dataset_loads_converted_json(voc_parent: Path, tmp_path: Path) -> None:
    """The JSON's ``info.data_root`` is all a ``CocoDataset`` needs to find the images in place."""
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    path = convert_voc(voc_parent, tmp_path / 'out', classes=CLASSES)['train'][0]
    dataset = CocoDataset(data_root=load(path)['info']['data_root'], ann_file=str(path), data_prefix=dict(img=''),
                          metainfo=dict(classes=tuple(CLASSES)),
                          pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)])
    assert len(dataset) == 6
    sample = dataset[0]  # a.jpg: a cat, a clipped dog and a difficult (ignored) dog
    assert sample['img'].shape == (80, 100, 3)
    assert sample['gt_bboxes'].tensor.tolist() == [[10, 20, 50, 60], [0, 4, 30, 80], [20, 10, 40, 30]]
    assert sample['gt_bboxes_labels'].tolist() == [0, 1, 1]
    assert sample['gt_ignore_flags'].tolist() == [False, False, True]


@pytest.mark.parametrize('min_size', [math.nan, math.inf, -math.inf, -1.0])
def test_min_size_must_be_finite_and_not_negative(yolo_root: Path, voc_parent: Path, tmp_path: Path,
                                                  min_size: float) -> None:
    for convert, src in ((convert_yolo, yolo_root), (convert_voc, voc_parent)):
        with pytest.raises(BadInput, match=rf'^min size must be a finite number of pixels >= 0, got {min_size}$'):
            convert(src, tmp_path / 'out', min_size=min_size)
    assert not (tmp_path / 'out').exists()


def test_min_size_zero_keeps_thin_boxes_but_never_empty_ones(yolo_root: Path, tmp_path: Path) -> None:
    lines = ['0 0.5 0.5 0.001 0.5', '0 1.0 0.5 0.2 0.2', '0 1.05 0.5 0.1 0.1']  # 0.1 px wide, clipped, 0 once clipped
    (yolo_root / 'labels' / 'train' / 'y3.txt').write_text('\n'.join(lines))
    results = convert_yolo(yolo_root, tmp_path / 'out', splits=['train'], min_size=0.0)
    boxes = boxes_by_file(load(results['train'][0]))['images/train/y3.jpg']
    assert boxes == [(1, [49.95, 20.0, 0.1, 40.0], 0), (1, [90.0, 32.0, 10.0, 16.0], 0)]
    assert results['train'][1].outside == 2  # y1's line at x 1.5, and y3's box starting on the right border


def test_image_size_decodes_the_whole_image(voc_parent: Path, yolo_root: Path) -> None:
    images = voc_parent / 'MYSET' / 'JPEGImages'
    assert image_size(images / 'a.jpg') == (100, 80)
    assert image_size(yolo_root / 'images' / 'train' / 'y6.jpg') == (80, 100)  # EXIF-rotated
    assert image_size(images / 'i.jpg') is None  # a text file named .jpg
    with Image.open(images / 'j.jpg') as img:
        assert img.size == (64, 48)  # the truncated JPEG's header reads...
    assert image_size(images / 'j.jpg') is None  # ...but it does not decode
    assert image_size(images / 'missing.jpg') is None


def test_voc_xml_with_entities_is_refused(voc_parent: Path) -> None:
    annotations = voc_parent / 'MYSET' / 'Annotations'
    laughs = (annotations / 'k.xml').read_text()
    assert len(ET.fromstring(laughs).findtext('object/name')) == 200_000  # what the standard parser makes of it
    for name in ('k', 'l'):
        record = _parse_voc_xml(annotations / f'{name}.xml')
        assert (record.found, record.parsed, record.objects) == (True, False, [])
    assert _parse_voc_xml(annotations / 'a.xml').parsed


def test_summary_is_one_line_with_every_count(yolo_root: Path, tmp_path: Path, monkeypatch) -> None:
    stats = SplitStats(images=5, boxes=4, clipped=3, degenerate=2, outside=1, unknown_class=6, malformed=7,
                       difficult=8, no_labels=9, empty_labels=10, size_from_image=11, skipped_images=12,
                       orphan_labels=13)
    assert stats.summary('val') == (
        'val: 5 images, 4 boxes; clipped 3; dropped: degenerate 2, outside 1, unknown class 6, malformed 7; '
        'difficult (iscrowd) 8; images without labels 9, with empty labels 10, skipped 12; orphan label files 13; '
        'sizes read from images 11')
    logged = []
    monkeypatch.setattr(converters, 'print_log', lambda message, logger: logged.append(message))
    results = convert_yolo(yolo_root, tmp_path / 'out')
    assert logged == [f'to_coco yolo {stats.summary(split)}' for split, (_, stats) in results.items()]
    assert 'skipped 2; orphan label files 2;' in logged[0]


def test_an_output_that_cannot_be_written_is_refused_before_any_work(yolo_root: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setattr(converters, 'image_size', lambda path: pytest.fail('converted before checking the output'))
    out = tmp_path / 'out'
    (out / 'instances_val.json').mkdir(parents=True)
    with pytest.raises(BadInput, match=r'^cannot write .*instances_val\.json: it is a folder$'):
        convert_yolo(yolo_root, out, overwrite=True)
    assert [p.relative_to(out).as_posix() for p in out.rglob('*')] == ['instances_val.json']  # no temp file left
    (tmp_path / 'file').write_text('mine')
    with pytest.raises(BadInput, match=r'^output directory is a file: '):
        convert_yolo(yolo_root, tmp_path / 'file', overwrite=True)
    with pytest.raises(BadInput, match=rf'^cannot write .*: {tmp_path / "file"} is a file, not a folder$'):
        convert_yolo(yolo_root, tmp_path / 'file' / 'out')
    assert (tmp_path / 'file').read_text() == 'mine'


def test_a_failed_write_publishes_no_split(yolo_root: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'instances_train.json').write_text('old')
    written = []

    def full_disk(path: Path, obj: dict, indent=None) -> None:
        if written:
            raise OSError(28, 'No space left on device')
        written.append(path)
        path.write_text('{}')

    monkeypatch.setattr(converters, 'write_json_atomic', full_disk)
    with pytest.raises(BadInput, match=rf'^cannot write {out / "instances_val.json"}: No space left on device$'):
        convert_yolo(yolo_root, out, overwrite=True)
    assert written and {p.name: p.read_text() for p in out.iterdir()} == {'instances_train.json': 'old'}


def test_an_unreadable_split_list_is_bad_input(voc_parent: Path, tmp_path: Path, monkeypatch) -> None:
    read_text = Path.read_text

    def denied(path: Path, *args, **kwargs) -> str:
        if path.name == 'val.txt':
            raise PermissionError(13, 'Permission denied')
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, 'read_text', denied)
    with pytest.raises(BadInput, match=r'^cannot read .*ImageSets/Main/val\.txt: Permission denied$'):
        convert_voc(voc_parent, tmp_path / 'out')
    assert not (tmp_path / 'out').exists()
