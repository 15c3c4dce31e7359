"""The adapter interface and the lookup of the adapter for a model.

Provenance: the split of a model into a quantized tensor path and float post-processing follows
torchvision's ``models/quantization`` (quantize only the tensor path; decode and NMS in float).
"""
import importlib
from typing import Dict, List, Optional, Tuple

from torch import nn

from ..modules import DeployedModel

_ADAPTERS = dict(detection='qarep_det.quantization.tasks.detection:DetectionAdapter',
                 segmentation='qarep_det.quantization.tasks.segmentation:SegmentationAdapter')
"""Task name -> ``module:class`` of its adapter, tried in this order by :func:`adapter_for`."""
_LOADED: Dict[str, 'TaskAdapter'] = {}


class TaskAdapter:
    """What the task-free core needs to know about one task's models.

    Attributes:
        task: The task's name (stored in deployed files).
        calibration_batch_size: Images per calibration batch (1 where images may differ in size
            and the task's preprocessor does not pad them to one size).
    """

    task: str = ''
    calibration_batch_size: int = 8

    def matches(self, model: nn.Module) -> bool:
        """Whether ``model`` (a float training model) has the structure this adapter deploys."""
        raise NotImplementedError

    def split(self, model: nn.Module) -> Tuple[nn.Module, nn.Module]:
        """``(graph, float_tail)`` of ``model``, sharing its modules, named as in the model.

        ``graph`` maps normalized images to what ``float_tail`` takes (it is traced and
        quantized); ``float_tail`` maps that to the raw outputs (``mode='tensor'``).
        """
        raise NotImplementedError

    def float_layer_names(self, float_tail: nn.Module) -> List[str]:
        """Qualified names (as in the model) of the conv layers ``float_tail`` runs in float."""
        return []

    def graph_name(self, graph: nn.Module) -> str:
        """What the graph holds, e.g. ``'backbone+neck+head_layers'`` (for reports)."""
        raise NotImplementedError

    def wrap(self, model: nn.Module, graph: nn.Module, backend: Optional[str], info: dict) -> DeployedModel:
        """The deployed model: ``graph`` (fused float or converted INT8) in front of copies of
        ``model``'s preprocessor and float post-processing. ``model`` is left unchanged."""
        raise NotImplementedError

    def rebuild(self, tensor_path: nn.Module, model_cfg: dict, backend: Optional[str], info: dict) -> DeployedModel:
        """The deployed model from a loaded tensor path and the model config (preprocessor and
        post-processing are built from the config; no backbone, neck or loss)."""
        raise NotImplementedError

    def num_classes(self, model: nn.Module) -> Optional[int]:
        """The number of classes ``model`` (float or deployed) predicts, if it says."""
        return None


def adapter_named(task: str) -> TaskAdapter:
    """The adapter of ``task`` (``'detection'`` or ``'segmentation'``).

    Raises:
        KeyError: No adapter has that name.
    """
    if task not in _ADAPTERS:
        raise KeyError(f'no quantization adapter for task {task!r} (known: {", ".join(_ADAPTERS)})')
    if task not in _LOADED:
        module, name = _ADAPTERS[task].split(':')
        _LOADED[task] = getattr(importlib.import_module(module), name)()
    return _LOADED[task]


def adapter_for(model: nn.Module) -> TaskAdapter:
    """The adapter of a float model or of a deployed one.

    Raises:
        TypeError: No adapter deploys ``model`` (the message lists what is supported).
    """
    if isinstance(model, DeployedModel):
        return adapter_named(model.task)
    for task in _ADAPTERS:
        adapter = adapter_named(task)
        if adapter.matches(model):
            return adapter
    raise TypeError(f'{type(model).__name__} has no quantization adapter: supported are mmdet single-stage '
                    'detectors with a neck and mmseg EncoderDecoder segmentors')


def deployable(model: nn.Module) -> bool:
    """Whether an adapter deploys (and quantizes) ``model``."""
    try:
        adapter_for(model)
    except TypeError:
        return False
    return True
