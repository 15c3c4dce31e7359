"""Convert a calibrated detector to INT8: ``QuantizedDetector``, an mmdet detector for inference.

The quantized tensor path produces the head outputs; the original head's ``predict_by_feat``
(decoding, priors, NMS; float) turns them into ``DetDataSample`` predictions, exactly as the float
detector's ``predict`` does.

Provenance: the predict path is mmdet 3.x ``SingleStageDetector.predict`` /
``BaseDenseHead.predict``; INT8 inference as Jacob et al., CVPR 2018, Sec. 2.
"""
from typing import List, Optional

from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import SampleList
from torch import Tensor, nn

from ._backend import convert_graph, quantized_engine, quiet_deprecations
from .modules import QuantizedTensorPath, postprocessing_head
from .prepare import PreparedDetector


class QuantizedDetector(BaseDetector):
    """An INT8 tensor path in front of a float head's post-processing; inference only.

    Args:
        data_preprocessor: The float detector's data preprocessor.
        tensor_path: ``images -> head outputs`` (a :class:`~.modules.QuantizedTensorPath`, or its
            TorchScript when loaded from disk).
        bbox_head: The head used for ``predict_by_feat`` (see :func:`~.modules.postprocessing_head`).
        backend: Quantized engine the graph was converted for (set while it runs).
        info: JSON-able description (``PreparedDetector.summary()``), saved with the model.
    """

    def __init__(self, data_preprocessor: nn.Module, tensor_path: nn.Module, bbox_head: nn.Module, backend: str,
                 info: dict) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.tensor_path = tensor_path
        self.bbox_head = bbox_head
        self.backend = backend
        self.info = info

    def _forward(self, batch_inputs: Tensor, batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Normalized ``(B, 3, H, W)`` images -> the head's raw outputs (``mode='tensor'``)."""
        with quiet_deprecations(), quantized_engine(self.backend):
            return self.tensor_path(batch_inputs)

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True) -> SampleList:
        """As ``SingleStageDetector.predict``: data samples with ``pred_instances`` filled in."""
        outs = self._forward(batch_inputs)
        results = self.bbox_head.predict_by_feat(*outs, batch_img_metas=[s.metainfo for s in batch_data_samples],
                                                 rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def extract_feat(self, batch_inputs: Tensor) -> List[Tensor]:
        raise NotImplementedError('a QuantizedDetector does not expose features: its graph ends at the head outputs')

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        raise NotImplementedError('a QuantizedDetector is for inference only')


def convert_detector(prepared: PreparedDetector) -> QuantizedDetector:
    """Convert the calibrated graph of ``prepared`` (left unchanged) to INT8 and wrap it.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedDetector`.

    Returns:
        The quantized detector (eval mode); ``predict`` works as the float detector's.
    """
    head, float_head = postprocessing_head(prepared.detector.bbox_head)
    graph = convert_graph(prepared.observed, prepared.config.backend)
    detector = QuantizedDetector(prepared.detector.data_preprocessor, QuantizedTensorPath(graph, float_head), head,
                                 prepared.config.backend, prepared.summary())
    return detector.eval()
