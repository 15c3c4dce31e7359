"""The PTQ report: ``report.json``, ``report.md`` and artefacts, published atomically.

Everything is written into a hidden staging folder beside ``--out`` and moved into place only when
the run succeeds, ``report.json`` last: a folder holding ``report.json`` holds a whole report.
Nothing the user already has is overwritten.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Dict, List, Optional, Type

from .loading import PTQInputError

REPORT_NAME = 'report.json'


class StagedOutputDir:
    """A staging folder for one run's outputs, published into ``out_dir`` on success only.

    Args:
        out_dir: The folder the user asked for; may exist (without a report) or not.

    Raises:
        PTQInputError: ``out_dir`` already holds a report, or is a file.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise PTQInputError(f'--out {out_dir} is a file, not a folder')
        if (self.out_dir / REPORT_NAME).exists():
            raise PTQInputError(f'{out_dir} already holds a report ({REPORT_NAME}): choose another --out; '
                                'nothing was overwritten')
        self.path: Optional[Path] = None

    def __enter__(self) -> Path:
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f'.{self.out_dir.name}.partial-', dir=self.out_dir.parent))
        return self.path

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            if exc_type is None:
                self._publish()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def _publish(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in self.path.iterdir())
        clashes = [n for n in names if (self.out_dir / n).exists()]
        if clashes:
            raise PTQInputError(f'{self.out_dir} already has {", ".join(clashes)}: nothing was overwritten')
        for name in sorted(names, key=lambda n: n == REPORT_NAME):  # the report last
            os.replace(self.path / name, self.out_dir / name)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + '\n')


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
