"""BCCD: conversion of the real data (Pascal VOC) at ``$QAREP_BCCD``, default ``../shared/datasets/bccd``
(skipped when it is absent), and ``tools/dataset_converters/prepare_bccd.py`` on the tiny VOC fixture.
"""
import json
import os
from pathlib import Path
from types import ModuleType

import pytest
from defusedxml.ElementTree import parse as parse_xml

from qarep_det.datasets.converters import convert_voc
from testing_utils import load_tool, run_failing as run_failing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
BCCD = Path(os.environ.get('QAREP_BCCD', REPO_ROOT.parent / 'shared' / 'datasets' / 'bccd'))
CLASSES = ['RBC', 'WBC', 'Platelets']


def test_bccd_converts_every_listed_image_with_boxes_inside(tmp_path: Path) -> None:
    if not (BCCD / 'BCCD' / 'Annotations').is_dir():
        pytest.skip(f'BCCD not found at {BCCD} (set QAREP_BCCD)')
    results = convert_voc(BCCD, tmp_path, splits=['train', 'val', 'test'], classes=CLASSES)
    for split, (path, stats) in results.items():
        ids = (BCCD / 'BCCD' / 'ImageSets' / 'Main' / f'{split}.txt').read_text().split()
        objects = sum(len(parse_xml(BCCD / 'BCCD' / 'Annotations' / f'{i}.xml').getroot().findall('object'))
                      for i in ids)
        assert stats.images == len(set(ids)) and stats.skipped_images == stats.orphan_labels == 0
        assert stats.boxes + stats.degenerate + stats.outside == objects
        assert stats.unknown_class == stats.malformed == stats.size_from_image == 0
        coco = json.loads(path.read_text())
        assert [c['name'] for c in coco['categories']] == CLASSES
        assert sorted(i['file_name'] for i in coco['images']) == sorted(f'JPEGImages/{i}.jpg' for i in set(ids))
        sizes = {i['id']: (i['width'], i['height']) for i in coco['images']}
        assert set(sizes.values()) == {(640, 480)}
        assert len(coco['annotations']) == stats.boxes
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            width, height = sizes[ann['image_id']]
            assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= width and y + h <= height


@pytest.fixture(scope='module')
def prepare_bccd() -> ModuleType:
    return load_tool('dataset_converters/prepare_bccd')


@pytest.fixture
def bccd_like(voc_parent: Path) -> Path:
    """The VOC fixture with the three splits prepare_bccd.py requires (its classes are not BCCD's)."""
    (voc_parent / 'MYSET' / 'ImageSets' / 'Main' / 'test.txt').write_text('d\ne\n')
    return voc_parent


def run_failing(tool: ModuleType, argv: list, capsys: pytest.CaptureFixture) -> str:
    return run_failing_tool(tool, argv, capsys, 'prepare_bccd.py')


def test_prepare_bccd_writes_the_splits_and_links_the_images_again_and_again(
        prepare_bccd: ModuleType, bccd_like: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, images = tmp_path / 'prepared', bccd_like / 'MYSET' / 'JPEGImages'
    out.mkdir()
    (out / 'JPEGImages').symlink_to(tmp_path, target_is_directory=True)  # an earlier link elsewhere: replaced
    for _ in range(2):
        assert prepare_bccd.main(['--src', str(bccd_like), '--out', str(out)]) == 0
        assert sorted(p.name for p in (out / 'annotations').iterdir()) == [
            'instances_test.json', 'instances_train.json', 'instances_val.json']
        assert (out / 'JPEGImages').is_symlink() and (out / 'JPEGImages').resolve() == images.resolve()
    test = json.loads((out / 'annotations' / 'instances_test.json').read_text())
    assert [i['file_name'] for i in test['images']] == ['JPEGImages/d.jpg', 'JPEGImages/e.jpg']
    assert [c['name'] for c in test['categories']] == CLASSES
    printed = capsys.readouterr().out
    assert f'train: 6 images, 0 boxes -> {out / "annotations" / "instances_train.json"}' in printed
    assert f'images: {out / "JPEGImages"} -> {images.resolve()}' in printed


@pytest.mark.parametrize('case, message', [
    ('missing_src', 'BCCD not found at {src} (set QAREP_BCCD or pass --src)'),
    ('no_test_split', 'split(s) not found in {src}/MYSET: test'),
    ('a_real_image_folder', 'refusing to replace {out}/JPEGImages: not a link made by this script'),
    ('out_is_a_file', 'cannot write {out}/annotations/instances_train.json: {out} is a file, not a folder'),
    ('bad_option', 'unrecognized arguments: --bogus (see --help)'),
])
def test_prepare_bccd_bad_input_exits_2_with_one_line_and_writes_nothing(
        prepare_bccd: ModuleType, bccd_like: Path, tmp_path: Path, capsys: pytest.CaptureFixture, case: str,
        message: str) -> None:
    src, out, extra = bccd_like, tmp_path / 'prepared', []
    if case == 'missing_src':
        src = tmp_path / 'missing'
    elif case == 'no_test_split':
        (bccd_like / 'MYSET' / 'ImageSets' / 'Main' / 'test.txt').unlink()
    elif case == 'a_real_image_folder':
        (out / 'JPEGImages').mkdir(parents=True)
    elif case == 'out_is_a_file':
        out.write_text('mine')
    else:
        extra = ['--bogus']
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*'))
    line = run_failing(prepare_bccd, ['--src', str(src), '--out', str(out), *extra], capsys)
    assert line == 'prepare_bccd.py: error: ' + message.format(src=src, out=out)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == before
