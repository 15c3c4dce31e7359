"""FP32 latency, unfused and fused, of the official YOLOv6 v3.0 networks and of ours, on this machine.

Issue 4 quotes, for the official network on this kind of machine, fused FP32 at 0.45x (N) and
0.79x (S) of the unfused latency. This measures both code bases side by side: the official
network from a checkout of meituan/YOLOv6 (``--official DIR`` or ``$QAREP_YOLOV6_REPO``; it is
imported from there at run time, nothing of it is copied) built from its ``configs/yolov6{n,s}.py``
in eval mode, with its own ``training_mode`` (``repvgg``: RepVGG blocks) and with
``qarepvggv2``; fused with its ``fuse_model`` and then ``switch_to_deploy`` (the order its code
needs). Ours: ``configs/yolov6{n,s}_{repvgg,qarep}.py``, fused with ``reparameterize_model``.
Tensor path only (official: its eval forward, which also decodes the boxes; ours: backbone + neck +
head layers), batch 1, 640x640, NCHW input, ``--threads`` threads, median of ``--repeats``
interleaved runs. Each fused model also runs with channels_last weights (the layout
``tools/ptq.py`` deploys in). Writes ``benchmarks/results/official_latency.{json,md}`` atomically.

Usage: ``python benchmarks/official_latency.py --official /path/to/YOLOv6 [--models n s] [--repeats 15]``
"""
import os
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Callable, Dict

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from common import RESULTS, ROOT, channels_last, write_results
from qarep_det import reparameterize_model
from qarep_det.utils import BadInput, OneLineParser, positive_int, run_tool


def official_models(repo: Path, name: str, mode: str) -> Dict[str, torch.nn.Module]:
    """The official network ``yolov6{name}`` with ``training_mode=mode``, unfused and fused (eval mode)."""
    sys.modules.setdefault('requests', types.ModuleType('requests'))  # imported by yolov6.utils.general, unused here
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    from yolov6.models.yolo import build_model
    from yolov6.utils.config import Config as OfficialConfig
    from yolov6.utils.torch_utils import fuse_model

    cfg = OfficialConfig.fromfile(str(repo / 'configs' / f'yolov6{name}.py'))
    cfg.training_mode = mode
    torch.manual_seed(0)
    unfused = build_model(cfg, 80, 'cpu').eval()
    torch.manual_seed(0)
    fused = fuse_model(build_model(cfg, 80, 'cpu').eval())  # conv-BN first: its blocks' fusion expects it
    for m in fused.modules():
        if hasattr(m, 'switch_to_deploy'):
            m.switch_to_deploy()
    return with_channels_last(dict(unfused=unfused, fused=fused.eval()))


def with_channels_last(models: Dict[str, torch.nn.Module]) -> Dict[str, torch.nn.Module]:
    """``models`` plus ``fused_cl``: a copy of the fused model with channels_last (NHWC) weights."""
    return dict(models, fused_cl=channels_last(models['fused']))


def our_models(name: str, blocks: str) -> Dict[str, torch.nn.Module]:
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(ROOT / 'configs' / f'yolov6{name}_{blocks}.py')).model).eval()
    return with_channels_last(dict(unfused=model, fused=reparameterize_model(model)))


def median_ms(runs: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, float]:
    """Median wall time of each callable, the callables interleaved (a load spike hits all alike)."""
    times = {k: [] for k in runs}
    with torch.no_grad():
        for fn in runs.values():  # warm-up
            for _ in range(3):
                fn()
        for _ in range(repeats):
            for key, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[key].append(1000 * (time.perf_counter() - start))
    return {k: round(statistics.median(v), 1) for k, v in times.items()}


def main(argv=None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument('--official', type=Path, default=os.environ.get('QAREP_YOLOV6_REPO'),
                        help='a checkout of meituan/YOLOv6 (default: $QAREP_YOLOV6_REPO)')
    parser.add_argument('--models', nargs='+', default=['n', 's'], choices=['n', 's'])
    parser.add_argument('--repeats', type=positive_int, default=15)
    parser.add_argument('--threads', type=positive_int, default=2)
    parser.add_argument('--out', type=Path, default=RESULTS / 'official_latency')
    args = parser.parse_args(argv)
    if args.official is None or not (Path(args.official) / 'yolov6' / 'models' / 'yolo.py').is_file():
        raise BadInput(f'no YOLOv6 checkout at {args.official} (pass --official DIR)')
    torch.set_num_threads(args.threads)
    x = torch.rand(1, 3, 640, 640)
    results, rows = {}, []
    for name in args.models:
        models = {}
        for mode, blocks in (('repvgg', 'repvgg'), ('qarepvggv2', 'qarep')):
            for variant, m in official_models(Path(args.official).resolve(), name, mode).items():
                models[f'official {mode} {variant}'] = m
            for variant, m in our_models(name, blocks).items():
                models[f'ours {blocks} {variant}'] = m
        ms = median_ms({k: (lambda m=m: m(x)) if k.startswith('official') else (lambda m=m: m(x, mode='tensor'))
                        for k, m in models.items()}, args.repeats)
        results[name] = ms
        for who, blocks in (('official', 'repvgg'), ('official', 'qarepvggv2'), ('ours', 'repvgg'), ('ours', 'qarep')):
            unfused, fused, fused_cl = (ms[f'{who} {blocks} {v}'] for v in ('unfused', 'fused', 'fused_cl'))
            rows.append(f'| YOLOv6-{name.upper()} | {who} | {blocks} | {unfused:.1f} | {fused:.1f} | {fused_cl:.1f} '
                        f'| {fused / unfused:.2f} | {fused_cl / unfused:.2f} |')
    md = '\n'.join([
        '# FP32 latency: official YOLOv6 v3.0 vs qarep_det, unfused and fused', '',
        f'Batch 1, 640x640, {args.threads} threads, median of {args.repeats} interleaved runs, tensor path '
        f'(no NMS); torch {torch.__version__}; load average after: {[round(v, 2) for v in os.getloadavg()]}.', '',
        '| model | code | blocks | unfused ms | fused ms | fused channels_last ms | fused / unfused '
        '| fused channels_last / unfused |', '|---|---|---|---|---|---|---|---|', *rows, '',
        'Written by `python benchmarks/official_latency.py`.', ''])
    write_results(args.out, dict(threads=args.threads, repeats=args.repeats, median_ms=results), md)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool('official_latency.py', main))
