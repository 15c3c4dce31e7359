"""The PTQ report's tables.

The report itself (``report.json``, ``report.md`` and artefacts) is written into a
:class:`~qarep_det.utils.io.StagedOutputDir` and published when the run succeeds, ``report.json``
last: a folder holding ``report.json`` holds a whole report.
"""
from typing import Dict, List, Optional


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def metrics_table(models: Dict[str, Dict[str, float]], latency_ms: Dict[str, float]) -> List[str]:
    """Markdown rows: one line per model, mAP figures and latency."""
    prefix = next((k.split('/')[0] for m in models.values() for k in m if k.endswith('bbox_mAP')), 'coco')
    keys = [f'{prefix}/{k}' for k in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m',
                                      'bbox_mAP_l')]
    lines = ['| model | mAP | mAP@0.5 | mAP@0.75 | mAP_s | mAP_m | mAP_l | latency (ms) |',
             '|---|---|---|---|---|---|---|---|']
    for name, metrics in models.items():
        cells = [_fmt(metrics.get(k)) for k in keys]
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {_fmt(latency_ms.get(name), 1)} |')
    return lines
