"""CPU latency of YOLOv6-N/S (QARepVGG-v2 blocks): unfused FP32, fused FP32 and INT8 (x86 backend).

Whole model as mmdet runs it (``predict``: tensor path, decoding and NMS), batch 1, 640x640,
``--threads`` CPU threads, median of ``--repeats`` runs with the variants interleaved (so a load
spike on a shared machine hits every variant alike). Each run is split into backbone+neck, head
layers and post-processing by hooks. INT8 runs with SiLU rewritten as quantized sigmoid * x
(``silu=quantized``) and with SiLU in float between dequantize/quantize (``silu=float``);
``torch.profiler`` shows where the INT8 time goes. Writes ``benchmarks/results/
quantization_latency.{json,md}``.

Weights: the configs' own initialization, BatchNorm statistics measured on synthetic images
(BN shifted by +1 std, see ``tests/quantization/ptq_testing.py``) and random prediction layers
(see ``CLS_GAIN``), so activations, calibration ranges and the number of boxes reaching NMS are
those of a working network; ``score_thr`` is 0.25 (deployment; COCO evaluation's 0.001 makes NMS
dominate for every variant alike).

Usage: ``python benchmarks/quantization_latency.py [--models n s] [--repeats 15]``
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.profiler import ProfilerActivity, profile, record_function

from qarep_det import reparameterize_model
from qarep_det.datasets.synthetic import render_image
from qarep_det.quantization import QuantConfig, calibrate, convert_detector, output_sqnr, prepare_detector

ROOT = Path(__file__).resolve().parents[1]
SIZE = 640
FIRST_HEAD_LAYER = 'bbox_head.head_module.stems.0'
CLS_GAIN = 0.7
"""Gain of the random classification layers: logits of std ~1 around the prior's -4.6, so that
about a hundred (prior, class) scores per image pass ``score_thr=0.25``, as for a trained detector."""
SCORE_THR = 0.25


def images(num: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    batch = np.stack([render_image(rng, (SIZE, SIZE), 6, 0.5)[0] for _ in range(num)])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def build(name: str, bn_images: torch.Tensor) -> nn.Module:
    cfg = Config.fromfile(str(ROOT / 'configs' / f'yolov6{name}_qarep.py'))
    cfg.model.test_cfg.score_thr = SCORE_THR
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    head = model.bbox_head.head_module
    head.init_weights()
    for conv, gain in [(c, CLS_GAIN) for c in head.cls_preds] + [(c, 1.0) for c in head.reg_preds]:
        conv.weight.normal_(0, gain * conv.weight[0].numel() ** -0.5)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None
            m.bias.fill_(1.0)
    model.train()
    for batch in bn_images.split(2):
        model(batch, mode='tensor')
    return model.eval()


class StageTimer:
    """Splits one ``predict`` call into backbone+neck, head layers and post-processing.

    Hooks mark the start of the first head layer and the end of the tensor path; with
    ``profiled=True`` the stages are also ``torch.profiler`` ranges (``stage::<name>``).
    """

    STAGES = ('backbone_neck', 'head_layers', 'post_processing')

    def __init__(self, head_start: nn.Module, path_end: nn.Module) -> None:
        self.marks, self.ranges = {}, []
        head_start.register_forward_pre_hook(lambda *_: self._mark('head_layers'))
        path_end.register_forward_hook(lambda *_: self._mark('post_processing'))

    def _mark(self, stage: str) -> None:  # hooks must return None (a value would replace the input)
        if stage not in self.marks:
            self.marks[stage] = time.perf_counter()
            self._enter(stage)

    def _enter(self, stage: str) -> None:
        if self.ranges:
            self.ranges[-1].__exit__(None, None, None)
            self.ranges.append(record_function(f'stage::{stage}'))
            self.ranges[-1].__enter__()

    def run(self, model: nn.Module, x: torch.Tensor, profiled: bool = False) -> dict:
        self.marks, self.ranges = {}, [record_function('stage::backbone_neck')] if profiled else []
        for r in self.ranges:
            r.__enter__()
        start = time.perf_counter()
        model.predict(x, sample())
        end = time.perf_counter()
        if self.ranges:
            self.ranges[-1].__exit__(None, None, None)
        return dict(total=end - start, backbone_neck=self.marks['head_layers'] - start,
                    head_layers=self.marks['post_processing'] - self.marks['head_layers'],
                    post_processing=end - self.marks['post_processing'])


def sample() -> list:
    return [DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1., 1.)))]


def profile_stages(model: nn.Module, timer: StageTimer, x: torch.Tensor, runs: int = 5, top: int = 8) -> dict:
    """Per stage: wall ms per run and the ops with the largest self CPU time inside it (ms per run)."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            timer.run(model, x, profiled=True)
    events = [e for e in prof.events() if e.device_type.name == 'CPU']
    ranges = [(e.name.split('::', 1)[1], e.time_range) for e in events if e.name.startswith('stage::')]
    per_stage = {stage: defaultdict(float) for stage in StageTimer.STAGES}
    wall = defaultdict(float)
    for stage, span in ranges:
        wall[stage] += span.elapsed_us() / 1000 / runs
    for e in events:
        if e.name.startswith('stage::'):
            continue
        for stage, span in ranges:
            if span.start <= e.time_range.start and e.time_range.end <= span.end:
                per_stage[stage][e.name] += e.self_cpu_time_total / 1000 / runs
                break
    return {stage: dict(wall_ms=round(wall[stage], 2),
                        top_ops=[dict(op=k, self_ms=round(v, 2)) for k, v in
                                 sorted(ops.items(), key=lambda kv: -kv[1])[:top]])
            for stage, ops in per_stage.items()}


def bench_model(name: str, repeats: int, calib_images: int) -> dict:
    torch.manual_seed(0)
    calib = images(calib_images, seed=1)
    model = build(name, calib[:4])
    fused = reparameterize_model(model)
    variants = dict(fp32_unfused=model, fp32_fused=fused)
    sqnr, info = {}, {}
    for silu in ('float', 'quantized'):  # float: the library default (measured faster)
        prepared = prepare_detector(model, calib[:1], QuantConfig(observer='minmax', backend='x86'), silu=silu)
        calibrate(prepared, calib.split(1), progress=False)
        int8 = convert_detector(prepared)
        variants[f'int8_silu_{silu}'] = int8
        sqnr[f'int8_silu_{silu}'] = output_sqnr(prepared, int8, [images(2, seed=2)])
        info = prepared.summary()
    timers = {k: StageTimer(m.get_submodule(FIRST_HEAD_LAYER), m.bbox_head.head_module) for k, m in
              variants.items() if k.startswith('fp32')}
    for key in ('int8_silu_float', 'int8_silu_quantized'):
        graph = variants[key].tensor_path.graph
        timers[key] = StageTimer(graph.get_submodule(f'{FIRST_HEAD_LAYER}.reparam_conv'), variants[key].tensor_path)
    x = images(1, seed=3)
    with torch.no_grad():
        candidates = sum(int((c.sigmoid() > SCORE_THR).sum()) for c in fused(x, mode='tensor')[0])
    samples = defaultdict(list)
    with torch.no_grad():
        for key, m in variants.items():  # warm-up (allocators, packed-weight caches, lazy init)
            for _ in range(3):
                m.predict(x, sample())
        for _ in range(repeats):
            for key, m in variants.items():
                samples[key].append(timers[key].run(m, x))
    results = {}
    for key, runs in samples.items():
        stages = {s: 1000 * statistics.median(r[s] for r in runs) for s in runs[0]}
        totals = sorted(1000 * r['total'] for r in runs)
        results[key] = dict(median_ms=stages['total'], p25_ms=totals[len(totals) // 4],
                            p75_ms=totals[(3 * len(totals)) // 4], stages_median_ms=stages)
    fused_stages = results['fp32_fused']['stages_median_ms']
    ratios = {k: {s: v['stages_median_ms'][s] / fused_stages[s] for s in ('total', 'backbone_neck', 'head_layers')}
              for k, v in results.items()}
    profiles = {k: profile_stages(variants[k], timers[k], x)
                for k in ('fp32_fused', 'int8_silu_float', 'int8_silu_quantized')}
    quantization = dict(graph=info['graph'], num_layers=info['num_layers'],
                        per_tensor_weight_layers=info['per_tensor_weight_layers'])
    return dict(params_fused=sum(p.numel() for p in fused.parameters()), nms_candidates_fp32=candidates,
                quantization=quantization, latency=results, ratio_to_fused_fp32=ratios, sqnr_db=sqnr,
                profile=profiles)


def markdown(report: dict) -> str:
    lines = ['# INT8 latency (CPU, torch.ao FX, x86 backend)', '',
             f"{report['machine']['cpu']}, {report['settings']['threads']} threads, batch 1, {SIZE}x{SIZE}, "
             f"median of {report['settings']['repeats']} interleaved runs; torch {report['machine']['torch']}; "
             f"load average before / after: {report['machine']['load_before']} / {report['machine']['load_after']}.",
             '', 'Target (issue 4): INT8 <= 0.4x fused FP32. INT8 = per-channel int8 weights, uint8 activations '
             '(minmax), backbone + neck + head layers in one graph; `int8_silu_float` (SiLU in float between '
             'dequantize/quantize) is the library default, `int8_silu_quantized` runs SiLU as quantized sigmoid * x.',
             '']
    for name, r in report['models'].items():
        lines += [f'## YOLOv6-{name.upper()} (QARepVGG-v2, {r["params_fused"] / 1e6:.2f} M fused params, '
                  f'{r["nms_candidates_fp32"]} scores > {SCORE_THR} in FP32)', '',
                  '| variant | total ms (p25-p75) | backbone+neck ms | head layers ms | post-proc ms | '
                  'total / fused FP32 | backbone+neck ratio | head ratio | output SQNR dB |',
                  '|---|---|---|---|---|---|---|---|---|']
        for key, v in r['latency'].items():
            s, q = v['stages_median_ms'], r['ratio_to_fused_fp32'][key]
            sqnr = r['sqnr_db'].get(key, {}).get('all')
            lines.append(f"| {key} | {v['median_ms']:.1f} ({v['p25_ms']:.1f}-{v['p75_ms']:.1f}) | "
                         f"{s['backbone_neck']:.1f} | {s['head_layers']:.1f} | {s['post_processing']:.1f} | "
                         f"{q['total']:.2f} | {q['backbone_neck']:.2f} | {q['head_layers']:.2f} | "
                         f"{'' if sqnr is None else f'{sqnr:.1f}'} |")
        lines += ['', 'Where the time goes (torch.profiler, self CPU ms per run inside each stage; wall ms of the '
                  'stage in brackets):', '']
        for key, stages in r['profile'].items():
            for stage, p in stages.items():
                ops = ', '.join(f"`{o['op']}` {o['self_ms']:.1f}" for o in p['top_ops'][:6])
                lines.append(f"- {key} / {stage} [{p['wall_ms']:.1f}]: {ops}")
        lines.append('')
    return '\n'.join(lines) + '\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=['n', 's'], choices=['n', 's', 'm'])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--calib-images', type=int, default=8)
    parser.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'quantization_latency'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmdet')
    cpu = next((line.split(':', 1)[1].strip() for line in Path('/proc/cpuinfo').read_text().splitlines()
                if line.startswith('model name')), platform.processor())
    load_before = [round(v, 2) for v in os.getloadavg()]
    models = {}
    for name in args.models:
        print(f'yolov6{name} ...', file=sys.stderr)
        models[name] = bench_model(name, args.repeats, args.calib_images)
    report = dict(machine=dict(cpu=cpu, cores=os.cpu_count(), torch=torch.__version__, load_before=load_before,
                               load_after=[round(v, 2) for v in os.getloadavg()]),
                  settings=dict(threads=args.threads, repeats=args.repeats, size=SIZE, batch=1, backend='x86',
                                observer='minmax', calib_images=args.calib_images, score_thr=SCORE_THR),
                  models=models)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(report, indent=1))
    out.with_suffix('.md').write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
