"""Detection adapter: mmdet single-stage detectors with a neck (YOLOv6, RetinaNet, ...).

The tensor path of a detector maps preprocessed images to what its head's ``predict_by_feat``
consumes. For a ``YOLOv6Head`` it is backbone -> neck -> head layers, traced and quantized as one
graph; for other single-stage detectors backbone -> neck is quantized and the head layers stay
float. Everything after it (DFL integral, priors, decoding, NMS) stays float in a copy of the
mmdet head, so a deployed detector predicts exactly as the float one's ``predict`` does.

Provenance: the predict path is mmdet 3.x ``SingleStageDetector.predict`` /
``BaseDenseHead.predict``; INT8 inference as Jacob et al., CVPR 2018, Sec. 2; the fused network
is RepVGG's deploy form (Ding et al., CVPR 2021, Sec. 3.3).
"""
import copy
from typing import List, Optional, Sequence, Tuple

from mmdet.models.detectors.base import BaseDetector
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from ...models.dense_heads.yolov6_head import YOLOv6Head
from .._backend import FLOAT_LAYER_TYPES
from ..modules import DeployedModel, TensorPath
from .base import TaskAdapter


class HeadLayers(nn.Module):
    """Holds a head's layer module under ``head_module`` so names match ``bbox_head.head_module``."""

    def __init__(self, head_module: nn.Module) -> None:
        super().__init__()
        self.head_module = head_module

    def forward(self, feats: Sequence[Tensor]) -> tuple:
        return self.head_module(feats)


class BackboneNeck(nn.Module):
    """Float ``images -> neck features``: the graph FX traces when the head layers stay float.

    Submodules are named as in the detector, so every layer has the same qualified name here, in
    the quantized graph and in the detector.

    Args:
        backbone: The detector's backbone.
        neck: The detector's neck.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, images: Tensor) -> tuple:
        """``(B, 3, H, W)`` -> the neck's feature tuple (finest first)."""
        return self.neck(self.backbone(images))


class BackboneNeckHead(BackboneNeck):
    """Float ``images -> (cls_scores, bbox_preds)``: backbone, neck and head layers as one graph.

    The head layers sit at ``bbox_head.head_module`` as in the detector.

    Args:
        backbone: The detector's backbone.
        neck: The detector's neck.
        head_module: The head's layer module (``YOLOv6HeadModule``).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head_module: nn.Module) -> None:
        super().__init__(backbone, neck)
        self.bbox_head = HeadLayers(head_module)

    def forward(self, images: Tensor) -> tuple:
        """``(B, 3, H, W)`` -> per level ``cls_scores`` ``(B, C, h, w)`` and ``bbox_preds``."""
        return self.bbox_head(super().forward(images))


class DecodingHeadModule(nn.Module):
    """Stand-in for ``YOLOv6HeadModule`` once its layers run in the tensor path.

    Keeps what ``YOLOv6Head`` post-processing reads from its head module: ``integral`` (DFL
    softmax-expectation or identity), ``num_classes``, ``reg_max``. Has no ``forward``.

    Args:
        head_module: The float ``YOLOv6HeadModule`` being replaced.
    """

    def __init__(self, head_module: nn.Module) -> None:
        super().__init__()
        self.num_classes = head_module.num_classes
        self.reg_max = head_module.reg_max
        self.integral = head_module.integral


def head_layers_quantizable(bbox_head: nn.Module) -> bool:
    """Whether a head's layers join the quantized graph: a ``YOLOv6Head`` (layers in ``head_module``)."""
    return isinstance(bbox_head, YOLOv6Head)


def postprocessing_head(bbox_head: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """A copy of ``bbox_head`` for post-processing and the float layers to run after the graph.

    Returns:
        ``(head, float_tail)``: for a ``YOLOv6Head`` the copy has a :class:`DecodingHeadModule`
        and ``float_tail`` is ``nn.Identity``; for any other head both are the same copy (its
        ``forward`` runs the float head layers, its ``predict_by_feat`` post-processes).
    """
    head = copy.deepcopy(bbox_head)
    if head_layers_quantizable(head):
        head.head_module = DecodingHeadModule(head.head_module)
        return head, nn.Identity()
    return head, head


class DeployedDetector(DeployedModel, BaseDetector):
    """A deployed tensor path in front of a float head's post-processing; inference only.

    Args:
        data_preprocessor: The float detector's data preprocessor.
        tensor_path: ``images -> head outputs``: a :class:`~..modules.TensorPath`, or its
            TorchScript when loaded from disk.
        bbox_head: The head used for ``predict_by_feat`` (see :func:`postprocessing_head`).
        backend: The quantized engine of an INT8 tensor path (set while it runs); ``None`` for
            fused FP32.
        info: JSON-able description, saved with the model.
    """

    task = 'detection'

    def __init__(self, data_preprocessor: nn.Module, tensor_path: nn.Module, bbox_head: nn.Module,
                 backend: Optional[str], info: dict) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.tensor_path = tensor_path
        self.bbox_head = bbox_head
        self.backend = backend
        self.info = info

    def _forward(self, batch_inputs: Tensor, batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Normalized ``(B, 3, H, W)`` images -> the head's raw outputs (``mode='tensor'``)."""
        return self.run_tensor_path(batch_inputs)

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


class DetectionAdapter(TaskAdapter):
    """Single-stage detectors with a neck; a ``YOLOv6Head``'s layers join the quantized graph."""

    task = 'detection'
    calibration_batch_size = 8

    def matches(self, model: nn.Module) -> bool:
        return isinstance(model, SingleStageDetector) and model.with_neck

    def split(self, model: nn.Module) -> Tuple[nn.Module, nn.Module]:
        if head_layers_quantizable(model.bbox_head):
            return BackboneNeckHead(model.backbone, model.neck, model.bbox_head.head_module), nn.Identity()
        return BackboneNeck(model.backbone, model.neck), model.bbox_head

    def float_layer_names(self, float_tail: nn.Module) -> List[str]:
        return [f'bbox_head.{n}' for n, m in float_tail.named_modules() if isinstance(m, FLOAT_LAYER_TYPES)]

    def graph_name(self, graph: nn.Module) -> str:
        return 'backbone+neck+head_layers' if isinstance(graph, BackboneNeckHead) else 'backbone+neck'

    def wrap(self, model: nn.Module, graph: nn.Module, backend: Optional[str], info: dict) -> DeployedDetector:
        head, float_tail = postprocessing_head(model.bbox_head)
        return DeployedDetector(copy.deepcopy(model.data_preprocessor), TensorPath(graph, float_tail), head, backend,
                                info).eval()

    def rebuild(self, tensor_path: nn.Module, model_cfg: dict, backend: Optional[str],
                info: dict) -> DeployedDetector:
        with DefaultScope.overwrite_default_scope('mmdet'):
            bbox_head = MODELS.build(dict(model_cfg['bbox_head'], train_cfg=None, test_cfg=model_cfg.get('test_cfg')))
            preprocessor = MODELS.build(model_cfg['data_preprocessor'])
        head, _ = postprocessing_head(bbox_head)
        return DeployedDetector(preprocessor, tensor_path, head, backend, info).eval()

    def num_classes(self, model: nn.Module) -> Optional[int]:
        return getattr(getattr(model, 'bbox_head', None), 'num_classes', None)
