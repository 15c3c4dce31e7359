"""Conversion of the real BCCD data (Pascal VOC) at ``$QAREP_BCCD``, default ``../shared/datasets/bccd``.

Skipped when the data is absent.
"""
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from qarep_det.datasets.converters import convert_voc

REPO_ROOT = Path(__file__).resolve().parents[2]
BCCD = Path(os.environ.get('QAREP_BCCD', REPO_ROOT.parent / 'shared' / 'datasets' / 'bccd'))
CLASSES = ['RBC', 'WBC', 'Platelets']


def test_bccd_converts_every_listed_image_with_boxes_inside(tmp_path: Path) -> None:
    if not (BCCD / 'BCCD' / 'Annotations').is_dir():
        pytest.skip(f'BCCD not found at {BCCD} (set QAREP_BCCD)')
    results = convert_voc(BCCD, tmp_path, splits=['train', 'val', 'test'], classes=CLASSES)
    for split, (path, stats) in results.items():
        ids = (BCCD / 'BCCD' / 'ImageSets' / 'Main' / f'{split}.txt').read_text().split()
        objects = sum(len(ET.parse(BCCD / 'BCCD' / 'Annotations' / f'{i}.xml').getroot().findall('object'))
                      for i in ids)
        assert stats.images == len(set(ids)) and stats.skipped_images == 0
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
