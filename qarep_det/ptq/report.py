"""The PTQ report's tables.

The report itself (``report.json``, ``report.md`` and artefacts) is written into a
:class:`~qarep_det.utils.io.StagedOutputDir` and published when the run succeeds, ``report.json``
last: a folder holding ``report.json`` holds a whole report.
"""
from typing import Dict, List, Optional, Tuple

# Headline columns by the metric names the evaluators report: (metric name without prefix, header).
_DETECTION = (('bbox_mAP', 'mAP'), ('bbox_mAP_50', 'mAP@0.5'), ('bbox_mAP_75', 'mAP@0.75'), ('bbox_mAP_s', 'mAP_s'),
              ('bbox_mAP_m', 'mAP_m'), ('bbox_mAP_l', 'mAP_l'))
_SEGMENTATION = (('mIoU', 'mIoU'), ('mAcc', 'mAcc'), ('aAcc', 'aAcc'))


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def headline_metrics(models: Dict[str, Dict[str, float]]) -> Tuple[List[str], List[str], int]:
    """``(metric keys, column headers, digits)`` of the task's headline metrics found in ``models``.

    Detection (``*/bbox_mAP``): the six COCO mAPs (3 decimals); segmentation (``mIoU``): mIoU, mAcc,
    aAcc (in percent, 2 decimals); anything else: its first six metrics.
    """
    names = [k for m in models.values() for k in m]
    for columns, digits in ((_DETECTION, 3), (_SEGMENTATION, 2)):
        found = next((k for k in names if k.split('/')[-1] == columns[0][0]), None)
        if found is not None:
            prefix = found[:-len(columns[0][0])]
            return [prefix + key for key, _ in columns], [header for _, header in columns], digits
    keys = list(dict.fromkeys(names))[:6]
    return keys, keys, 3


def metrics_table(models: Dict[str, Dict[str, float]], latency_ms: Dict[str, float]) -> List[str]:
    """Markdown rows: one line per model, the task's headline metrics and latency."""
    keys, headers, digits = headline_metrics(models)
    lines = ['| model | ' + ' | '.join(headers) + ' | latency (ms) |', '|---' * (len(headers) + 2) + '|']
    for name, metrics in models.items():
        cells = [_fmt(metrics.get(k), digits) for k in keys]
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {_fmt(latency_ms.get(name), 1)} |')
    return lines
