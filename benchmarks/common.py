"""What the benchmark scripts share: the repository root, the results writer, running a tool with
its log, a PTQ report, training-log timings, the BCCD runs' layout and the channels_last copy of a model.

The scripts run as ``python benchmarks/<name>.py``, so this folder is first on ``sys.path`` and
they import this module as ``common``; none of them imports another script.

Provenance: qarep_det's own benchmark conventions; results are written with the package's one
atomic-write module (:mod:`qarep_det.utils.io`).
"""
import copy
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn

from qarep_det.utils import write_atomic, write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'

BCCD_CONFIGS = {'qarep': 'configs/bccd_det/yolov6n_qarep_bccd.py',
                'repvgg': 'configs/bccd_det/yolov6n_repvgg_bccd.py'}
"""The BCCD models that ``bccd_train.py`` trains and ``bccd_ptq.py`` / ``lowbit_ptq.py`` quantize."""
BCCD_TEST_AS_EVAL = ['val_dataloader.dataset.ann_file=annotations/instances_test.json',
                     'val_evaluator.ann_file=data/bccd/annotations/instances_test.json']
"""``--cfg-options`` that make ``tools/ptq.py`` evaluate a BCCD config on its test split."""


def write_results(out: Path, data: Dict, md: str) -> None:
    """``out.json`` and ``out.md``, each written atomically; the Markdown is also printed.

    Raises:
        BadInput: A file cannot be written there (one line under :func:`qarep_det.utils.run_tool`).
    """
    write_json_atomic(out.with_suffix('.json'), data)
    write_atomic(out.with_suffix('.md'), md)
    print(md)


def finished_epoch(work_dir: Path) -> int:
    """The epoch of a training run's newest checkpoint (0 if none)."""
    epochs = [int(p.stem.split('_')[1]) for p in work_dir.glob('epoch_*.pth')]
    return max(epochs, default=0)


def best_checkpoint(work_dir: Path) -> Path:
    """The checkpoint the run's validation picked (``best_*``), else its newest one."""
    best = sorted(work_dir.glob('best_coco_bbox_mAP_epoch_*.pth'), key=lambda p: int(p.stem.rsplit('_', 1)[1]))
    if best:
        return best[-1]
    return work_dir / f'epoch_{finished_epoch(work_dir)}.pth'


def channels_last(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its 4-D weights in channels_last (NHWC) memory format."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


TIMESTAMP = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) - mmengine')


def log_span_seconds(log: Path) -> float:
    """Seconds from the first to the last timestamped line of an mmengine log."""
    stamps = [m.group(1) for m in map(TIMESTAMP.match, log.read_text(errors='replace').splitlines()) if m]
    if len(stamps) < 2:
        return 0.0
    parse = lambda s: datetime.strptime(s, '%Y/%m/%d %H:%M:%S')  # noqa: E731
    return (parse(stamps[-1]) - parse(stamps[0])).total_seconds()


def mean_iter_seconds(work_dir: Path) -> Optional[float]:
    """Mean logged training iteration time over the run (``vis_data/scalars.json`` of each log folder)."""
    times = []
    for scalars in sorted(work_dir.glob('2*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record and 'time' in record:
                times.append(record['time'])
    return sum(times) / len(times) if times else None


def run_logged(command: List[str], log: Path) -> str:
    """Run a tool, its output appended to ``log``; stops the benchmark with the tail of the log if it fails."""
    with open(log, 'a') as f:
        proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        f.write(proc.stdout)
    if proc.returncode != 0:
        tail = '\n'.join(proc.stdout.splitlines()[-20:])
        raise SystemExit(f'{Path(sys.argv[0]).name}: {" ".join(command[1:3])} failed (exit {proc.returncode}):\n{tail}')
    return proc.stdout


def ptq_report(checkpoint: Path, out: Path, args: List[str]) -> Dict:
    """The report of ``tools/ptq.py CHECKPOINT --out OUT ARGS`` (read back when OUT already holds one)."""
    if not (out / 'report.json').is_file():
        proc = subprocess.run([sys.executable, 'tools/ptq.py', str(checkpoint), '--out', str(out), '--no-progress',
                               *args], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f'{Path(sys.argv[0]).name}: tools/ptq.py {" ".join(args)} failed:\n{proc.stderr[-3000:]}')
    return json.loads((out / 'report.json').read_text())


CAMVID_CONFIGS = {'fcn_qarepvgg-a0': 'configs/seg/fcn_qarepvgg-a0_1xb8-1k_camvid-256x320.py',
                  'fcn_repvgg-a0': 'configs/seg/fcn_repvgg-a0_1xb8-1k_camvid-256x320.py',
                  'fpn_qarepvgg-a0': 'configs/seg/fpn_qarepvgg-a0_1xb8-1k_camvid-256x320.py',
                  'fpn_repvgg-a0': 'configs/seg/fpn_repvgg-a0_1xb8-1k_camvid-256x320.py',
                  'bisenetv2': 'configs/seg/bisenetv2_fcn_1xb8-1k_camvid-256x320.py'}
"""The CamVid models that ``camvid_seg.py`` trains, quantizes and compares (one schedule for all)."""
CAMVID_REFERENCE = 'bisenetv2'
"""The reference of ``CAMVID_CONFIGS`` (mmseg's own model, evaluated in FP32 only)."""
