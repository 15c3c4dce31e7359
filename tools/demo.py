"""The main job on the embedded default: train a QARepVGG and a RepVGG YOLOv6-N on the project's
synthetic shapes set, quantize both to INT8 and print FP32 vs INT8 mAP and latency side by side.

Everything lands in one new folder (default ``demo_output/<time>/``): training logs and
checkpoints, one PTQ report per model (``report.json``/``.md``, plots, ``model_int8.pt``) and
``summary.md``. ``--quick`` trains for two epochs and evaluates on fewer images (what CI runs).

Usage:
    python tools/demo.py [--quick] [--out DIR] [--data DIR]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from qarep_det.datasets.synthetic import generate_synthetic_coco
from qarep_det.ptq import metrics_table

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIGS = dict(qarep='configs/synthetic/yolov6n_qarep_synthetic.py', repvgg='configs/synthetic/yolov6n_repvgg_synthetic.py')


def run(step: str, argv: list) -> None:
    print(f'\n== {step}', flush=True)
    result = subprocess.run([sys.executable, *map(str, argv)], cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f'demo.py: error: {step} failed (exit code {result.returncode})')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='2 training epochs and a smaller evaluation (~3 min)')
    parser.add_argument('--out', type=Path, help='a new output folder (default demo_output/<time>)')
    parser.add_argument('--data', type=Path, default=REPO / 'data/synthetic', help='where the synthetic set goes')
    args = parser.parse_args(argv)
    out = (args.out or REPO / 'demo_output' / time.strftime('%Y%m%d_%H%M%S')).resolve()
    if out.exists() and any(out.iterdir()):
        print(f'demo.py: error: {out} already exists and is not empty: nothing was overwritten', file=sys.stderr)
        return 2
    start = time.perf_counter()
    data = generate_synthetic_coco(args.data.resolve())['data_root']
    data_options = [f'train_dataloader.dataset.data_root={data}/', f'val_dataloader.dataset.data_root={data}/',
                    f'test_dataloader.dataset.data_root={data}/',
                    f'val_evaluator.ann_file={data}/annotations/instances_val.json',
                    f'test_evaluator.ann_file={data}/annotations/instances_val.json']
    train_options = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2'] \
        if args.quick else []
    ptq_options = ['--calib-images', 32, '--max-eval-images', 20] if args.quick else ['--calib-images', 128]
    reports = {}
    for name, config in DEMO_CONFIGS.items():
        work_dir = out / f'train_{name}'
        run(f'train {name}', ['tools/train.py', config, '--work-dir', work_dir, '--progress-bar', '--cfg-options',
                              *data_options, *train_options])
        checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
        run(f'PTQ {name}', ['tools/ptq.py', checkpoint, '--int8', '--out', out / f'ptq_{name}',
                            '--cfg-options', *data_options, *ptq_options])
        reports[name] = json.loads((out / f'ptq_{name}' / 'report.json').read_text())
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
    lines.append(f'\n{"quick" if args.quick else "full"} demo in {(time.perf_counter() - start) / 60:.1f} min; '
                 f'reports in {out}')
    (out / 'summary.md').write_text('\n'.join(lines) + '\n')
    print('\n' + '\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
