"""Segmentation adapter: mmseg ``EncoderDecoder`` segmentors (one decode head).

The tensor path of a segmentor is backbone (-> neck) -> decode head layers, ending at the
logits at the head's output stride; it is traced and quantized as one graph. What stays float
is mmseg's: the bilinear resize of the logits to the input (``BaseDecodeHead.predict_by_feat``),
sliding-window stitching when ``test_cfg.mode='slide'``, the removal of padding, the resize to the
original image and the argmax (``BaseSegmentor.postprocess_result``). The auxiliary head only
trains and is not deployed.

Provenance: the predict path is mmseg 1.x ``EncoderDecoder.predict`` / ``inference`` /
``slide_inference`` / ``whole_inference`` (reused here as they are) and
``BaseDecodeHead.predict_by_feat``.
"""
import copy
from typing import List, Optional, Tuple

from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.models.utils import Upsample
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor, nn

from ..modules import DeployedModel, TensorPath
from .base import TaskAdapter


class BackboneNeckDecode(nn.Module):
    """Float ``images -> logits``: backbone, neck (if any) and decode head layers as one graph.

    Submodules are named as in the segmentor (``backbone``, ``neck``, ``decode_head``).

    Args:
        backbone: The segmentor's backbone.
        neck: Its neck, or ``None``.
        decode_head: Its decode head (its ``forward``: features -> logits).
    """

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module], decode_head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.decode_head = decode_head

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> logits ``(B, C, h, w)`` at the head's output stride."""
        feats = self.backbone(images)
        if self.neck is not None:
            feats = self.neck(feats)
        return self.decode_head(feats)


def traceable_upsample(layer: Upsample) -> nn.Upsample:
    """``nn.Upsample`` computing what an mmseg ``Upsample`` (``scale_factor``, no ``size``) computes.

    mmseg's ``Upsample`` derives the output size with Python ints from the input's shape, which FX
    cannot trace; ``recompute_scale_factor=True`` makes ``nn.Upsample`` interpolate to the same
    ``floor(size * scale)`` with the scale recomputed from the sizes, as ``F.interpolate(size=...)`` does.
    """
    return nn.Upsample(scale_factor=layer.scale_factor, mode=layer.mode, align_corners=layer.align_corners,
                       recompute_scale_factor=True)


class LogitsResize(nn.Module):
    """Stand-in for the decode head once its layers run in the tensor path.

    Keeps what mmseg's post-processing reads from ``decode_head``: ``align_corners``,
    ``num_classes``, ``out_channels``, ``threshold``, and ``predict_by_feat`` (the resize of the
    logits to the input size). Has no ``forward``.
    """

    predict_by_feat = BaseDecodeHead.predict_by_feat

    def __init__(self, num_classes: int, out_channels: int, align_corners: bool, threshold: Optional[float]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.out_channels = out_channels
        self.align_corners = align_corners
        self.threshold = threshold

    @classmethod
    def of(cls, decode_head: nn.Module) -> 'LogitsResize':
        return cls(decode_head.num_classes, decode_head.out_channels, decode_head.align_corners,
                   getattr(decode_head, 'threshold', None))


class DeployedSegmentor(DeployedModel, BaseSegmentor):
    """A deployed tensor path in front of mmseg's float post-processing; inference only.

    ``predict`` is ``EncoderDecoder.predict`` (whole or sliding-window inference per
    ``test_cfg.mode``, then ``postprocess_result``), with the tensor path in place of
    backbone, neck and decode head layers.

    Args:
        data_preprocessor: The float segmentor's data preprocessor.
        tensor_path: ``images -> logits``: a :class:`~..modules.TensorPath`, or its TorchScript.
        decode_head: A :class:`LogitsResize`.
        test_cfg: The segmentor's ``test_cfg`` (``mode``, and ``crop_size`` / ``stride`` for slide).
        backend: The quantized engine of an INT8 tensor path; ``None`` for fused FP32.
        info: JSON-able description, saved with the model.
    """

    task = 'segmentation'
    predict = EncoderDecoder.predict
    inference = EncoderDecoder.inference
    whole_inference = EncoderDecoder.whole_inference
    slide_inference = EncoderDecoder.slide_inference

    def __init__(self, data_preprocessor: nn.Module, tensor_path: nn.Module, decode_head: LogitsResize,
                 test_cfg: Optional[dict], backend: Optional[str], info: dict) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.tensor_path = tensor_path
        self.decode_head = decode_head
        self.align_corners = decode_head.align_corners
        self.num_classes = decode_head.num_classes
        self.out_channels = decode_head.out_channels
        self.test_cfg = ConfigDict(test_cfg if test_cfg is not None else dict(mode='whole'))
        self.backend = backend
        self.info = info

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        """Normalized ``(B, 3, H, W)`` images -> logits at the head's output stride (``mode='tensor'``)."""
        return self.run_tensor_path(inputs)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Logits resized to the input (``EncoderDecoder.encode_decode``)."""
        return self.decode_head.predict_by_feat(self._forward(inputs), batch_img_metas)

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        raise NotImplementedError(f'a {type(self).__name__} does not expose features: its graph ends at the logits')

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        raise NotImplementedError(f'a {type(self).__name__} is for inference only')


class SegmentationAdapter(TaskAdapter):
    """mmseg ``EncoderDecoder`` with one decode head (FCN, FPN, ...); the head layers join the graph."""

    task = 'segmentation'
    calibration_batch_size = 1  # test pipelines may keep each image's own size; the preprocessor stacks as is

    def matches(self, model: nn.Module) -> bool:
        return isinstance(model, EncoderDecoder) and isinstance(model.decode_head, BaseDecodeHead)

    def split(self, model: nn.Module) -> Tuple[nn.Module, nn.Module]:
        """As :meth:`TaskAdapter.split`; a decode head with mmseg ``Upsample`` layers (``FPNHead``)
        is a copy whose ``Upsample`` are :func:`traceable_upsample` (FX cannot trace their sizes)."""
        head = model.decode_head
        if any(isinstance(m, Upsample) and not m.size for m in head.modules()):
            head = copy.deepcopy(head)
            for parent in list(head.modules()):
                for name, child in list(parent.named_children()):
                    if isinstance(child, Upsample) and not child.size:
                        setattr(parent, name, traceable_upsample(child))
        return BackboneNeckDecode(model.backbone, model.neck if model.with_neck else None, head), nn.Identity()

    def graph_name(self, graph: nn.Module) -> str:
        return 'backbone+neck+decode_head' if graph.neck is not None else 'backbone+decode_head'

    def wrap(self, model: nn.Module, graph: nn.Module, backend: Optional[str], info: dict) -> DeployedSegmentor:
        return DeployedSegmentor(copy.deepcopy(model.data_preprocessor), TensorPath(graph, nn.Identity()),
                                 LogitsResize.of(model.decode_head), copy.deepcopy(model.test_cfg), backend,
                                 info).eval()

    def rebuild(self, tensor_path: nn.Module, model_cfg: dict, backend: Optional[str],
                info: dict) -> DeployedSegmentor:
        head = model_cfg['decode_head']
        head = head[-1] if isinstance(head, (list, tuple)) else head
        num_classes = head['num_classes']
        out_channels = head.get('out_channels') or num_classes
        threshold = head.get('threshold', 0.3 if out_channels == 1 else None)
        resize = LogitsResize(num_classes, out_channels, bool(head.get('align_corners', False)), threshold)
        with DefaultScope.overwrite_default_scope('mmseg'):
            preprocessor = MODELS.build(model_cfg['data_preprocessor'])
        return DeployedSegmentor(preprocessor, tensor_path, resize,
                                 copy.deepcopy(model_cfg.get('test_cfg')), backend, info).eval()

    def num_classes(self, model: nn.Module) -> Optional[int]:
        return getattr(getattr(model, 'decode_head', None), 'num_classes', None)
