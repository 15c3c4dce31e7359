"""One evaluation loop for every model variant (FP32, fused FP32, INT8), and the fusion check.

The metric is the config's own evaluator (``CocoMetric`` for detection, ``IoUMetric`` for
segmentation), built under the config's default scope, so the same loop serves any task the
config describes. Each image is loaded once and passed through every variant. Two additions to
what the metrics return by default: a ``CocoMetric`` reports all 12 COCO statistics, and an
``IoUMetric`` also the IoU of each class (``IoU.<class>``, in percent as its ``mIoU``), which it
otherwise only logs.
"""
import copy
import statistics
import time
from typing import Dict, Iterable, List, Optional

import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.registry import METRICS
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm


# All 12 COCO statistics, as CocoMetric names them (it logs only the six mAPs by default).
COCO_METRIC_ITEMS = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
                     'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000']


def build_evaluator(cfg: Config, metainfo: dict) -> Evaluator:
    """The config's validation evaluator; a ``CocoMetric`` reports all 12 COCO statistics."""
    metrics = copy.deepcopy(cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else [cfg.val_evaluator])
    for metric in metrics:
        if metric.get('type') == 'CocoMetric' and metric.get('metric_items') is None:
            metric['metric_items'] = COCO_METRIC_ITEMS
    evaluator = Evaluator([METRICS.build(m) for m in metrics])
    evaluator.dataset_meta = metainfo
    return evaluator


def per_class_iou(metric: BaseMetric) -> Dict[str, Optional[float]]:
    """``{'IoU.<class>': percent}`` from the results an mmseg ``IoUMetric`` has gathered (before its
    ``evaluate``; ``None`` for a class absent from both labels and predictions); ``{}`` for other metrics.

    Provenance: mmseg 1.2.2 ``IoUMetric.compute_metrics`` (its per-class table, which it logs).
    """
    if not (hasattr(metric, 'intersect_and_union') and metric.results):
        return {}
    intersect = sum(r[0] for r in metric.results).double()
    union = sum(r[1] for r in metric.results).double()
    prefix = f'{metric.prefix}/' if metric.prefix else ''
    classes = metric.dataset_meta['classes']
    return {f'{prefix}IoU.{name}': (round(float(i / u) * 100, 2) if u > 0 else None)
            for name, i, u in zip(classes, intersect.tolist(), union.tolist())}


@torch.no_grad()
def evaluate_variants(variants: Dict[str, nn.Module], loader: DataLoader, cfg: Config, metainfo: dict,
                      progress: bool = True) -> Dict[str, Dict[str, Optional[float]]]:
    """Metrics of every variant on ``loader``'s images, named as the evaluator names them
    (e.g. ``coco/bbox_mAP``; ``mIoU``, ``mAcc``, ``aAcc`` and ``IoU.<class>``)."""
    evaluators = {name: build_evaluator(cfg, metainfo) for name in variants}
    for batch in tqdm(loader, desc=f'evaluating {", ".join(variants)}', disable=not progress, unit='batch'):
        for name, model in variants.items():
            evaluators[name].process(data_samples=model.test_step(batch), data_batch=batch)
    results = {}
    for name, evaluator in evaluators.items():
        per_class = {k: v for metric in evaluator.metrics for k, v in per_class_iou(metric).items()}
        results[name] = {**{k: float(v) for k, v in evaluator.evaluate(len(loader.dataset)).items()}, **per_class}
    return results


def _tensors(outputs) -> List[Tensor]:
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for item in outputs for t in _tensors(item)]


@torch.no_grad()
def max_abs_difference(reference: nn.Module, candidate: nn.Module, batches: Iterable[dict]) -> float:
    """Largest absolute difference of the raw outputs (``mode='tensor'``) on real batches."""
    worst = 0.0
    for batch in batches:
        data = reference.data_preprocessor(batch, False)
        expected = _tensors(reference(data['inputs'], data['data_samples'], mode='tensor'))
        actual = _tensors(candidate(data['inputs'], data['data_samples'], mode='tensor'))
        worst = max([worst] + [(a - e).abs().max().item() for a, e in zip(actual, expected)])
    return worst


@torch.no_grad()
def latency_ms(model: nn.Module, batch: dict, warmup: int = 3, repeats: int = 10) -> float:
    """Median wall time of ``test_step`` on one batch (pre-processing, network, post-processing)."""
    for _ in range(warmup):
        model.test_step(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.test_step(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def memory_format(model: nn.Module) -> str:
    """``'channels_last'`` or ``'contiguous'``: the layout ``model`` computes in (its first conv's weight,
    or a ``memory_format`` attribute the model declares, as a deployed model does)."""
    declared = getattr(model, 'memory_format', None)
    if declared is not None:
        return str(declared)
    weight = next((m.weight for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    channels_last = (weight is not None and not weight.is_contiguous()
                     and weight.is_contiguous(memory_format=torch.channels_last))
    return 'channels_last' if channels_last else 'contiguous'


def latency_settings(variants: Dict[str, nn.Module], batch: dict, repeats: int) -> dict:
    """How :func:`latency_ms` measured ``variants`` on ``batch``: for the report."""
    reference = next(iter(variants.values()))
    with torch.no_grad():
        shape = list(reference.data_preprocessor(batch, False)['inputs'].shape)
    return dict(input_shape=shape, threads=torch.get_num_threads(), repeats=repeats,
                memory_format={name: memory_format(m) for name, m in variants.items()})
