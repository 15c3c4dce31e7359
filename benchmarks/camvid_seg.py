"""Train segmentors on CamVid on the CPU, then FP32 / fused FP32 / INT8 mIoU and latency at 480x360.

For each model of ``common.CAMVID_CONFIGS`` asked for: train its config from scratch on the
train split with ``tools/train.py`` into ``WORK_ROOT/<config name>`` (a finished run is reused,
an unfinished one resumed), then run ``tools/ptq.py`` on its last checkpoint: the val split's
mIoU (mAcc, aAcc, per-class IoU) for ``fp32``, ``fp32_fused`` and, for our models, ``int8``
(per-channel INT8, x86, calibrated on ``--calib-images`` training images), and the latency of
each at 480x360, batch 1. The reference (mmseg's BiSeNetV2, built for training from scratch) is
trained under the same schedule and evaluated in FP32 only. The configs must share the schedule
(iterations, crop, batch): checked before anything runs. Writes ``OUT.json`` and ``OUT.md``
(default ``benchmarks/results/camvid_seg``) atomically.

Targets (issue 10): the QARepVGG model loses at most 1.0 mIoU point to INT8, its INT8 latency is
at most 0.4x of fused FP32, and its FP32 mIoU is at least the reference's.

Usage: ``python benchmarks/camvid_seg.py [--models ...] [--work-root DIR] [--calib-images N]``
(CamVid from ``$QAREP_CAMVID`` or ``../shared/datasets/camvid``).
"""
import json
import os
import platform
import sys
from pathlib import Path
from typing import Dict

import torch
from mmengine.config import Config

from common import CAMVID_CONFIGS, CAMVID_REFERENCE, RESULTS, ROOT, log_span_seconds, run_logged, write_results
from qarep_det.utils import BadInput, OneLineParser, positive_int, run_tool


def schedule(cfg: Config) -> dict:
    """What must be equal across the compared configs."""
    return dict(iterations=cfg.train_cfg.max_iters, batch_size=cfg.train_dataloader.batch_size,
                crop_size=list(cfg.crop_size))


def bench_model(name: str, work_root: Path, calib_images: int) -> Dict:
    config = CAMVID_CONFIGS[name]
    cfg = Config.fromfile(str(ROOT / config))
    work_dir = work_root / Path(config).stem
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / 'benchmark.log'
    final = work_dir / f'iter_{cfg.train_cfg.max_iters}.pth'
    if not final.is_file():
        resume = ['--resume'] if (work_dir / 'last_checkpoint').is_file() else []
        run_logged([sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), *resume], log)
    train_seconds = sum(log_span_seconds(p) for p in sorted(work_dir.glob('2*/2*.log')))
    out = work_dir / 'ptq'
    if not (out / 'report.json').is_file():
        int8 = ['--int8', '--calib-images', str(calib_images)] if name != CAMVID_REFERENCE else []
        run_logged([sys.executable, 'tools/ptq.py', str(final), '--config', config, '--out', str(out),
                    '--no-progress', *int8], log)
    report = json.loads((out / 'report.json').read_text())
    models, latency = report['models'], report['latency_ms']
    result = dict(config=config, checkpoint=final.name, **schedule(cfg), train_minutes=round(train_seconds / 60, 1),
                  latency_input=report['latency_settings']['input_shape'],
                  fusion_max_abs_diff=report['fusion_max_abs_diff'],
                  mIoU={k: m['mIoU'] for k, m in models.items()}, mAcc={k: m['mAcc'] for k, m in models.items()},
                  aAcc={k: m['aAcc'] for k, m in models.items()}, latency_ms=latency,
                  class_IoU={k: {c: v for c, v in m.items() if c.startswith('IoU.')} for k, m in models.items()})
    if 'int8' in models:
        result.update(int8_mIoU_drop=round(models['fp32_fused']['mIoU'] - models['int8']['mIoU'], 2),
                      int8_latency_ratio=round(latency['int8'] / latency['fp32_fused'], 3),
                      output_sqnr_db=round(report['output_sqnr_db']['all'], 1))
    return result


def markdown(report: Dict) -> str:
    rows = ['| model | FP32 mIoU | fused FP32 mIoU | INT8 mIoU | INT8 drop | fused FP32 / INT8 latency | INT8 / fused '
            '| train time |', '|---|---|---|---|---|---|---|---|']
    for name, r in report['results'].items():
        miou, lat = r['mIoU'], r['latency_ms']
        int8 = f"{miou['int8']:.2f}" if 'int8' in miou else '-'
        drop = f"{r['int8_mIoU_drop']:.2f}" if 'int8' in miou else '-'
        ratio = f"{r['int8_latency_ratio']:.2f}x" if 'int8' in miou else '-'
        int8_lat = f" / {lat['int8']:.0f}" if 'int8' in lat else ''
        rows.append(f"| {name} (`{r['config']}`) | {miou['fp32']:.2f} | {miou['fp32_fused']:.2f} | {int8} | {drop} "
                    f"| {lat['fp32_fused']:.0f}{int8_lat} ms | {ratio} | {r['train_minutes']} min |")
    first = next(iter(report['results'].values()))
    return '\n'.join([
        '# CamVid: segmentors trained from scratch on the CPU, FP32 vs INT8', '',
        f"Machine: {report['machine']}. Train split (367 images) trains, val split (101) reports; the same "
        f"schedule for every model: {first['iterations']} iterations of batch {first['batch_size']}, "
        f"{first['crop_size'][0]}x{first['crop_size'][1]} crops. mIoU in percent over the 11 classes (void "
        'ignored). Latency: `tools/ptq.py`, the whole model (pre-processing, network, resize, argmax) on one '
        f"val image, input {first['latency_input'][-1]}x{first['latency_input'][-2]}, batch 1.", '',
        *rows, '', 'Written by `python benchmarks/camvid_seg.py`.', ''])


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', choices=sorted(CAMVID_CONFIGS), default=list(CAMVID_CONFIGS))
    parser.add_argument('--work-root', type=Path, default=ROOT / 'work_dirs' / 'bench_camvid')
    parser.add_argument('--calib-images', type=positive_int, default=128)
    parser.add_argument('--out', type=Path, default=RESULTS / 'camvid_seg')
    args = parser.parse_args(argv)
    schedules = {name: schedule(Config.fromfile(str(ROOT / CAMVID_CONFIGS[name]))) for name in args.models}
    if len({json.dumps(s, sort_keys=True) for s in schedules.values()}) > 1:
        raise BadInput(f'the CamVid configs do not share one schedule: {schedules}')
    results = {name: bench_model(name, args.work_root.resolve(), args.calib_images) for name in args.models}
    report = dict(machine=f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
                          f'torch {torch.__version__}, {torch.get_num_threads()} threads', results=results)
    write_results(args.out, report, markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('camvid_seg.py', main))
