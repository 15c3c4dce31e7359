"""``tools/test.py --out``: the predictions of a detector or a segmentor, dumped to a pickle file.

Provenance: mmdet 3.3.0 ``DumpDetResults`` (detections) and mmengine 0.10.7 ``DumpResults``.
"""
import numbers
from typing import Any, Dict

from mmengine.evaluator import BaseMetric, DumpResults
from mmengine.model import is_model_wrapper
from torch import nn


class DumpSegPredictions(DumpResults):
    """Per image its path and predicted label map (``HxW`` uint8), not the logits."""

    def process(self, data_batch: Any, predictions: list) -> None:
        for prediction in predictions:
            label_map = prediction['pred_sem_seg']['data'][0].cpu().numpy().astype('uint8')
            self.results.append(dict(img_path=prediction['img_path'], pred_sem_seg=label_map))


def dump_predictions_metric(model: nn.Module, out_file: str) -> BaseMetric:
    """The metric that dumps ``model``'s predictions to ``out_file``: mmdet's ``DumpDetResults`` for a
    detector, :class:`DumpSegPredictions` for an mmseg segmentor."""
    from mmseg.models.segmentors import BaseSegmentor
    model = model.module if is_model_wrapper(model) else model
    if isinstance(model, BaseSegmentor):
        return DumpSegPredictions(out_file_path=out_file)
    from mmdet.evaluation import DumpDetResults
    return DumpDetResults(out_file_path=out_file)


def metrics_line(metrics: Dict[str, Any]) -> str:
    """``name: value`` pairs on one line, reals with 4 decimals (mmdet's metrics are Python floats,
    mmseg's ``IoUMetric`` gives numpy floats)."""
    return ' '.join(f'{name}: {float(value):.4f}' if isinstance(value, numbers.Real)
                    and not isinstance(value, numbers.Integral) else f'{name}: {value}'
                    for name, value in metrics.items())
