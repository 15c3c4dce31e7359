"""CPU latency of YOLOv6-N/S (QARepVGG-v2 blocks): unfused FP32, fused FP32 and INT8 (x86 backend).

Whole model as mmdet runs it (``predict``: tensor path, decoding and NMS), batch 1, 640x640,
``--threads`` CPU threads, median of ``--repeats`` runs with the variants interleaved (so a load
spike on a shared machine hits every variant alike). The images are NCHW, as mmdet's data
preprocessor makes them. ``fp32_unfused`` is the training model as trained (NCHW weights);
``fp32_fused`` and INT8 are the deployed models as ``tools/ptq.py`` runs them (channels_last, see
``qarep_det.ptq.evaluation.DEPLOY_MEMORY_FORMAT``); ``*_nchw`` / ``*_channels_last`` rows show each
float model in the other layout. Each run is split into backbone+neck, head layers and
post-processing by hooks. INT8 runs with SiLU rewritten as quantized sigmoid * x
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
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.profiler import ProfilerActivity, profile, record_function

from common import RESULTS, ROOT, channels_last, write_results
from qarep_det import reparameterize_model
from qarep_det.datasets.synthetic import render_image
from qarep_det.quantization import (QuantConfig, calibrate, convert_model, deploy_fused, load_deployed,
                                    output_sqnr, prepare_model, save_deployed)
from qarep_det.utils import OneLineParser, positive_int, run_tool

SIZE = 640
FIRST_HEAD_LAYER = 'bbox_head.head_module.stems.0'
CLS_GAIN = 0.7
"""Gain of the random classification layers: logits of std ~1 around the prior's -4.6, so that
about a hundred (prior, class) scores per image pass ``score_thr=0.25``, as for a trained detector."""
SCORE_THR = 0.25
GOALS = dict(fused_to_unfused=dict(n=0.45, s=0.79), int8_to_fused=dict(n=0.4, s=0.4))
"""Issue 4, section 5: fused FP32 / unfused FP32 (the official network's ratios on this kind of
machine) and INT8 / fused FP32, whole model."""


def images(num: int, seed: int) -> torch.Tensor:
    """``(num, 3, SIZE, SIZE)`` synthetic images in [0, 1], NCHW-contiguous (as mmdet's preprocessor gives)."""
    rng = np.random.default_rng(seed)
    batch = np.stack([render_image(rng, (SIZE, SIZE), 6, 0.5)[0] for _ in range(num)])  # (num, H, W, 3)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().float() / 255


@torch.no_grad()
def build(name: str, bn_images: torch.Tensor) -> Tuple[nn.Module, dict]:
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
    return model.eval(), cfg.model


class StageTimer:
    """Splits one ``predict`` call into stages at module boundaries.

    ``marks`` are ``(stage, module, 'pre' | 'post')``: the stage starts when ``module`` starts
    (``'pre'``) or ends (``'post'``); the time before the first mark is stage ``first``. With
    ``profiled=True`` the stages are also ``torch.profiler`` ranges (``stage::<name>``).
    """

    def __init__(self, first: str, marks: List[Tuple[str, nn.Module, str]]) -> None:
        self.stages = (first, *(stage for stage, _, _ in marks))
        self.marks, self.ranges = {}, []
        for stage, module, kind in marks:
            register = module.register_forward_pre_hook if kind == 'pre' else module.register_forward_hook
            register(lambda *_, stage=stage: self._mark(stage))

    def _mark(self, stage: str) -> None:  # hooks must return None (a value would replace the input)
        if stage not in self.marks:
            self.marks[stage] = time.perf_counter()
            if self.ranges:
                self.ranges[-1].__exit__(None, None, None)
                self.ranges.append(record_function(f'stage::{stage}'))
                self.ranges[-1].__enter__()

    def run(self, model: nn.Module, x: torch.Tensor, profiled: bool = False) -> dict:
        self.marks, self.ranges = {}, [record_function(f'stage::{self.stages[0]}')] if profiled else []
        for r in self.ranges:
            r.__enter__()
        start = time.perf_counter()
        model.predict(x, sample())
        end = time.perf_counter()
        if self.ranges:
            self.ranges[-1].__exit__(None, None, None)
        times = [start] + [self.marks[s] for s in self.stages[1:]] + [end]
        return dict(total=end - start, **{s: times[i + 1] - times[i] for i, s in enumerate(self.stages)})


class Marked(nn.Module):
    """Wraps a TorchScript tensor path so that a Python hook can mark where it ends."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> tuple:
        return self.inner(x)


def sample() -> list:
    return [DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1., 1.)))]


def profile_stages(model: nn.Module, timer: StageTimer, x: torch.Tensor, runs: int = 5, top: int = 8) -> dict:
    """Per stage: wall ms per run and the ops with the largest self CPU time inside it (ms per run)."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            timer.run(model, x, profiled=True)
    events = [e for e in prof.events() if e.device_type.name == 'CPU']
    ranges = [(e.name.split('::', 1)[1], e.time_range) for e in events if e.name.startswith('stage::')]
    per_stage = {stage: defaultdict(float) for stage in timer.stages}
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


def three_stage_timer(detector: nn.Module) -> StageTimer:
    """backbone+neck / head layers / post-processing of an eager float or in-memory INT8 detector."""
    if hasattr(detector, 'tensor_path'):  # a deployed model: the first head layer is inside its graph
        graph = detector.tensor_path.graph
        head = graph.get_submodule(FIRST_HEAD_LAYER)
        head = head.reparam_conv if hasattr(head, 'reparam_conv') else head
        path_end = detector.tensor_path
    else:
        head, path_end = detector.get_submodule(FIRST_HEAD_LAYER), detector.bbox_head.head_module
    return StageTimer('backbone_neck', [('head_layers', head, 'pre'), ('post_processing', path_end, 'post')])


def deployed_file(detector: nn.Module, model_cfg: dict, example: torch.Tensor, folder: Path) -> nn.Module:
    """``detector`` saved as ``tools/ptq.py`` saves it (TorchScript) and loaded back, its path end marked."""
    loaded = load_deployed(save_deployed(detector, folder, model_cfg, example))
    loaded.tensor_path = Marked(loaded.tensor_path)
    return loaded


def bench_model(name: str, repeats: int, calib_images: int) -> dict:
    torch.manual_seed(0)
    calib = images(calib_images, seed=1)
    model, model_cfg = build(name, calib[:4])
    fused = reparameterize_model(model)
    x = images(1, seed=3)
    in_memory = dict(fp32_fused=deploy_fused(model))  # profiled: hooks reach inside eager modules only
    sqnr, info = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        variants = dict(fp32_unfused=model, fp32_unfused_channels_last=channels_last(model), fp32_fused_nchw=fused,
                        fp32_fused_eager=in_memory['fp32_fused'],
                        fp32_fused=deployed_file(in_memory['fp32_fused'], model_cfg, x, Path(tmp) / 'fp32'))
        for silu in ('float', 'quantized'):  # float: the library default (measured faster)
            prepared = prepare_model(model, calib[:1], QuantConfig(observer='minmax', backend='x86'), silu=silu)
            calibrate(prepared, calib.split(1), progress=False)
            int8 = in_memory[f'int8_silu_{silu}'] = convert_model(prepared)
            variants[f'int8_silu_{silu}'] = deployed_file(int8, model_cfg, x, Path(tmp) / silu)
            sqnr[f'int8_silu_{silu}'] = output_sqnr(prepared, int8, [images(2, seed=2)])
            info = prepared.summary()
    timers = {k: StageTimer('tensor_path', [('post_processing', m.tensor_path if hasattr(m, 'tensor_path') else
                                             m.bbox_head.head_module, 'post')]) for k, m in variants.items()}
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
    ratios = {k: {s: v['stages_median_ms'][s] / fused_stages[s] for s in ('total', 'tensor_path')}
              for k, v in results.items()}
    unfused_ms, fused_ms = results['fp32_unfused']['median_ms'], results['fp32_fused']['median_ms']
    targets = {key: dict(value=round(value, 3), goal=GOALS[key].get(name),
                         met=None if GOALS[key].get(name) is None else value <= GOALS[key][name])
               for key, value in (('fused_to_unfused', fused_ms / unfused_ms),
                                  ('int8_to_fused', results['int8_silu_float']['median_ms'] / fused_ms))}
    like_for_like = dict(nchw=results['fp32_fused_nchw']['median_ms'] / unfused_ms,
                         channels_last=results['fp32_fused_eager']['median_ms']
                         / results['fp32_unfused_channels_last']['median_ms'])
    profiles = {k: profile_stages(m, three_stage_timer(m), x) for k, m in in_memory.items()}
    quantization = dict(graph=info['graph'], num_layers=info['num_layers'],
                        per_tensor_weight_layers=info['per_tensor_weight_layers'])
    return dict(params_fused=sum(p.numel() for p in fused.parameters()), nms_candidates_fp32=candidates,
                quantization=quantization, latency=results, targets=targets,
                fused_to_unfused_same_layout={k: round(v, 3) for k, v in like_for_like.items()},
                ratio_to_fused_fp32=ratios, sqnr_db=sqnr, profile=profiles)


def markdown(report: dict) -> str:
    lines = ['# INT8 latency (CPU, torch.ao FX, x86 backend)', '',
             f"{report['machine']['cpu']}, {report['settings']['threads']} threads, batch 1, {SIZE}x{SIZE}, "
             f"median of {report['settings']['repeats']} interleaved runs; torch {report['machine']['torch']}; "
             f"load average before / after: {report['machine']['load_before']} / {report['machine']['load_after']}.",
             '', 'Targets (issue 4): fused FP32 <= 0.45x (N) / 0.79x (S) of unfused FP32, INT8 <= 0.4x fused FP32. '
             'Images NCHW as mmdet\'s data preprocessor makes them; `fp32_unfused` = the training model as trained '
             '(eager, NCHW); `fp32_fused` and `int8_*` = the deployed files as `tools/ptq.py` writes, evaluates and '
             'times them (`model_fp32.pt` / `model_int8.pt`: TorchScript, channels_last); `fp32_fused_eager` = the '
             'same fused model in eager mode, `fp32_fused_nchw` = eager and NCHW (as the official YOLOv6 code runs). '
             'INT8 = per-channel int8 weights, uint8 activations '
             '(minmax), backbone + neck + head layers in one graph; `int8_silu_float` (SiLU in float between '
             'dequantize/quantize) is the library default, `int8_silu_quantized` runs SiLU as quantized sigmoid * x.',
             '']
    for name, r in report['models'].items():
        lines += [f'## YOLOv6-{name.upper()} (QARepVGG-v2, {r["params_fused"] / 1e6:.2f} M fused params, '
                  f'{r["nms_candidates_fp32"]} scores > {SCORE_THR} in FP32)', '',
                  '| target | measured | goal | met |', '|---|---|---|---|',
                  *[f"| {key.replace('_', ' ')} | {t['value']:.2f} | {t['goal']} | {t['met']} |"
                    for key, t in r['targets'].items()],
                  '', 'Fused / unfused with both in the same layout: ' + ', '.join(
                      f'{k} {v:.2f}' for k, v in r['fused_to_unfused_same_layout'].items()) + '.', '',
                  '| variant | total ms (p25-p75) | tensor path ms | post-proc ms | total / fused FP32 | '
                  'tensor path / fused FP32 | output SQNR dB |', '|---|---|---|---|---|---|---|']
        for key, v in r['latency'].items():
            s, q = v['stages_median_ms'], r['ratio_to_fused_fp32'][key]
            sqnr = r['sqnr_db'].get(key, {}).get('all')
            lines.append(f"| {key} | {v['median_ms']:.1f} ({v['p25_ms']:.1f}-{v['p75_ms']:.1f}) | "
                         f"{s['tensor_path']:.1f} | {s['post_processing']:.1f} | {q['total']:.2f} | "
                         f"{q['tensor_path']:.2f} | {'' if sqnr is None else f'{sqnr:.1f}'} |")
        lines += ['', 'Where the time goes (torch.profiler on the in-memory models, eager fused FP32 and the INT8 '
                  'FX graphs: self CPU ms per run inside each stage; wall ms of the stage in brackets):', '']
        for key, stages in r['profile'].items():
            for stage, p in stages.items():
                ops = ', '.join(f"`{o['op']}` {o['self_ms']:.1f}" for o in p['top_ops'][:6])
                lines.append(f"- {key} / {stage} [{p['wall_ms']:.1f}]: {ops}")
        lines.append('')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=['n', 's'], choices=['n', 's', 'm'])
    parser.add_argument('--repeats', type=positive_int, default=15)
    parser.add_argument('--threads', type=positive_int, default=2)
    parser.add_argument('--calib-images', type=positive_int, default=8)
    parser.add_argument('--out', type=Path, default=RESULTS / 'quantization_latency')
    args = parser.parse_args(argv)
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
    write_results(args.out, report, markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('quantization_latency.py', main))
