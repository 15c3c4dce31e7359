"""A deterministic synthetic COCO detection set: colored shapes on textured, noisy backgrounds.

The project's embedded data: the demo and the tests that run without ``../shared`` use it. Layout::

    out_dir/train/000000.jpg ...            out_dir/val/000000.jpg ...
    out_dir/annotations/instances_{train,val}.json
    out_dir/manifest.json                   parameters and file sizes: a complete set is reused

Load it with mmdet's ``CocoDataset(data_root=out_dir, ann_file='annotations/instances_train.json',
data_prefix=dict(img='train/'), metainfo=METAINFO)``.

Each image shows 1..``max_objects`` circles, squares (rotated) and triangles (rotated, jittered)
of log-uniform scale and random color on a background of a color gradient, smooth noise, optional
stripes and thin clutter lines, all under per-pixel Gaussian noise. Later shapes are drawn over
earlier ones; a shape is only placed if afterwards every shape (itself included, also against the
image border) still shows at least ``min_visible`` of its area, otherwise it is re-drawn elsewhere
(up to ``_PLACEMENT_TRIES`` times) or left out. So every visible shape is labelled, and its box is
the tight box of its *visible* pixels (COCO's convention). Category ids are ``1 + index`` in
:data:`CLASSES`. Image ``i`` of a split depends only on ``(seed, split, i)``: the same seed gives
byte-identical images and JSON (with the same numpy and OpenCV builds).
"""
import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

CLASSES = ('circle', 'square', 'triangle')
METAINFO = dict(classes=CLASSES, palette=[(220, 20, 60), (0, 128, 255), (0, 170, 0)])
GENERATOR = 'qarep_det.datasets.synthetic'
GENERATOR_VERSION = 1  # bump whenever the drawing changes: existing sets are then regenerated
SPLITS = ('train', 'val')
_PLACEMENT_TRIES = 20
_MIN_CONTRAST = 70.0  # Euclidean RGB distance between a shape and the background under it
_JPEG_QUALITY = 95


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of an ``(h, w, c)`` grid to ``(height, width, c)``: along x, then along y."""
    ys, xs = np.linspace(0, grid.shape[0] - 1, height), np.linspace(0, grid.shape[1] - 1, width)
    y0, x0 = np.minimum(ys.astype(int), grid.shape[0] - 2), np.minimum(xs.astype(int), grid.shape[1] - 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    rows = grid[:, x0] * (1 - fx) + grid[:, x0 + 1] * fx
    return rows[y0] * (1 - fy) + rows[y0 + 1] * fy


def _background(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Gradient + smooth noise + optional stripes + 0..3 clutter lines, float RGB ``(h, w, 3)``."""
    height, width = xx.shape
    angle = rng.uniform(0, 2 * np.pi)
    t = (xx * np.cos(angle) + yy * np.sin(angle)) / max(height, width)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    img = rng.uniform(0, 255, 3) * (1 - t[..., None]) + rng.uniform(0, 255, 3) * t[..., None]
    cell = rng.integers(16, 64)
    img += _upsample(rng.normal(0, 25, (height // cell + 2, width // cell + 2, 3)), height, width)
    if rng.random() < 0.5:
        freq, phase = rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
        angle = rng.uniform(0, np.pi)
        img += 12 * np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)[..., None]
    for _ in range(rng.integers(0, 4)):
        p, q = rng.uniform(0, 1, 2) * (width, height), rng.uniform(0, 1, 2) * (width, height)
        x0, y0 = (np.minimum(p, q) - 2).astype(int).clip(0)
        x1, y1 = (np.maximum(p, q) + 3).astype(int)
        x, y, d = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1], q - p  # only the window around the segment
        s = np.clip(((x - p[0]) * d[0] + (y - p[1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
        dist = np.hypot(x - p[0] - s * d[0], y - p[1] - s * d[1])
        img[y0:y1, x0:x1][dist < rng.uniform(0.5, 1.5)] = rng.uniform(0, 255, 3)
    return img


def _shape(rng: np.random.Generator, label: int, size: float, center: np.ndarray, xx: np.ndarray,
           yy: np.ndarray) -> Tuple[np.ndarray, float]:
    """Mask (pixel centers inside) and analytic area of one shape of class ``label``."""
    if CLASSES[label] == 'circle':
        radius = size / 2
        return (xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= radius ** 2, np.pi * radius ** 2
    if CLASSES[label] == 'square':
        angles = rng.uniform(0, np.pi / 2) + np.arange(4) * np.pi / 2
        radii = np.full(4, size / np.sqrt(2))
    else:  # triangle: an equilateral one with jittered vertices
        angles = rng.uniform(0, 2 * np.pi / 3) + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.2, 0.2, 3)
        radii = size / np.sqrt(3) * rng.uniform(0.85, 1.15, 3)
    vertices = center + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # counter-clockwise
    mask = np.ones(xx.shape, dtype=bool)
    for p, q in zip(vertices, np.roll(vertices, -1, axis=0)):
        mask &= (q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0]) >= 0
    x, y = vertices[:, 0], vertices[:, 1]
    return mask, 0.5 * abs(x @ np.roll(y, -1) - y @ np.roll(x, -1))


def render_image(rng: np.random.Generator, image_size: Tuple[int, int], max_objects: int,
                 min_visible: float) -> Tuple[np.ndarray, List[Tuple[int, List[int], int]]]:
    """One image (uint8 RGB) and its objects as ``(label, [x, y, w, h], visible_pixels)``."""
    height, width = image_size
    yy, xx = np.mgrid[0:height, 0:width] + 0.5  # pixel centers
    img = _background(rng, xx, yy)
    owner = np.full((height, width), -1)  # index of the shape each pixel shows, -1: background
    shapes = []  # (label, color, analytic area)
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(len(CLASSES)))
        for _ in range(_PLACEMENT_TRIES):
            size = np.exp(rng.uniform(np.log(0.06), np.log(0.45))) * min(height, width)
            mask, area = _shape(rng, label, size, rng.uniform(0, 1, 2) * (width, height), xx, yy)
            candidate = np.where(mask, len(shapes), owner)
            visible = np.bincount(candidate.ravel() + 1, minlength=len(shapes) + 2)[1:]
            areas = np.array([s[2] for s in shapes] + [area])
            if np.all(visible >= min_visible * areas):
                break
        else:
            continue  # no room for this shape in this image
        under = img[mask].mean(axis=0)
        color = rng.uniform(0, 255, 3)
        for _ in range(_PLACEMENT_TRIES):
            if np.linalg.norm(color - under) >= _MIN_CONTRAST:
                break
            color = rng.uniform(0, 255, 3)
        owner = candidate
        shapes.append((label, color, area))
    objects = []
    for index, (label, color, _) in enumerate(shapes):
        ys, xs = np.nonzero(owner == index)
        shade = 1 + 0.2 * (xs - xs.mean()) / max(np.ptp(xs), 1) - 0.2 * (ys - ys.mean()) / max(np.ptp(ys), 1)
        img[ys, xs] = color * shade[:, None]
        x0, y0 = int(xs.min()), int(ys.min())
        objects.append((label, [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0], len(xs)))
    img += rng.uniform(2, 10) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), objects


def _write_split(out_dir: Path, split: str, split_index: int, params: dict) -> Dict[str, int]:
    """Write one split's images and COCO JSON; returns ``{relative path: byte size}``."""
    (out_dir / split).mkdir(parents=True)
    images, annotations, files = [], [], {}
    height, width = params['image_size']
    for i in range(params[f'num_{split}']):
        rng = np.random.default_rng([params['seed'], split_index, i])
        img, objects = render_image(rng, (height, width), params['max_objects'], params['min_visible'])
        ok, data = cv2.imencode('.jpg', img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f'OpenCV could not encode synthetic image {split}/{i}')
        file_name = f'{i:06d}.jpg'
        files[f'{split}/{file_name}'] = (out_dir / split / file_name).write_bytes(data.tobytes())
        images.append(dict(id=i + 1, file_name=file_name, width=width, height=height))
        for label, bbox, visible in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=i + 1, category_id=label + 1, bbox=bbox,
                                    area=visible, iscrowd=0, segmentation=[]))
    coco = dict(info=dict(description='qarep_det synthetic shapes', generator=GENERATOR, split=split, **params),
                images=images, annotations=annotations,
                categories=[dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CLASSES)])
    ann_file = f'annotations/instances_{split}.json'
    files[ann_file] = (out_dir / ann_file).write_bytes(json.dumps(coco).encode())
    return files


def _manifest(out_dir: Path) -> Optional[dict]:
    """The manifest of a set this module wrote, ``None`` if ``out_dir`` holds none."""
    try:
        manifest = json.loads((out_dir / 'manifest.json').read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get('generator') == GENERATOR else None


def _is_complete(out_dir: Path, params: dict) -> bool:
    manifest = _manifest(out_dir)
    if manifest is None or manifest.get('params') != params:
        return False
    for rel, size in manifest['files'].items():
        path = out_dir / rel
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def _paths(out_dir: Path) -> Dict[str, Path]:
    paths = {'data_root': out_dir, 'manifest': out_dir / 'manifest.json'}
    for split in SPLITS:
        paths[f'{split}_img'] = out_dir / split
        paths[f'{split}_ann'] = out_dir / 'annotations' / f'instances_{split}.json'
    return paths


def generate_synthetic_coco(out_dir: Path, num_train: int = 160, num_val: int = 40,
                            image_size: Tuple[int, int] = (256, 256), seed: int = 0, max_objects: int = 6,
                            min_visible: float = 0.5) -> Dict[str, Path]:
    """Write (or reuse) the synthetic set in ``out_dir``.

    A complete set with the same parameters (per ``manifest.json``) is reused as is. Otherwise the
    set is generated in a temporary sibling folder and swapped in, so ``out_dir`` never holds a
    partial set; concurrent callers are serialized by a lock file next to ``out_dir``. An existing
    ``out_dir`` is only replaced if it is empty or a set written by this module.

    Args:
        out_dir: The set's folder (its ``data_root``).
        num_train: Number of training images.
        num_val: Number of validation images.
        image_size: ``(height, width)`` of every image, each at least 32.
        seed: Non-negative seed; image ``i`` of a split depends only on ``(seed, split, i)``.
        max_objects: Each image gets 1..``max_objects`` shapes (fewer if they do not fit).
        min_visible: Fraction of its area each shape must show (occlusion and image border).

    Returns:
        Absolute paths: ``data_root``, ``manifest``, ``{train,val}_img`` (image folders) and
        ``{train,val}_ann`` (COCO JSON files).
    """
    if num_train < 0 or num_val < 0 or seed < 0 or max_objects < 1 or min(image_size) < 32:
        raise ValueError('need num_train, num_val, seed >= 0, max_objects >= 1 and image sides >= 32')
    if not 0 < min_visible <= 1:
        raise ValueError(f'min_visible must be in (0, 1], got {min_visible}')
    params = dict(version=GENERATOR_VERSION, num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed), max_objects=int(max_objects),
                  min_visible=float(min_visible))
    out_dir = Path(out_dir).absolute()
    if _is_complete(out_dir, params):
        return _paths(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and _manifest(out_dir) is None)):
        raise FileExistsError(f'refusing to replace {out_dir}: not a synthetic set written by {GENERATOR}')
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f'.{out_dir.name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_complete(out_dir, params):  # another process may have written it meanwhile
            _regenerate(out_dir, params)
    return _paths(out_dir)


def _new_sibling(out_dir: Path, kind: str) -> Path:
    """A new empty folder ``.{name}.{kind}-{random}`` next to ``out_dir`` (created with the umask)."""
    path = out_dir.parent / f'.{out_dir.name}.{kind}-{uuid.uuid4().hex[:12]}'
    path.mkdir()
    return path


def _regenerate(out_dir: Path, params: dict) -> None:
    """Generate into a temporary sibling and swap it in (called with the lock held)."""
    for stale in out_dir.parent.glob(f'.{out_dir.name}.t*-*'):  # left by interrupted runs
        shutil.rmtree(stale, ignore_errors=True)
    tmp = _new_sibling(out_dir, 'tmp')
    try:
        (tmp / 'annotations').mkdir()
        files = {}
        for split_index, split in enumerate(SPLITS):
            files.update(_write_split(tmp, split, split_index, params))
        (tmp / 'manifest.json').write_text(json.dumps(dict(generator=GENERATOR, params=params, files=files),
                                                      indent=1))
        if out_dir.exists():
            trash = _new_sibling(out_dir, 'trash')
            os.rename(out_dir, trash / out_dir.name)
            os.rename(tmp, out_dir)
            shutil.rmtree(trash)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
