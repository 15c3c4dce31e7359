"""The main job on the embedded default: train a QARepVGG and a RepVGG YOLOv6-N on the project's
synthetic shapes set, quantize both to INT8 and print FP32 vs INT8 mAP and latency side by side.

The two trainings run side by side, one CPU thread each (on 2 cores that is faster than one after
the other with 2 threads each: the small network does not keep 2 threads busy); a progress bar per
model follows their logs. Then each model goes through ``tools/ptq.py --int8``. Everything lands
in one new folder (default ``demo_output/<time>/``): training logs and checkpoints, one PTQ report
per model (``report.json``/``.md``, plots, ``model_fp32.pt``, ``model_int8.pt``) and ``summary.md``.
``--quick`` trains for two epochs and evaluates on fewer images (what CI runs).

Usage:
    python tools/demo.py [--quick] [--epochs N] [--out DIR] [--data DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from tqdm import tqdm

from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.ptq import metrics_table

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = dict(qarep='configs/synthetic/yolov6n_qarep_synthetic.py',
                    repvgg='configs/synthetic/yolov6n_repvgg_synthetic.py')
TRAIN_IMAGES, BATCH, WARMUP_EPOCHS = 160, 4, 2  # the synthetic set and configs/synthetic/'s schedule
PROGRESS = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')


class DemoError(Exception):
    """A step of the demo failed; the message says which and where its log is."""


def schedule_options(epochs: int) -> List[str]:
    """``--cfg-options`` for ``epochs`` (>= 2) epochs: warm-up, then a cosine decay that ends with the run.

    No validation during training: the PTQ step evaluates every variant.
    """
    warmup = min(WARMUP_EPOCHS, epochs // 2)
    return [f'train_cfg.max_epochs={epochs}', f'default_hooks.checkpoint.interval={epochs}',
            f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={epochs}',
            f'param_scheduler.1.T_max={epochs - warmup}', 'default_hooks.logger.interval=5',
            'default_hooks.checkpoint.save_best=None', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
            'train_dataloader.num_workers=1']


def train_side_by_side(runs: Dict[str, List[str]], out: Path, total_iters: int) -> None:
    """Start every training at once (one thread each), show a progress bar per run, wait for all."""
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    procs, logs, bars = {}, {}, {}
    for position, (name, argv) in enumerate(runs.items()):
        logs[name] = out / f'train_{name}.log'
        with open(logs[name], 'w') as log:
            procs[name] = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=log,
                                           stderr=subprocess.STDOUT)
        bars[name] = tqdm(total=total_iters, desc=f'train {name}', unit='iter', position=position, dynamic_ncols=True)
    try:
        while any(p.poll() is None for p in procs.values()):
            time.sleep(2)
            for name, bar in bars.items():
                found = PROGRESS.findall(logs[name].read_text(errors='replace'))
                if found:
                    epoch, it, per_epoch = map(int, found[-1])
                    bar.update((epoch - 1) * per_epoch + it - bar.n)
    finally:
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            bars[name].update(total_iters - bars[name].n if proc.returncode == 0 else 0)
            bars[name].close()
    failed = [name for name, proc in procs.items() if proc.returncode != 0]
    if failed:
        raise DemoError(f'training {", ".join(failed)} failed: see {", ".join(str(logs[n]) for n in failed)}')


def run(step: str, argv: list) -> None:
    print(f'\n== {step}', flush=True)
    result = subprocess.run([sys.executable, *map(str, argv)], cwd=REPO)
    if result.returncode != 0:
        raise DemoError(f'{step} failed (exit code {result.returncode})')


def summary_lines(reports: Dict[str, dict], quick: bool, minutes: float, out: Path) -> List[str]:
    lines = ['# Demo: YOLOv6-N on the synthetic set, FP32 vs INT8', '']
    for name, report in reports.items():
        models = {f'{name} {variant}': m for variant, m in report['models'].items()}
        latency = {f'{name} {variant}': t for variant, t in report['latency_ms'].items()}
        table = metrics_table(models, latency)
        lines += table if name == 'qarep' else table[2:]
    for name, report in reports.items():
        drop = report['models']['fp32_fused']['coco/bbox_mAP'] - report['models']['int8']['coco/bbox_mAP']
        speed = report['latency_ms']['int8'] / report['latency_ms']['fp32_fused']
        lines.append(f'\n{name}: INT8 mAP drop {drop:+.3f}, INT8 latency {speed:.2f}x of fused FP32, '
                     f'output SQNR {report["output_sqnr_db"]["all"]:.1f} dB')
    lines.append(f'\n{"quick" if quick else "full"} demo in {minutes:.1f} min; reports in {out}')
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='2 training epochs and a smaller evaluation (~3 min)')
    parser.add_argument('--epochs', type=int, default=20, help='training epochs of the full demo (default 20)')
    parser.add_argument('--out', type=Path, help='a new output folder (default demo_output/<time>)')
    parser.add_argument('--data', type=Path, default=REPO / 'data/synthetic', help='where the synthetic set goes')
    args = parser.parse_args(argv)
    out = (args.out or REPO / 'demo_output' / time.strftime('%Y%m%d_%H%M%S')).resolve()
    if out.exists() and any(out.iterdir()):
        print(f'demo.py: error: {out} already exists and is not empty: nothing was overwritten', file=sys.stderr)
        return 2
    if args.epochs < 2:
        print(f'demo.py: error: --epochs must be at least 2, got {args.epochs}', file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = generate_synthetic_coco(args.data.resolve())['data_root']
    eval_options = [f'val_dataloader.dataset.data_root={data}/',
                    f'val_evaluator.ann_file={data}/annotations/instances_val.json']
    epochs = 2 if args.quick else args.epochs
    ptq_options = ['--calib-images', 32, '--max-eval-images', 20] if args.quick else ['--calib-images', 128]
    try:
        print(f'== training {" and ".join(DEMO_CONFIGS)} side by side ({epochs} epochs each; logs in {out})',
              flush=True)
        train_side_by_side({name: ['tools/train.py', config, '--work-dir', str(out / f'train_{name}'), '--cfg-options',
                                   f'train_dataloader.dataset.data_root={data}/', *schedule_options(epochs)]
                            for name, config in DEMO_CONFIGS.items()}, out, epochs * -(-TRAIN_IMAGES // BATCH))
        reports = {}
        for name, config in DEMO_CONFIGS.items():
            checkpoint = (out / f'train_{name}' / 'last_checkpoint').read_text().strip()
            run(f'PTQ {name}', ['tools/ptq.py', checkpoint, '--config', config, '--int8', '--out', out / f'ptq_{name}',
                                '--cfg-options', f'train_dataloader.dataset.data_root={data}/', *eval_options,
                                *ptq_options])
            reports[name] = json.loads((out / f'ptq_{name}' / 'report.json').read_text())
    except DemoError as err:
        print(f'demo.py: error: {err}', file=sys.stderr)
        return 1
    lines = summary_lines(reports, args.quick, (time.perf_counter() - start) / 60, out)
    (out / 'summary.md').write_text('\n'.join(lines) + '\n')
    print('\n' + '\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
