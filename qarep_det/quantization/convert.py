"""Deployed detectors: a tensor path (fused FP32, or INT8) in front of the float head's post-processing.

``convert_detector`` turns a calibrated detector into a :class:`QuantizedDetector`;
``deploy_fused`` turns a float detector into its fused FP32 :class:`DeployedDetector`. The tensor
path produces the head outputs; the original head's ``predict_by_feat`` (decoding, priors, NMS;
float) turns them into ``DetDataSample`` predictions, exactly as the float detector's ``predict``
does. Both run NHWC (channels_last), the layout the CPU kernels compute in (oneDNN for float
convs; FBGEMM, oneDNN and QNNPACK for quantized ones): the fused FP32 YOLOv6-N/S run 1.26x / 1.14x
faster in it than in NCHW (``benchmarks/quantization_latency.py``) and the first quantized conv
skips a reorder.

Provenance: the predict path is mmdet 3.x ``SingleStageDetector.predict`` /
``BaseDenseHead.predict``; INT8 inference as Jacob et al., CVPR 2018, Sec. 2; the fused network
is RepVGG's deploy form (Ding et al., CVPR 2021, Sec. 3.3).
"""
import copy
from typing import List, Optional

import torch
from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import SampleList
from torch import Tensor, nn

from ..reparam import reparameterize_model
from ._backend import convert_graph, quantized_engine, quiet_deprecations
from .modules import TensorPath, check_deployable, postprocessing_head, split_tensor_path
from .prepare import PreparedDetector

DEPLOY_MEMORY_FORMAT = torch.channels_last
"""The layout deployed detectors compute in (their images are converted to it on entry)."""


class DeployedDetector(BaseDetector):
    """A deployed tensor path in front of a float head's post-processing; inference only.

    Args:
        data_preprocessor: The float detector's data preprocessor.
        tensor_path: ``images -> head outputs``: an ``nn.Module``, or its TorchScript when loaded
            from disk.
        bbox_head: The head used for ``predict_by_feat`` (see :func:`~.modules.postprocessing_head`).
        info: JSON-able description, saved with the model.
    """

    memory_format = 'channels_last'
    """Layout of the tensor path, as reported by ``qarep_det.ptq.evaluation.memory_format``."""

    def __init__(self, data_preprocessor: nn.Module, tensor_path: nn.Module, bbox_head: nn.Module,
                 info: dict) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.tensor_path = tensor_path
        self.bbox_head = bbox_head
        self.info = info

    def _forward(self, batch_inputs: Tensor, batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Normalized ``(B, 3, H, W)`` images -> the head's raw outputs (``mode='tensor'``)."""
        return self.tensor_path(batch_inputs.contiguous(memory_format=DEPLOY_MEMORY_FORMAT))

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True) -> SampleList:
        """As ``SingleStageDetector.predict``: data samples with ``pred_instances`` filled in."""
        outs = self._forward(batch_inputs)
        results = self.bbox_head.predict_by_feat(*outs, batch_img_metas=[s.metainfo for s in batch_data_samples],
                                                 rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def extract_feat(self, batch_inputs: Tensor) -> List[Tensor]:
        raise NotImplementedError(f'a {type(self).__name__} does not expose features: its graph ends at the head '
                                  'outputs')

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        raise NotImplementedError(f'a {type(self).__name__} is for inference only')


class QuantizedDetector(DeployedDetector):
    """A :class:`DeployedDetector` whose tensor path is INT8; it runs under its quantized engine.

    Args:
        data_preprocessor: The float detector's data preprocessor.
        tensor_path: A :class:`~.modules.TensorPath`, or its TorchScript.
        bbox_head: The head used for ``predict_by_feat``.
        backend: Quantized engine the graph was converted for (set while it runs).
        info: ``PreparedDetector.summary()``.
    """

    def __init__(self, data_preprocessor: nn.Module, tensor_path: nn.Module, bbox_head: nn.Module, backend: str,
                 info: dict) -> None:
        super().__init__(data_preprocessor, tensor_path, bbox_head, info)
        self.backend = backend

    def _forward(self, batch_inputs: Tensor, batch_data_samples: Optional[SampleList] = None) -> tuple:
        with quiet_deprecations(), quantized_engine(self.backend):
            return super()._forward(batch_inputs)


def deploy_fused(model: nn.Module) -> DeployedDetector:
    """The fused FP32 deployment of an mmdet single-stage detector with a neck (left unchanged).

    The tensor path is backbone + neck + head layers (re-parameterized, channels_last weights);
    decoding and NMS are the head's, as for :func:`convert_detector`.

    Raises:
        TypeError: ``model`` is not :func:`~.modules.deployable`.
    """
    check_deployable(model)
    fused = reparameterize_model(model).eval()
    tensor_path = TensorPath(*split_tensor_path(fused)).to(memory_format=DEPLOY_MEMORY_FORMAT)
    head, _ = postprocessing_head(fused.bbox_head)
    return DeployedDetector(copy.deepcopy(fused.data_preprocessor), tensor_path, head,
                            dict(graph='fp32_fused', detector=type(model).__name__)).eval()


def convert_detector(prepared: PreparedDetector) -> QuantizedDetector:
    """Convert the calibrated graph of ``prepared`` (left unchanged) to INT8 and wrap it.

    Args:
        prepared: A calibrated :class:`~.prepare.PreparedDetector`.

    Returns:
        The quantized detector (eval mode); ``predict`` works as the float detector's.
    """
    head, float_head = postprocessing_head(prepared.detector.bbox_head)
    graph = convert_graph(prepared.observed, prepared.config.backend)
    detector = QuantizedDetector(prepared.detector.data_preprocessor, TensorPath(graph, float_head), head,
                                 prepared.config.backend, prepared.summary())
    return detector.eval()
