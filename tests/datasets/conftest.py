"""Tiny dirty VOC and YOLO datasets, written into ``tmp_path``; each case is named where it is made.

The expected numbers of the converter tests are derived in the comments next to each record.
"""
import io
from pathlib import Path
from typing import Optional, Sequence, Tuple

import pytest
from PIL import Image

# 10 ** 4 characters expanded 20 times: 200,000 characters from a 481-byte file (a "billion laughs" in
# small). The standard library's expat parses it (its amplification limit starts at 8 MiB).
LAUGHS_XML = ('<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
              '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "' + '&d;' * 20 + '">]>'
              '<annotation><filename>k.jpg</filename><size><width>64</width><height>48</height></size>'
              '<object><name>&e;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>'
              '</object></annotation>')
EXTERNAL_XML = ('<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY ext SYSTEM "file:///etc/hostname">]>'
                '<annotation><filename>l.jpg</filename><size><width>64</width><height>48</height></size>'
                '<object><name>&ext;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>'
                '</bndbox></object></annotation>')


def write_image(path: Path, size: Tuple[int, int], orientation: Optional[int] = None) -> None:
    """A small solid image of ``size = (width, height)``, with an EXIF orientation if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.new('RGB', size, (120, 60, 30)).save(path, exif=exif)


def write_truncated_jpeg(path: Path, size: Tuple[int, int]) -> None:
    """The first half of a noisy JPEG of ``size``: its header (hence its size) reads, its pixels do not decode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert('RGB').save(buffer, format='JPEG', quality=95)
    path.write_bytes(buffer.getvalue()[:buffer.tell() // 2])


def voc_object(name: Optional[str], box: Sequence, difficult: int = 0) -> str:
    """An ``<object>``; ``None`` entries of ``box`` leave that coordinate out."""
    name_xml = f'<name>{name}</name>' if name is not None else ''
    coords = ''.join(f'<{k}>{v}</{k}>' for k, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), box) if v is not None)
    return f'<object>{name_xml}<difficult>{difficult}</difficult><bndbox>{coords}</bndbox></object>'


def voc_xml(filename: str, size: Optional[Tuple[int, int]], objects: Sequence[str]) -> str:
    size_xml = f'<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>' if size else ''
    return f'<annotation><filename>{filename}</filename>{size_xml}{"".join(objects)}</annotation>'


@pytest.fixture
def voc_parent(tmp_path: Path) -> Path:
    """``tmp_path/voc/MYSET/{Annotations,JPEGImages,ImageSets/Main}`` (BCCD's layout); returns ``.../voc``.

    train (ids a..m, 'a' listed twice): 6 images written; 6 skipped (f: not XML, i: a text file named
    i.jpg, j: a truncated JPEG, k: a billion-laughs XML, l: an external-entity XML, m: neither XML nor
    image); 1 orphan label file (g: an XML without its image).
    Boxes written: a: 3 (a plain cat, a clipped dog, a difficult dog), b: 1, c: 1, h: 1 = 6.
    Dropped: degenerate 2, outside 2, unknown class 1, malformed 3 (all in a).
    """
    root = tmp_path / 'voc' / 'MYSET'
    xmls = {
        'a': voc_xml('a.jpg', (100, 80), [
            voc_object('cat', (11, 21, 50, 60)),  # 1-based -> [10, 20, 40, 40]
            voc_object('dog', (-4, 5, 30, 90)),  # past the left and bottom border -> clipped [0, 4, 30, 76]
            voc_object('cat', (30, 30, 30, 50)),  # degenerate: zero width
            voc_object('cat', (60, 50, 40, 70)),  # degenerate: negative width
            voc_object('horse', (10, 10, 20, 20)),  # unknown class
            voc_object('cat', (10, 10, 20, None)),  # malformed: no ymax
            voc_object('cat', ('abc', 10, 20, 20)),  # malformed: not a number
            voc_object(None, (10, 10, 20, 20)),  # malformed: no name
            voc_object('cat', (150, 10, 200, 20)),  # outside the image
            voc_object('cat', (100.5, 10, 120, 20)),  # 0.5 px wide once clipped: outside
            voc_object('dog', (21.0, 11.0, 40.0, 30.0), difficult=1),  # kept with iscrowd=1: [20, 10, 20, 20]
        ]),
        'b': voc_xml('b.jpg', None, [voc_object('cat', (1, 1, 64, 48))]),  # no <size>: read 64x48 from the image
        'c': voc_xml('c.jpg', (0, 48), [voc_object('dog', (1, 1, 10, 10))]),  # invalid <size>: read from the image
        'd': voc_xml('d.jpg', (64, 48), []),  # no objects: an empty label
        'g': voc_xml('g.jpg', (64, 48), [voc_object('cat', (1, 1, 10, 10))]),  # its image is missing: an orphan
        'h': voc_xml('wrong_name.jpg', (64, 48), [voc_object('cat', (5, 5, 15, 15))]),  # found as h.png
        'i': voc_xml('i.jpg', (64, 48), [voc_object('cat', (1, 1, 10, 10))]),  # i.jpg is text: skipped
        'j': voc_xml('j.jpg', (64, 48), [voc_object('cat', (1, 1, 10, 10))]),  # j.jpg is truncated: skipped
        'k': LAUGHS_XML,  # entities: refused, skipped (its image is fine)
        'l': EXTERNAL_XML,  # an external entity: refused, skipped (its image is fine)
    }
    (root / 'Annotations').mkdir(parents=True)
    for image_id, xml in xmls.items():
        (root / 'Annotations' / f'{image_id}.xml').write_text(xml)
    (root / 'Annotations' / 'f.xml').write_text('<annotation><object>')  # not XML: skipped
    write_image(root / 'JPEGImages' / 'a.jpg', (100, 80))
    for image_id in 'bcdef':  # e has no XML: an image without labels (its size is read from it)
        write_image(root / 'JPEGImages' / f'{image_id}.jpg', (64, 48))
    write_image(root / 'JPEGImages' / 'h.png', (64, 48))
    (root / 'JPEGImages' / 'i.jpg').write_text('a text file with an image name\n')
    write_truncated_jpeg(root / 'JPEGImages' / 'j.jpg', (64, 48))
    write_image(root / 'JPEGImages' / 'k.jpg', (64, 48))
    write_image(root / 'JPEGImages' / 'l.jpg', (64, 48))
    (root / 'ImageSets' / 'Main').mkdir(parents=True)
    (root / 'ImageSets' / 'Main' / 'train.txt').write_text('a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\na\n\n')
    (root / 'ImageSets' / 'Main' / 'val.txt').write_text('b  \n')
    return root.parent


@pytest.fixture
def yolo_root(tmp_path: Path) -> Path:
    """``images/{train,val}`` + ``labels/{train,val}`` + ``data.yaml`` (names as a dict).

    train: 5 images written (y1, y2, y3, sub/y5, y6), 2 skipped (y4 is not an image, y7 is truncated),
    2 orphan label files (ghost.txt, sub/y1.txt: no image of their name, in their folder).
    Boxes written: y1: 3 (plain, clipped, polygon), y5: 1, y6: 1 = 5.
    Dropped: degenerate 2, outside 1, unknown class 2, malformed 4 (all in y1).
    """
    root = tmp_path / 'yolo'
    images, labels = root / 'images' / 'train', root / 'labels' / 'train'
    for name in ('y1.jpg', 'y2.png', 'y3.jpg', 'sub/y5.jpg'):
        write_image(images / name, (100, 80))
    write_image(images / 'y6.jpg', (100, 80), orientation=6)  # EXIF-rotated: loaders see 80x100
    (images / 'y4.jpg').write_bytes(b'not an image')  # skipped
    write_truncated_jpeg(images / 'y7.jpg', (100, 80))  # skipped (its label file y7.txt is no orphan)
    (images / 'notes.txt').write_text('not an image file name: ignored')
    labels.mkdir(parents=True)
    (labels / 'y1.txt').write_text('\n'.join([
        '0 0.5 0.5 0.2 0.25',  # [40, 30, 20, 20]
        '1 0.95 0.5 0.2 0.5',  # x 85..105: clipped [85, 20, 15, 40]
        '0 0.5 0.5 0 0.1',  # degenerate
        '0 0.5 0.5 -0.1 0.1',  # degenerate
        '5 0.5 0.5 0.1 0.1',  # unknown class
        '-1 0.5 0.5 0.1 0.1',  # unknown class
        '0 0.5 0.5 0.1',  # malformed: 4 fields
        'cat 0.5 0.5 0.1 0.1',  # malformed: class not a number
        '0 nan 0.5 0.1 0.1',  # malformed: not finite
        '0.5 0.5 0.5 0.1 0.1',  # malformed: class not an integer
        '0 1.5 0.5 0.2 0.2',  # outside
        '2 0.1 0.1 0.3 0.1 0.3 0.4',  # a polygon: [10, 8, 20, 24]
        '',  # blank lines are skipped
    ]))
    (labels / 'y2.txt').write_text('\n')  # an empty label file
    (labels / 'sub').mkdir()
    (labels / 'sub' / 'y5.txt').write_text('1 0.5 0.5 1.0 1.0\n')  # the whole image: [0, 0, 100, 80]
    (labels / 'y6.txt').write_text('0 0.5 0.5 1 1\n')  # the whole (rotated) image: [0, 0, 80, 100]
    (labels / 'y7.txt').write_text('0 0.5 0.5 0.2 0.2\n')
    (labels / 'ghost.txt').write_text('0 0.5 0.5 0.2 0.2\n')  # an orphan
    (labels / 'sub' / 'y1.txt').write_text('0 0.5 0.5 0.2 0.2\n')  # an orphan: y1.jpg is not in images/train/sub
    write_image(root / 'images' / 'val' / 'v1.jpg', (100, 80))
    (root / 'labels' / 'val').mkdir(parents=True)
    (root / 'labels' / 'val' / 'v1.txt').write_text('2 0.5 0.5 0.5 0.5\n')
    (root / 'data.yaml').write_text('path: .\ntrain: images/train\nval: images/val\nnc: 3\n'
                                    'names:\n  0: cat\n  1: dog\n  2: bird\n')
    return root
