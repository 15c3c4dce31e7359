"""Below 8 bits: minmax, the MAE observer and RepAPQ reconstruction, QARepVGG vs RepVGG blocks.

On BCCD (the checkpoints ``benchmarks/bccd_train.py`` trained, test split), for each bit width
(W8A8, W6A6, W4A8) and method: ``minmax`` (``tools/ptq.py`` defaults), ``mae`` (``--observer
mae``), ``repapq`` (``--method repapq``, MAE loss) and ``repapq-mse`` (``--loss mse``), each one
``tools/ptq.py`` run (a run whose report exists is read back). With ``--camvid-root`` the same W6A6
comparison on a CamVid pair trained by ``benchmarks/camvid_seg.py`` (mIoU on the val split). With
``--yolov6s-images N`` the PTQ time of ``repapq`` for YOLOv6-S at 640 with N calibration images
(the network of ``configs/yolov6s_qarep.py`` as initialized, on synthetic images: the time does
not depend on the weights). Writes ``OUT.json`` and ``OUT.md`` (default
``benchmarks/results/lowbit_ptq``) atomically.

Targets (issue 12): QARepVGG with ``repapq`` within 1.5 mAP points of FP32 at W6A6 and within 3
at W4A8; ``repapq`` on YOLOv6-S at 640 with 256 images under 20 minutes on 2 cores.

Usage: ``python benchmarks/lowbit_ptq.py [--work-root DIR] [--models qarep repvgg] [--widths w8a8 w6a6 w4a8]
[--methods ...] [--camvid-root DIR --camvid-pair fcn|fpn] [--yolov6s-images 256]``
"""
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.config import Config

from common import (BCCD_CONFIGS, BCCD_TEST_AS_EVAL, CAMVID_CONFIGS, RESULTS, ROOT, best_checkpoint, ptq_report,
                    write_results)
from qarep_det.ptq.pipeline import ptq_seconds
from qarep_det.utils import BadInput, OneLineParser, positive_int, run_tool

WIDTHS = {'w8a8': ['--int8'], 'w6a6': ['--wbits', '6', '--abits', '6'], 'w4a8': ['--wbits', '4']}
METHODS = {'minmax': [], 'mae': ['--observer', 'mae'], 'repapq': ['--method', 'repapq'],
           'repapq-mse': ['--method', 'repapq', '--loss', 'mse']}


def summarize(report: Dict, metric: str) -> Dict:
    """FP32 and quantized metric, drop (points), output SQNR and PTQ time of one ``tools/ptq.py`` report."""
    name = report['bits']['name']
    fp32, quant = report['models']['fp32_fused'][metric], report['models'][name][metric]
    scale = 100 if metric.startswith('coco') else 1  # mAP in [0, 1], mIoU in points
    result = dict(fp32=fp32, quantized=quant, drop_points=round(scale * (fp32 - quant), 2),
                  output_sqnr_db=round(report['output_sqnr_db']['all'], 2),
                  ptq_seconds=round(ptq_seconds(report['timings_s'])), threads=report['latency_settings']['threads'],
                  simulated=report['bits']['simulated'])
    if report.get('reconstruction'):
        groups = report['reconstruction']['groups']
        result.update(reconstruct_seconds=round(report['timings_s']['reconstruct']), groups=len(groups),
                      mean_group_error=[round(sum(g[k] for g in groups) / len(groups), 5)
                                        for k in ('error_before', 'error_after')])
    return result


def bccd(work_root: Path, models: List[str], widths: List[str], methods: List[str]) -> Dict:
    results = {}
    for model in models:
        config = BCCD_CONFIGS[model]
        work_dir = work_root / Path(config).stem
        checkpoint = best_checkpoint(work_dir)
        if not checkpoint.is_file():
            raise BadInput(f'no trained checkpoint in {work_dir} (run benchmarks/bccd_train.py first)')
        results[model] = {width: {method: summarize(ptq_report(
            checkpoint, work_dir / 'lowbit' / f'{width}_{method}',
            WIDTHS[width] + METHODS[method] + ['--cfg-options', *BCCD_TEST_AS_EVAL]), 'coco/bbox_mAP')
            for method in methods} for width in widths}
    return results


def camvid(work_root: Path, pair: str, methods: List[str]) -> Dict:
    results = {}
    for model in (f'{pair}_qarepvgg-a0', f'{pair}_repvgg-a0'):
        config = CAMVID_CONFIGS[model]
        work_dir = work_root / Path(config).stem
        checkpoint = work_dir / f'iter_{Config.fromfile(str(ROOT / config)).train_cfg.max_iters}.pth'
        if not checkpoint.is_file():
            raise BadInput(f'no trained checkpoint {checkpoint} (run benchmarks/camvid_seg.py first)')
        args = ['--config', config] + WIDTHS['w6a6']
        results[model] = {'w6a6': {method: summarize(ptq_report(
            checkpoint, work_dir / 'lowbit' / f'w6a6_{method}', args + METHODS[method]), 'mIoU') for method in methods}}
    return results


def time_yolov6s(num_images: int) -> Dict:
    """Seconds of prepare, calibrate and reconstruct (``repapq`` defaults) for YOLOv6-S at 640."""
    import numpy as np
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from qarep_det import quantization as q
    from qarep_det.datasets.synthetic import render_image

    init_default_scope('mmdet')
    cfg = Config.fromfile(str(ROOT / 'configs/yolov6s_qarep.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    rng = np.random.default_rng(0)
    images = torch.from_numpy(np.stack([render_image(rng, (640, 640), 3, 0.5)[0] for _ in range(num_images)]))
    images = images.permute(0, 3, 1, 2).float() / 255
    batches = list(images.split(8))
    timings = {}
    start = time.perf_counter()
    prepared = q.prepare_model(model, batches[0], q.QuantConfig(weight_bits=6, activation_bits=6))
    q.calibrate(prepared, batches, progress=False)
    timings['prepare_and_calibrate'] = round(time.perf_counter() - start)
    start = time.perf_counter()
    report = q.reconstruct(prepared, batches, q.ReconstructionConfig(), progress=True)
    timings['reconstruct'] = round(time.perf_counter() - start)
    return dict(images=num_images, input=[640, 640], config=report['config'], groups=len(report['groups']),
                seconds=timings, total_minutes=round(sum(timings.values()) / 60, 1))


def markdown(report: Dict) -> str:
    lines = ['# Below 8 bits: minmax, MAE observer and RepAPQ reconstruction', '',
             'Simulated widths (w6a6, w4a8) are fake-quantized in float; w8a8 runs the INT8 kernels. Drop: FP32 '
             'fused minus quantized, in points. Reconstruction: the `tools/ptq.py --method repapq` defaults.', '']
    for dataset, metric in (('bccd', 'bbox mAP (test split)'), ('camvid', 'mIoU (val split)')):
        if dataset not in report:
            continue
        lines += [f'## {dataset}: {metric}', '', '| model | width | method | FP32 | quantized | drop | output SQNR '
                  '| PTQ time |', '|---|---|---|---|---|---|---|---|']
        for model, by_width in report[dataset].items():
            for width, by_method in by_width.items():
                for method, r in by_method.items():
                    lines.append(f'| {model} | {width} | {method} | {r["fp32"]:.3f} | {r["quantized"]:.3f} '
                                 f'| {r["drop_points"]:.2f} | {r["output_sqnr_db"]:.1f} dB '
                                 f'| {r["ptq_seconds"]} s ({r["threads"]} thread{"s" if r["threads"] > 1 else ""}) |')
        lines.append('')
    if 'yolov6s_time' in report:
        t = report['yolov6s_time']
        lines += [f'YOLOv6-S at 640, {t["images"]} calibration images, {t["groups"]} groups: '
                  f'{t["total_minutes"]} min ({", ".join(f"{k} {v} s" for k, v in t["seconds"].items())}).', '']
    lines += [f'Machine: {report["machine"]}. Written by `python benchmarks/lowbit_ptq.py`.', '']
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-root', type=Path, default=ROOT / 'work_dirs' / 'bench_bccd',
                        help="bccd_train.py's --work-root")
    parser.add_argument('--models', nargs='+', choices=list(BCCD_CONFIGS), default=list(BCCD_CONFIGS))
    parser.add_argument('--widths', nargs='+', choices=list(WIDTHS), default=list(WIDTHS))
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS))
    parser.add_argument('--camvid-root', type=Path, help="camvid_seg.py's --work-root (adds the CamVid W6A6 pair)")
    parser.add_argument('--camvid-pair', choices=('fcn', 'fpn'), default='fcn')
    parser.add_argument('--yolov6s-images', type=positive_int, help='time repapq on YOLOv6-S at 640 with N images')
    parser.add_argument('--skip-bccd', action='store_true', help='only the CamVid pair and / or the timing')
    parser.add_argument('--out', type=Path, default=RESULTS / 'lowbit_ptq')
    args = parser.parse_args(argv)
    report = dict(machine=f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads')
    if not args.skip_bccd:
        report['bccd'] = bccd(args.work_root.resolve(), args.models, args.widths, args.methods)
    if args.camvid_root:
        report['camvid'] = camvid(args.camvid_root.resolve(), args.camvid_pair,
                                  [m for m in args.methods if m != 'repapq-mse'])
    if args.yolov6s_images:
        report['yolov6s_time'] = time_yolov6s(args.yolov6s_images)
    write_results(args.out, report, markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('lowbit_ptq.py', main))
