"""INT8 PTQ of the BCCD-trained YOLOv6-N models: the mAP drop of QARepVGG vs RepVGG blocks, and what
the MAE observer and partial quantization recover.

Runs ``tools/ptq.py CKPT --int8`` on the checkpoints that ``benchmarks/bccd_train.py`` trained
(the val-selected ones), evaluating on BCCD's test split, once per variant: the default minmax
observer, ``--observer mae`` (RepAPQ's range search), ``--observer percentile`` and
``--skip-layers auto:K`` (the K most sensitive layers kept in float). Calibration: 256 requested,
i.e. all 205 training images through the test pipeline. A variant whose report already exists
is read back, not re-run. Writes ``OUT.json`` and ``OUT.md`` (default ``benchmarks/results/bccd_ptq``)
atomically.

Usage: ``python benchmarks/bccd_ptq.py [--work-root DIR] [--auto-k 3]``
"""
import sys
from pathlib import Path
from typing import Dict, List

from common import BCCD_CONFIGS, BCCD_TEST_AS_EVAL, RESULTS, ROOT, best_checkpoint, ptq_report, write_results
from qarep_det.utils import BadInput, OneLineParser, positive_int, run_tool

def variants(auto_k: int) -> Dict[str, List[str]]:
    return {'minmax': [], 'mae': ['--observer', 'mae'], 'percentile': ['--observer', 'percentile'],
            f'minmax + auto:{auto_k}': ['--skip-layers', f'auto:{auto_k}']}


def summarize(report: Dict) -> Dict:
    models, latency = report['models'], report['latency_ms']
    fp32, int8 = models['fp32_fused'], models['int8']
    return dict(fp32_mAP=fp32['coco/bbox_mAP'], int8_mAP=int8['coco/bbox_mAP'],
                drop_mAP=round(fp32['coco/bbox_mAP'] - int8['coco/bbox_mAP'], 4),
                fp32_mAP_50=fp32['coco/bbox_mAP_50'], int8_mAP_50=int8['coco/bbox_mAP_50'],
                drop_mAP_50=round(fp32['coco/bbox_mAP_50'] - int8['coco/bbox_mAP_50'], 4),
                output_sqnr_db=round(report['output_sqnr_db']['all'], 2), skipped_layers=report['skipped_layers'],
                latency_ms={k: round(v, 1) for k, v in latency.items()},
                calibration_images=report['calibration']['images'])


def markdown(results: Dict) -> str:
    rows = ['| blocks | PTQ variant | FP32 fused mAP | INT8 mAP | drop (points) | mAP@0.5 FP32 -> INT8 '
            '| output SQNR | latency fused / INT8 |', '|---|---|---|---|---|---|---|---|']
    for model, by_variant in results.items():
        for variant, r in by_variant.items():
            skipped = f" ({', '.join(r['skipped_layers'])})" if r['skipped_layers'] else ''
            rows.append(f"| {model} | {variant}{skipped} | {r['fp32_mAP']:.3f} | {r['int8_mAP']:.3f} "
                        f"| {100 * r['drop_mAP']:.1f} | {r['fp32_mAP_50']:.3f} -> {r['int8_mAP_50']:.3f} "
                        f"| {r['output_sqnr_db']:.1f} dB | {r['latency_ms']['fp32_fused']:.1f} / "
                        f"{r['latency_ms']['int8']:.1f} ms |")
    return '\n'.join([
        '# BCCD: INT8 PTQ of YOLOv6-N (QARepVGG-v2 vs RepVGG blocks)', '',
        'Checkpoints from `benchmarks/bccd_train.py`; per-channel symmetric int8 weights, uint8 activations, '
        'x86 backend, calibration on the training split; bbox mAP on the test split (72 images). Latency: '
        'batch 1 at 416x416, 2 threads, whole model with decoding and NMS.', '', *rows, '',
        'Written by `python benchmarks/bccd_ptq.py`.', ''])


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-root', type=Path, default=ROOT / 'work_dirs' / 'bench_bccd',
                        help="bccd_train.py's --work-root")
    parser.add_argument('--auto-k', type=positive_int, default=3, help='layers kept in float by the auto:K variant')
    parser.add_argument('--out', type=Path, default=RESULTS / 'bccd_ptq')
    args = parser.parse_args(argv)
    results = {}
    for name, config in BCCD_CONFIGS.items():
        work_dir = args.work_root.resolve() / Path(config).stem
        checkpoint = best_checkpoint(work_dir)
        if not checkpoint.is_file():
            raise BadInput(f'no trained checkpoint in {work_dir} (run benchmarks/bccd_train.py first)')
        results[name] = {variant: summarize(ptq_report(checkpoint, work_dir / 'ptq' / variant.replace(' ', ''),
                                                       ['--int8', *extra, '--cfg-options', *BCCD_TEST_AS_EVAL]))
                         for variant, extra in variants(args.auto_k).items()}
    write_results(args.out, results, markdown(results))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('bccd_ptq.py', main))
