"""Train YOLOv6-N (QARepVGG-v2 and RepVGG blocks) on BCCD on the CPU; test-split bbox mAP and images/s.

For each config of ``configs/bccd_det/`` asked for: prepare BCCD (``tools/dataset_converters/
prepare_bccd.py``, COCO JSON + a link to the read-only images), train it with ``tools/train.py``
into ``WORK_ROOT/<config name>`` (a finished run there is reused, an unfinished one resumed),
then evaluate the checkpoint that scored best on the val split on the held-out test split with
``tools/test.py --fused``. Training time is read from the run's own logs (the sum over its log
folders, so a resumed run counts what it really took). Writes ``OUT.json`` and ``OUT.md`` (default
``benchmarks/results/bccd_train``) atomically.

Reference (the detector issue, measured on the same kind of machine): mmdet's RTMDet-tiny, from
scratch, 416x416, batch 8, 40 epochs on the train split, about 45 min on 2 cores (3.5 images/s):
0.595 bbox mAP and 0.902 mAP@0.5 on the test split.

Usage: ``python benchmarks/bccd_train.py [--configs qarep repvgg] [--src BCCD_DIR] [--work-root DIR]``
(BCCD from ``--src``, ``$QAREP_BCCD`` or ``../shared/datasets/bccd``).
"""
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import torch
from mmengine.config import Config

from common import (BCCD_CONFIGS, RESULTS, ROOT, best_checkpoint, finished_epoch, log_span_seconds, mean_iter_seconds,
                    run_logged, write_results)
from qarep_det.utils import BadInput, OneLineParser, run_tool

REFERENCE = dict(name='RTMDet-tiny (mmdet, from scratch)', input=416, batch_size=8, epochs=40, train_minutes=45,
                 train_images_per_s=3.5, test_bbox_mAP=0.595, test_bbox_mAP_50=0.902)
def bench_config(name: str, work_root: Path) -> Dict:
    config = BCCD_CONFIGS[name]
    cfg = Config.fromfile(str(ROOT / config))
    max_epochs = cfg.train_cfg.max_epochs
    work_dir = work_root / Path(config).stem
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / 'benchmark.log'
    if finished_epoch(work_dir) < max_epochs:
        resume = ['--resume'] if (work_dir / 'last_checkpoint').is_file() else []
        run_logged([sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), *resume], log)
    train_seconds = sum(log_span_seconds(p) for p in sorted(work_dir.glob('2*/2*.log')))
    num_train = len(json.loads((ROOT / cfg.train_dataloader.dataset.dataset.data_root /
                                cfg.train_dataloader.dataset.dataset.ann_file).read_text())['images'])
    iter_seconds = mean_iter_seconds(work_dir)
    batch = cfg.train_dataloader.batch_size

    checkpoint = best_checkpoint(work_dir)
    start = time.perf_counter()
    out = run_logged([sys.executable, 'tools/test.py', config, str(checkpoint), '--fused', '--work-dir',
               str(work_dir / 'test')], log)  # the configs test on the test split
    test_seconds = time.perf_counter() - start
    metrics = dict(kv.split(': ') for kv in re.findall(r'coco/bbox_mAP\w*: [\d.]+', out.strip().splitlines()[-1]))
    return dict(
        config=config, epochs=max_epochs, batch_size=batch, input=list(cfg.img_scale), train_images=num_train,
        train_minutes=round(train_seconds / 60, 1),
        train_images_per_s=round(max_epochs * num_train / train_seconds, 2) if train_seconds else None,
        train_step_images_per_s=round(batch / iter_seconds, 2) if iter_seconds else None,
        checkpoint=checkpoint.name, test_seconds_incl_startup=round(test_seconds, 1),
        test_bbox_mAP=float(metrics['coco/bbox_mAP']), test_bbox_mAP_50=float(metrics['coco/bbox_mAP_50']),
        test_bbox_mAP_75=float(metrics['coco/bbox_mAP_75']))


def markdown(report: Dict) -> str:
    rows = ['| model | input | batch | epochs | train time | train img/s | test bbox mAP | test mAP@0.5 |',
            '|---|---|---|---|---|---|---|---|']
    for name, r in report['results'].items():
        rows.append(f"| YOLOv6-N {name} (`{r['config']}`, {r['checkpoint']}) | {r['input'][0]} | {r['batch_size']} "
                    f"| {r['epochs']} | {r['train_minutes']} min | {r['train_images_per_s']} "
                    f"| {r['test_bbox_mAP']:.3f} | {r['test_bbox_mAP_50']:.3f} |")
    ref = report['reference']
    rows.append(f"| {ref['name']} (reference) | {ref['input']} | {ref['batch_size']} | {ref['epochs']} "
                f"| ~{ref['train_minutes']} min | {ref['train_images_per_s']} | {ref['test_bbox_mAP']:.3f} "
                f"| {ref['test_bbox_mAP_50']:.3f} |")
    return '\n'.join([
        '# BCCD: YOLOv6-N trained from scratch on the CPU', '',
        f"Machine: {report['machine']}. The train split trains, val picks the checkpoint, test reports (the "
        'fused model). Train time is wall time including the periodic validation; train img/s counts every '
        'image of every epoch.', '',
        *rows, '', 'Written by `python benchmarks/bccd_train.py`.', ''])


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', choices=sorted(BCCD_CONFIGS), default=['qarep', 'repvgg'])
    parser.add_argument('--src', help='the BCCD folder (default: $QAREP_BCCD or ../shared/datasets/bccd)')
    parser.add_argument('--work-root', type=Path, default=ROOT / 'work_dirs' / 'bench_bccd')
    parser.add_argument('--out', type=Path, default=RESULTS / 'bccd_train')
    args = parser.parse_args(argv)
    prepare = [sys.executable, 'tools/dataset_converters/prepare_bccd.py'] + (['--src', args.src] if args.src else [])
    proc = subprocess.run(prepare, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BadInput(proc.stderr.strip())  # prepare_bccd.py's own one-line error
    results = {name: bench_config(name, args.work_root.resolve()) for name in args.configs}
    report = dict(machine=f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
                          f'torch {torch.__version__}, {torch.get_num_threads()} threads',
                  results=results, reference=REFERENCE)
    write_results(args.out, report, markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('bccd_train.py', main))
