"""The main job: train a QARepVGG and a RepVGG YOLOv6-N on the synthetic set, quantize both, compare.

On the embedded default (the project's synthetic shapes set), both models are trained, quantized to
INT8, and their FP32 / fused FP32 / INT8 mAP and latency printed side by side.

The two trainings run side by side, one CPU thread each (on 2 cores that is faster than one after
the other with 2 threads each: the small network does not keep 2 threads busy), with a fixed seed;
a progress bar per model follows their logs. They train the recipe of ``configs/synthetic/`` as it
is (its epochs unless ``--epochs`` says otherwise). Then each model goes through ``tools/ptq.py
--int8``, which also checks the fused model against the unfused one. Everything lands in one new
folder (default ``demo_output/<time>/``): training logs and checkpoints, one PTQ report per model
(``report.json``/``.md``, plots, ``model_fp32.pt``, ``model_int8.pt``), ``summary.md`` and
``summary.json``. ``--quick`` trains for fewer epochs and calibrates on fewer images (what CI runs).

Bad input (an output folder that is not empty, a data folder that is not a synthetic set) is one
line on stderr and exit code 2; a training or PTQ step that fails is one line naming its log and
exit code 1; Ctrl-C exits with 130, SIGTERM with 143 (both stop the trainings).

Usage:
    python tools/demo.py [--quick] [--epochs N] [--seed S] [--out DIR] [--data DIR]
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import Config
from tqdm import tqdm

from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.ptq import metrics_table
from qarep_det.utils import (BadInput, OneLineParser, check_writable, positive_int, run_tool, write_atomic,
                             write_json_atomic)

PROG = 'demo.py'
REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = dict(qarep='configs/synthetic/yolov6n_qarep_synthetic.py',
                    repvgg='configs/synthetic/yolov6n_repvgg_synthetic.py')
QUICK_EPOCHS = 16  # the config's 8 warm-up epochs and 8 of cosine: 160 iterations, about 1.5 min
PROGRESS = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help=f'{QUICK_EPOCHS} training epochs and a smaller calibration (under 3 min on 2 cores)')
    parser.add_argument('--epochs', type=positive_int,
                        help=f"training epochs (default: the config's own, {QUICK_EPOCHS} with --quick)")
    parser.add_argument('--seed', type=int, default=0, help='training seed (default 0: the figures in the README)')
    parser.add_argument('--out', type=Path, help='a new output folder (default demo_output/<time>)')
    parser.add_argument('--data', type=Path, default=REPO / 'data/synthetic', help='where the synthetic set goes')
    return parser.parse_args(argv)


def training_options(epochs: int, seed: int, data: Path) -> List[str]:
    """``--cfg-options`` of one demo training: the config's recipe for ``epochs`` epochs.

    The cosine of the config's schedule ends with the run by itself (it takes the train loop's
    max_epochs). No validation during training: the PTQ step evaluates every variant.
    """
    return [f'train_dataloader.dataset.data_root={data}/', f'train_cfg.max_epochs={epochs}',
            f'randomness.seed={seed}', f'default_hooks.checkpoint.interval={epochs}',
            'default_hooks.checkpoint.save_best=None', 'default_hooks.logger.interval=5',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', 'train_dataloader.num_workers=1']


def train_side_by_side(runs: Dict[str, List[str]], out: Path, total_iters: int) -> List[str]:
    """Start every training at once (one thread each), show a progress bar per run, wait for all.

    Returns:
        The names of the runs that failed.
    """
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    procs, logs, bars = {}, {}, {}
    try:
        for position, (name, argv) in enumerate(runs.items()):
            logs[name] = out / f'train_{name}.log'
            with open(logs[name], 'w') as log:
                procs[name] = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=log,
                                               stderr=subprocess.STDOUT)
            bars[name] = tqdm(total=total_iters, desc=f'train {name}', unit='iter', position=position,
                              dynamic_ncols=True)
        while any(p.poll() is None for p in procs.values()):
            time.sleep(2)
            for name, bar in bars.items():
                found = PROGRESS.findall(logs[name].read_text(errors='replace'))
                if found:
                    epoch, it, per_epoch = map(int, found[-1])
                    bar.update((epoch - 1) * per_epoch + it - bar.n)
    finally:  # also on Ctrl-C / SIGTERM: no training outlives the demo
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            bars[name].update(total_iters - bars[name].n if proc.returncode == 0 else 0)
            bars[name].close()
    return [name for name, proc in procs.items() if proc.returncode != 0]


def run_step(step: str, argv: list) -> bool:
    """Run one tool in a child process; False if it failed."""
    print(f'\n== {step}', flush=True)
    return subprocess.run([sys.executable, *map(str, argv)], cwd=REPO).returncode == 0


def summary_lines(reports: Dict[str, dict], quick: bool, epochs: int, seed: int, minutes: float,
                  out: Path) -> List[str]:
    lines = [f'# Demo: YOLOv6-N on the synthetic set, FP32 vs INT8 ({epochs} epochs, seed {seed})', '']
    for name, report in reports.items():
        models = {f'{name} {variant}': m for variant, m in report['models'].items()}
        latency = {f'{name} {variant}': t for variant, t in report['latency_ms'].items()}
        table = metrics_table(models, latency)
        lines += table if not lines[-1].startswith('|') else table[2:]
    for name, report in reports.items():
        fused, int8 = report['models']['fp32_fused'], report['models']['int8']
        drop = fused['coco/bbox_mAP'] - int8['coco/bbox_mAP']
        drop_50 = fused['coco/bbox_mAP_50'] - int8['coco/bbox_mAP_50']
        speed_up = report['latency_ms']['fp32_fused'] / report['latency_ms']['int8']
        lines.append(f'\n{name}: fused == unfused (max abs difference {report["fusion_max_abs_diff"]:.2g}); '
                     f'INT8 mAP drop {drop:+.3f} (mAP@0.5 {drop_50:+.3f}), output SQNR '
                     f'{report["output_sqnr_db"]["all"]:.1f} dB; INT8 {speed_up:.1f}x faster than fused FP32')
    lines.append(f'\n{"quick" if quick else "full"} demo in {minutes:.1f} min; reports in {out}')
    return lines


def demo(args: argparse.Namespace) -> int:
    out = (args.out or REPO / 'demo_output' / time.strftime('%Y%m%d_%H%M%S')).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f'{out} already exists and is not an empty folder: nothing was overwritten')
    if args.seed < 0:
        raise BadInput(f'--seed must be at least 0, got {args.seed}')
    check_writable(out, folder=True)  # one line now rather than after the data
    configs = {name: Config.fromfile(REPO / config) for name, config in DEMO_CONFIGS.items()}
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else configs['qarep'].train_cfg.max_epochs)
    warmup = configs['qarep'].param_scheduler[0].end
    if epochs <= warmup:
        raise BadInput(f"--epochs must be more than the recipe's {warmup} warm-up epochs, got {epochs}")
    start = time.perf_counter()
    try:
        paths = generate_synthetic_coco(args.data.resolve())
    except (ValueError, OSError) as err:  # a foreign or unwritable --data folder
        raise BadInput(f'--data: {err}') from None
    out.mkdir(parents=True, exist_ok=True)
    data = paths['data_root']
    num_train = len(json.loads(paths['train_ann'].read_text())['images'])
    batch = configs['qarep'].train_dataloader.batch_size
    print(f'== training {" and ".join(DEMO_CONFIGS)} side by side ({epochs} epochs of {math.ceil(num_train / batch)} '
          f'iterations each, seed {args.seed}; logs in {out})', flush=True)
    failed = train_side_by_side(
        {name: ['tools/train.py', config, '--work-dir', str(out / f'train_{name}'), '--cfg-options',
                *training_options(epochs, args.seed, data)] for name, config in DEMO_CONFIGS.items()},
        out, epochs * math.ceil(num_train / batch))
    if failed:
        logs = ', '.join(str(out / f'train_{name}.log') for name in failed)
        print(f'{PROG}: error: training {" and ".join(failed)} failed: see {logs}', file=sys.stderr)
        return 1
    eval_options = [f'val_dataloader.dataset.data_root={data}/',
                    f'val_evaluator.ann_file={data}/annotations/instances_val.json']
    ptq_options = ['--calib-images', 64 if args.quick else 128]
    reports = {}
    for name, config in DEMO_CONFIGS.items():
        checkpoint = (out / f'train_{name}' / 'last_checkpoint').read_text().strip()
        if not run_step(f'PTQ {name}', ['tools/ptq.py', checkpoint, '--config', config, '--int8',
                                         '--out', out / f'ptq_{name}', '--no-progress', '--cfg-options',
                                         f'train_dataloader.dataset.data_root={data}/', *eval_options,
                                         *ptq_options]):
            print(f'{PROG}: error: PTQ of {name} failed (its output is above)', file=sys.stderr)
            return 1
        reports[name] = json.loads((out / f'ptq_{name}' / 'report.json').read_text())
    minutes = (time.perf_counter() - start) / 60
    lines = summary_lines(reports, args.quick, epochs, args.seed, minutes, out)
    write_json_atomic(out / 'summary.json', dict(
        quick=args.quick, epochs=epochs, seed=args.seed, minutes=round(minutes, 2),
        models={name: dict(metrics=r['models'], latency_ms=r['latency_ms'],
                           fusion_max_abs_diff=r['fusion_max_abs_diff'], output_sqnr_db=r['output_sqnr_db']['all'])
                for name, r in reports.items()}))
    write_atomic(out / 'summary.md', '\n'.join(lines) + '\n')
    print('\n' + '\n'.join(lines))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool(PROG, lambda: demo(parse_args(argv)))


if __name__ == '__main__':
    sys.exit(main())
