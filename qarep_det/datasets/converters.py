"""Convert Pascal VOC XML and YOLO txt detection datasets to COCO JSON, one file per split.

Images are not copied: each JSON's ``info.data_root`` names the folder its ``file_name`` entries
are relative to, so an mmdet ``CocoDataset`` loads them with ``data_root=info['data_root']``,
``data_prefix=dict(img='')`` and ``ann_file`` set to the JSON's absolute path.

Conventions: category ids are ``1 + index`` in the class list (the order given, else the sorted
VOC names); boxes are continuous pixel coordinates ``[x, y, w, h]``, clipped to the image; a box
is dropped when it is degenerate as annotated (max <= min), thinner than ``min_size`` once clipped
(this includes boxes wholly outside), of an unknown class, or malformed; no box of non-positive or
non-finite width or height is ever written. An image is only written if it fully decodes (a text
file named ``.jpg`` or a truncated JPEG is skipped); a label file without its image is an orphan;
VOC XML is parsed with ``defusedxml``, so an XML declaring entities (billion laughs, external
entities) is refused and its image skipped. Every kind is counted in :class:`SplitStats` and
logged in one line per split. Bad records never stop a conversion; bad *inputs* (no such folder,
no split, unreadable class list, a bad ``min_size``, an existing or unwritable output) raise
:class:`~qarep_det.utils.BadInput` before any output is written. The JSON files of all splits are
published together, when all are written, or none is.

Provenance: the VOC side follows mmdet's ``tools/dataset_converters/pascal_voc.py``: coordinates
are 1-based pixel indices, and ``difficult`` objects get ``iscrowd=1``, the one ignore flag both
mmdet's ``CocoDataset`` and ``pycocotools.COCOeval`` honour. Unlike mmdet, which subtracts 1 from
all four, the inclusive pixel range ``xmin..xmax`` becomes the continuous box ``[xmin - 1, xmax]``,
so a box ending on the last pixel ends on the image border. The YOLO side follows
ultralytics' dataset layout (``images/`` -> ``labels/`` path swap, EXIF-corrected image sizes,
``class cx cy w h`` normalized lines or ``class x1 y1 x2 y2 ...`` polygons).
"""
import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import yaml
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import parse as parse_xml
from mmengine.logging import print_log
from PIL import Image

from qarep_det.utils import BadInput, atomic_output, write_json_atomic

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
DEFAULT_SPLITS = ('train', 'val', 'test')
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
Box = Tuple[float, float, float, float]


@dataclass
class SplitStats:
    """What one split's conversion wrote and what it had to repair or leave out."""

    images: int = 0  # images written
    boxes: int = 0  # boxes written
    clipped: int = 0  # written boxes that were clipped to their image
    degenerate: int = 0  # dropped: zero-size or negative as annotated
    outside: int = 0  # dropped: outside the image or thinner than min_size once clipped
    unknown_class: int = 0  # dropped: class name or index not in the class list
    malformed: int = 0  # dropped: objects or label lines that do not parse
    difficult: int = 0  # VOC difficult boxes, written with iscrowd=1 (ignored in training and eval)
    no_labels: int = 0  # images written without a label file (YOLO) or XML (VOC): background
    empty_labels: int = 0  # images written whose label file lists no object
    size_from_image: int = 0  # image sizes read from the image because the XML lacked a valid one
    skipped_images: int = 0  # images left out: missing or undecodable image, unparsable or refused XML
    orphan_labels: int = 0  # label files (YOLO txt, VOC XML) whose image does not exist: nothing written

    def summary(self, split: str) -> str:
        """One log line, e.g. ``train: 205 images, 2804 boxes; clipped 0; dropped: degenerate 1, ...``."""
        return (f'{split}: {self.images} images, {self.boxes} boxes; clipped {self.clipped}; dropped: '
                f'degenerate {self.degenerate}, outside {self.outside}, unknown class {self.unknown_class}, '
                f'malformed {self.malformed}; difficult (iscrowd) {self.difficult}; images without labels '
                f'{self.no_labels}, with empty labels {self.empty_labels}, skipped {self.skipped_images}; '
                f'orphan label files {self.orphan_labels}; sizes read from images {self.size_from_image}')


@dataclass
class _SplitBuilder:
    """Accumulates one split's COCO images and annotations, validating every box."""

    num_classes: int
    min_size: float
    stats: SplitStats = field(default_factory=SplitStats)
    images: List[dict] = field(default_factory=list)
    annotations: List[dict] = field(default_factory=list)

    def add_image(self, file_name: str, width: int, height: int) -> dict:
        image = dict(id=len(self.images) + 1, file_name=file_name, width=width, height=height)
        self.images.append(image)
        self.stats.images += 1
        return image

    def add_box(self, image: dict, label: int, box: Box, offset: float = 0.0, crowd: bool = False) -> None:
        """Add ``box`` (x1, y1, x2, y2 as annotated; ``offset`` is subtracted from x1 and y1)."""
        if not all(math.isfinite(v) for v in box):
            self.stats.malformed += 1
            return
        if not 0 <= label < self.num_classes:
            self.stats.unknown_class += 1
            return
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            self.stats.degenerate += 1
            return
        width, height = image['width'], image['height']
        raw = [round(v, 2) + 0.0 for v in (x1 - offset, y1 - offset, x2, y2)]  # + 0.0: no -0.0
        x1, y1 = max(raw[0], 0.0), max(raw[1], 0.0)
        x2, y2 = min(raw[2], float(width)), min(raw[3], float(height))
        w, h = _extent(x1, x2, width), _extent(y1, y2, height)
        if not (0 < w < math.inf and 0 < h < math.inf) or w < self.min_size or h < self.min_size:
            self.stats.outside += 1
            return
        self.stats.clipped += [x1, y1, x2, y2] != raw
        self.stats.difficult += crowd
        self.stats.boxes += 1
        self.annotations.append(
            dict(id=len(self.annotations) + 1, image_id=image['id'], category_id=label + 1, bbox=[x1, y1, w, h],
                 area=round(w * h, 4), iscrowd=int(crowd), segmentation=[]))

    def to_coco(self, classes: Sequence[str], info: dict) -> dict:
        categories = [dict(id=i + 1, name=name, supercategory='none') for i, name in enumerate(classes)]
        return dict(info=info, images=self.images, annotations=self.annotations, categories=categories)


def _extent(lo: float, hi: float, limit: int) -> float:
    """``hi - lo`` lowered by float ulps until ``lo + extent <= limit`` holds exactly."""
    extent = round(hi - lo, 2)
    while lo + extent > limit:
        extent = math.nextafter(extent, -math.inf)
    return extent


def image_size(path: Path) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of an image as loaders see it (EXIF-rotated), ``None`` if it does not decode.

    The whole image is decoded, so a non-image with an image's name and a truncated file are
    ``None`` (as long as PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES`` keeps its default, False).
    Provenance: ultralytics' ``exif_size`` and ``verify_image_label``.
    """
    try:
        with Image.open(path) as img:
            img.load()
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    if width <= 0 or height <= 0:
        return None
    return (height, width) if orientation in _TRANSPOSED_ORIENTATIONS else (width, height)


def load_class_names(yaml_path: Path) -> List[str]:
    """Class names from a YOLO ``data.yaml``: a ``names:`` list, or a dict ``{0: name, ...}``."""
    try:
        data = yaml.safe_load(Path(yaml_path).read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise BadInput(f'cannot read class names from {yaml_path}: {type(err).__name__}') from err
    names = data.get('names') if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            index = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError):
            index = {}
        if sorted(index) != list(range(len(names))):
            raise BadInput(f'{yaml_path}: the keys of names: must be the class indices 0..{len(names) - 1}')
        names = [index[i] for i in range(len(index))]
    if not isinstance(names, list) or not names:
        raise BadInput(f'{yaml_path}: no names: list or dict of class names')
    if isinstance(data.get('nc'), int) and data['nc'] != len(names):
        raise BadInput(f'{yaml_path}: nc is {data["nc"]} but names: lists {len(names)} classes')
    return check_classes(str(n) for n in names)


def check_classes(classes: Iterable[str]) -> List[str]:
    """The class list as a list, rejecting an empty list and duplicate names."""
    classes = list(classes)
    duplicates = sorted({c for c in classes if classes.count(c) > 1})
    if not classes or duplicates:
        raise BadInput(f'invalid class list {classes}: ' + ('duplicates ' + ', '.join(duplicates)
                                                                    if duplicates else 'empty'))
    return classes


def _check_min_size(min_size: float) -> None:
    if not 0 <= min_size < math.inf:  # also refuses nan
        raise BadInput(f'min size must be a finite number of pixels >= 0, got {min_size}')


def _output_path(out_dir: Path, split: str) -> Path:
    return Path(out_dir) / f'instances_{split}.json'


@contextlib.contextmanager
def _outputs(out_dir: Path, splits: Iterable[str], overwrite: bool) -> Iterator[Dict[str, Path]]:
    """A temporary path per split, all moved onto ``instances_{split}.json`` when the ``with`` body succeeds.

    Entered before the conversion's work, so that an output that cannot be written is refused
    first: an existing one without ``overwrite``, ``out_dir`` a file, a file on its path, a folder
    without write permission. On any failure the temporary files are removed and nothing is published.

    Raises:
        BadInput: An output cannot be written, or exists and ``overwrite`` is False.
    """
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise BadInput(f'output directory is a file: {out_dir}')
    paths = {split: _output_path(out_dir, split) for split in splits}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise BadInput(f'output exists (pass --overwrite to replace it): {", ".join(existing)}')
    with contextlib.ExitStack() as stack:
        yield {split: stack.enter_context(atomic_output(path, overwrite)) for split, path in paths.items()}


def _write(builders: Dict[str, _SplitBuilder], tmps: Dict[str, Path], classes: Sequence[str], info: dict) -> None:
    """Write each split's COCO JSON (compact, one line) to its temporary path of :func:`_outputs`."""
    for split, builder in builders.items():
        try:
            write_json_atomic(tmps[split], builder.to_coco(classes, dict(info, split=split)), indent=None)
        except OSError as err:  # e.g. a full disk: the user's to fix
            raise BadInput(f'cannot write {_output_path(tmps[split].parent, split)}: {err.strerror or err}') from None


def _report(builders: Dict[str, _SplitBuilder], out_dir: Path, fmt: str) -> Dict[str, Tuple[Path, SplitStats]]:
    """Log one summary line per split; returns ``{split: (json_path, stats)}``."""
    for split, builder in builders.items():
        print_log(f'to_coco {fmt} {builder.stats.summary(split)}', logger='current')
    return {split: (_output_path(out_dir, split), builder.stats) for split, builder in builders.items()}


# ---------------------------------------------------------------------------------------- VOC
def find_voc_root(src: Path) -> Path:
    """``src`` if it holds ``Annotations/``, else its one subfolder that does (``BCCD/``, ``VOC2007/``)."""
    src = Path(src)
    if not src.is_dir():
        raise BadInput(f'no such directory: {src}')
    if (src / 'Annotations').is_dir():
        return src
    roots = sorted(p for p in src.iterdir() if (p / 'Annotations').is_dir())
    if len(roots) != 1:
        found = 'several: ' + ', '.join(p.name for p in roots) if roots else 'none'
        raise BadInput(f'{src}: expected one VOC folder holding Annotations/, found {found}')
    return roots[0]


@dataclass
class _VocRecord:
    """One parsed VOC annotation: objects are (name, box, difficult), ``None`` for what did not parse."""

    found: bool
    parsed: bool
    filename: Optional[str] = None
    size: Optional[Tuple[int, int]] = None
    objects: List[Tuple[Optional[str], Optional[Box], bool]] = field(default_factory=list)


def _parse_voc_xml(path: Path) -> _VocRecord:
    if not path.is_file():
        return _VocRecord(found=False, parsed=True)
    try:
        root = parse_xml(path).getroot()  # refuses entity declarations: billion laughs, external entities
    except (ParseError, DefusedXmlException, OSError):
        return _VocRecord(found=True, parsed=False)
    filename = Path((root.findtext('filename') or '').strip().replace('\\', '/')).name  # never a path
    record = _VocRecord(found=True, parsed=True, filename=filename or None)
    try:
        size = int(float(root.findtext('size/width'))), int(float(root.findtext('size/height')))
        record.size = size if min(size) > 0 else None
    except (TypeError, ValueError, OverflowError):
        pass  # no valid size: read from the image
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip() or None
        try:
            box = tuple(float(obj.findtext(f'bndbox/{k}')) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        except (TypeError, ValueError):
            box = None
        difficult = (obj.findtext('difficult') or '0').strip() in ('1', 'true', 'True')
        record.objects.append((name, box, difficult))
    return record


def _voc_image(root: Path, image_id: str, filename: Optional[str]) -> Optional[Path]:
    candidates = [root / 'JPEGImages' / filename] if filename else []
    candidates += [root / 'JPEGImages' / f'{image_id}{ext}' for ext in IMG_EXTENSIONS]
    return next((p for p in candidates if p.is_file()), None)


def convert_voc(src: Path, out_dir: Path, splits: Optional[Sequence[str]] = None,
                classes: Optional[Sequence[str]] = None, overwrite: bool = False, one_based: bool = True,
                min_size: float = 1.0) -> Dict[str, Tuple[Path, SplitStats]]:
    """Convert the splits of ``ImageSets/Main/{split}.txt`` of a VOC folder to COCO JSON.

    Args:
        src: The VOC folder (holding ``Annotations/``, ``JPEGImages/``, ``ImageSets/``) or its parent.
        out_dir: Where ``instances_{split}.json`` are written.
        splits: Splits to convert, all required; default: those of train/val/test that exist.
        classes: Class names in category-id order; names outside it are dropped and counted.
            Default: the sorted names found in the converted splits.
        overwrite: Replace existing output files (all splits' files are published together, or none).
        one_based: VOC pixel indices start at 1 (the VOC convention, labelImg's too): a box
            ``xmin..xmax`` covers ``[xmin - 1, xmax]``. ``False`` takes coordinates as they are.
        min_size: Boxes thinner than this (pixels) once clipped are dropped; a finite number >= 0.

    Returns:
        ``{split: (json_path, stats)}``.

    Raises:
        BadInput: Bad input (see the module docstring); nothing is written then.
    """
    _check_min_size(min_size)
    root = find_voc_root(src)
    lists = {s: root / 'ImageSets' / 'Main' / f'{s}.txt' for s in (splits or DEFAULT_SPLITS)}
    split_files = _existing_splits(splits, {s: p if p.is_file() else None for s, p in lists.items()}, root)
    records = {}
    for split, list_file in split_files.items():
        try:
            lines = list_file.read_text(errors='replace').splitlines()
        except OSError as err:
            raise BadInput(f'cannot read {list_file}: {err.strerror or err}') from None
        ids = dict.fromkeys(line.split()[0] for line in lines if line.strip())  # in order, without repeats
        records[split] = [(i, _parse_voc_xml(root / 'Annotations' / f'{i}.xml')) for i in ids]
    classes = check_classes(classes or sorted({name for recs in records.values() for _, r in recs
                                               for name, box, _ in r.objects if name and box}))
    index = {name: i for i, name in enumerate(classes)}
    with _outputs(out_dir, records, overwrite) as tmps:
        builders = {split: _voc_split(root, recs, index, min_size, one_based) for split, recs in records.items()}
        _write(builders, tmps, classes, dict(format='voc', data_root=str(root.resolve())))
    return _report(builders, out_dir, 'voc')


def _voc_split(root: Path, records: List[Tuple[str, _VocRecord]], index: Dict[str, int], min_size: float,
               one_based: bool) -> _SplitBuilder:
    """One split's images and boxes; each record is written, skipped or (an XML without image) an orphan."""
    builder = _SplitBuilder(len(index), min_size)
    for image_id, record in records:
        img_path = _voc_image(root, image_id, record.filename)
        if record.parsed and record.found and img_path is None:
            builder.stats.orphan_labels += 1
            continue
        decoded = image_size(img_path) if record.parsed and img_path else None
        if decoded is None:
            builder.stats.skipped_images += 1
            continue
        builder.stats.size_from_image += record.size is None
        image = builder.add_image(img_path.relative_to(root).as_posix(), *(record.size or decoded))
        builder.stats.no_labels += not record.found
        builder.stats.empty_labels += record.found and not record.objects
        for name, box, difficult in record.objects:
            if name is None or box is None:
                builder.stats.malformed += 1
            else:
                builder.add_box(image, index.get(name, -1), box, float(one_based), crowd=difficult)
    return builder


def _existing_splits(requested: Optional[Sequence[str]], candidates: dict, src: Path) -> dict:
    """The candidates found (not ``None``); every requested split must be, and at least one default one."""
    found = {split: path for split, path in candidates.items() if path is not None}
    missing = [s for s in candidates if s not in found]
    if requested and missing:
        raise BadInput(f'split(s) not found in {src}: {", ".join(missing)}')
    if not found:
        raise BadInput(f'no splits found in {src} (looked for {", ".join(candidates)})')
    return found


# --------------------------------------------------------------------------------------- YOLO
def _yolo_split_dirs(src: Path, split: str) -> Optional[Tuple[Path, Path]]:
    """``(images_dir, labels_dir)`` of a split: ``images/{split}`` or ``{split}/images`` (Roboflow)."""
    for name in (split, 'valid') if split == 'val' else (split,):
        if (src / 'images' / name).is_dir():
            return src / 'images' / name, src / 'labels' / name
        if (src / name / 'images').is_dir():
            return src / name / 'images', src / name / 'labels'
    return None


def _parse_yolo_line(fields: List[str], width: int, height: int) -> Optional[Tuple[int, Box]]:
    """``(class, (x1, y1, x2, y2))`` in pixels from ``cls cx cy w h`` or ``cls x1 y1 x2 y2 ...``."""
    try:
        label, values = float(fields[0]), [float(v) for v in fields[1:]]
    except ValueError:
        return None
    if not label.is_integer() or not (len(values) == 4 or (len(values) >= 6 and len(values) % 2 == 0)):
        return None
    if len(values) == 4:
        cx, cy, w, h = values
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    else:
        box = (min(values[0::2]), min(values[1::2]), max(values[0::2]), max(values[1::2]))
    return int(label), (box[0] * width, box[1] * height, box[2] * width, box[3] * height)


def convert_yolo(src: Path, out_dir: Path, splits: Optional[Sequence[str]] = None,
                 classes: Optional[Sequence[str]] = None, overwrite: bool = False,
                 min_size: float = 1.0) -> Dict[str, Tuple[Path, SplitStats]]:
    """Convert a YOLO txt dataset (``images/{split}`` + ``labels/{split}``, or ``{split}/images``) to COCO.

    Args:
        src: The dataset root.
        out_dir: Where ``instances_{split}.json`` are written.
        splits: Splits to convert, all required; default: those of train/val/test that exist
            (``val`` may be named ``valid``).
        classes: Class names by class index; default: ``names:`` of ``src/data.yaml``.
        overwrite: Replace existing output files (all splits' files are published together, or none).
        min_size: Boxes thinner than this (pixels) once clipped are dropped; a finite number >= 0.

    Returns:
        ``{split: (json_path, stats)}``.

    Raises:
        BadInput: Bad input (see the module docstring); nothing is written then.
    """
    _check_min_size(min_size)
    src = Path(src)
    if not src.is_dir():
        raise BadInput(f'no such directory: {src}')
    if classes:
        classes = check_classes(classes)
    elif (src / 'data.yaml').is_file():
        classes = load_class_names(src / 'data.yaml')
    else:
        raise BadInput(f'no class names: give --classes or --data-yaml ({src / "data.yaml"} not found)')
    split_dirs = _existing_splits(splits, {s: _yolo_split_dirs(src, s) for s in (splits or DEFAULT_SPLITS)}, src)
    with _outputs(out_dir, split_dirs, overwrite) as tmps:
        builders = {split: _yolo_split(src, *dirs, len(classes), min_size) for split, dirs in split_dirs.items()}
        _write(builders, tmps, classes, dict(format='yolo', data_root=str(src.resolve())))
    return _report(builders, out_dir, 'yolo')


def _yolo_split(src: Path, images_dir: Path, labels_dir: Path, num_classes: int, min_size: float) -> _SplitBuilder:
    """One split's images and boxes; label files without an image are counted as orphans."""
    builder = _SplitBuilder(num_classes, min_size)
    img_paths = sorted(p for p in images_dir.rglob('*') if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
    stems = {p.relative_to(images_dir).with_suffix('') for p in img_paths}
    builder.stats.orphan_labels = sum(p.relative_to(labels_dir).with_suffix('') not in stems
                                      for p in labels_dir.rglob('*.txt') if p.is_file())
    for img_path in img_paths:
        size = image_size(img_path)
        if size is None:
            builder.stats.skipped_images += 1
            continue
        image = builder.add_image(img_path.relative_to(src).as_posix(), *size)
        label_path = (labels_dir / img_path.relative_to(images_dir)).with_suffix('.txt')
        try:
            lines = [line.split() for line in label_path.read_text(errors='replace').splitlines()]
        except OSError:
            builder.stats.no_labels += 1
            continue
        lines = [fields for fields in lines if fields]
        builder.stats.empty_labels += not lines
        for fields in lines:
            parsed = _parse_yolo_line(fields, *size)
            if parsed is None:
                builder.stats.malformed += 1
            else:
                builder.add_box(image, *parsed)
    return builder
