"""Save a deployed model (INT8 or fused FP32) as TorchScript, and load it back without the training code.

``model_int8.pt`` / ``model_fp32.pt`` is ``torch.jit.trace`` of the tensor path (quantized or
fused float graph, plus the float layers after it, if any; the float one also
``torch.jit.freeze``-d), with the task, the config (the whole training config when given, else
the model's) and the deployment summary embedded as an extra JSON file; ``quant_params.json``
lists every scale and zero point of an INT8 model. Loading builds only what the task's adapter
needs around the tensor path from the embedded config (the data preprocessor and the float
post-processing): no backbone, neck, loss or assigner is involved.
The embedded config is read as data (``qarep_det.utils.config_from_text``), never run; the
TorchScript graph itself runs only torch operators, so load model files from sources you trust as
you would any TorchScript model.

Provenance: TorchScript serialization of quantized models is the deployment path of PyTorch's
eager/FX quantization (``torch.jit.save`` keeps the packed INT8 weights).
"""
import contextlib
import copy
import json
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config
from torch import Tensor, nn

from ..utils import BadInput, atomic_output, config_from_text, write_json_atomic

from ._backend import QUANTIZED_LAYER_TYPES, quantized_engine, quiet_deprecations, supported_backends
from .tasks import adapter_named
from .modules import DEPLOY_MEMORY_FORMAT, DeployedModel

MODEL_FILE = 'model_int8.pt'
FP32_MODEL_FILE = 'model_fp32.pt'
PARAMS_FILE = 'quant_params.json'
_META = 'qarep_det_quantization.json'
FORMAT = 'qarep_det.quantization/1'


def _weight_params(layer: nn.Module) -> dict:
    weight = layer.weight()
    if weight.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
        scale, zero_point = weight.q_per_channel_scales().tolist(), weight.q_per_channel_zero_points().tolist()
    else:
        scale, zero_point = weight.q_scale(), weight.q_zero_point()
    return dict(weight_dtype=str(weight.dtype).replace('torch.', ''),
                weight_qscheme=str(weight.qscheme()).replace('torch.', ''),
                weight_scale=scale, weight_zero_point=zero_point)


def quantization_params(model: DeployedModel) -> dict:
    """Every quantization parameter of an (in-memory) INT8 deployed model, JSON-able.

    Returns:
        ``format``, ``torch``, the summary (``model.info``), ``layers`` (per quantized conv in
        execution order: type, output scale / zero point, weight dtype, qscheme, scales, zero points) and
        ``activations`` (scale / zero point of every quantize and quantized-op node, by the
        name of the graph attribute holding it, e.g. ``backbone_stem_reparam_conv_input_scale_0``).
    """
    graph = model.tensor_path.graph
    layers, activations = {}, {}
    for node in graph.graph.nodes:  # execution order
        if node.op == 'call_module' and isinstance(graph.get_submodule(node.target), QUANTIZED_LAYER_TYPES):
            layer = graph.get_submodule(node.target)
            layers[node.target] = dict(type=type(layer).__name__, output_scale=float(layer.scale),
                                       output_zero_point=int(layer.zero_point), **_weight_params(layer))
        elif node.op == 'get_attr':  # scale / zero point constants of quantize and quantized-op nodes
            value = getattr(graph, node.target)
            if isinstance(value, Tensor) and value.numel() == 1:
                activations[node.target] = value.item()
    return dict(format=FORMAT, torch=torch.__version__, **model.info, layers=layers, activations=activations)


def save_deployed(model: DeployedModel, out_dir: Union[str, Path], model_cfg: dict,
                  example_inputs: Tensor, config: Optional[Config] = None) -> Path:
    """Write ``model_int8.pt`` (an INT8 deployed model) or ``model_fp32.pt`` (fused FP32).

    Args:
        model: From :func:`~.convert.convert_model` or :func:`~.convert.deploy_fused`.
        out_dir: Directory (created if missing).
        model_cfg: The model config (``cfg.model``), used by the loader to rebuild the data
            preprocessor and the float post-processing.
        example_inputs: Normalized images ``(B, 3, H, W)`` to trace with; other batch sizes and
            (stride-compatible) resolutions run as well.
        config: The whole config (its ``model`` is ``model_cfg``), embedded so that the file can be
            evaluated on the config's validation set without anything else.

    Returns:
        The path of the TorchScript file (written atomically).
    """
    out_dir = Path(out_dir)
    backend = model.backend
    config = config if config is not None else Config(dict(model=copy.deepcopy(model_cfg)))
    meta = dict(format=FORMAT, task=model.task, backend=backend, info=model.info, config=config.pretty_text)
    path = out_dir / (MODEL_FILE if backend else FP32_MODEL_FILE)
    images = example_inputs.contiguous(memory_format=DEPLOY_MEMORY_FORMAT)
    engine = quantized_engine(backend) if backend else contextlib.nullcontext()
    with torch.no_grad(), quiet_deprecations(), engine, warnings.catch_warnings():
        # quantized ops read their scales as Python floats: constants, as they should be
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        traced = torch.jit.trace(model.tensor_path, images, strict=False, check_trace=False)
        if not backend:  # weights become constants: oneDNN convs get them pre-packed
            traced = torch.jit.freeze(traced.eval())
        with atomic_output(path) as tmp:
            torch.jit.save(traced, str(tmp), _extra_files={_META: json.dumps(meta)})
    return path


def save_quantized(model: DeployedModel, out_dir: Union[str, Path], model_cfg: dict,
                   example_inputs: Tensor, config: Optional[Config] = None) -> Dict[str, Path]:
    """Write ``model_int8.pt`` (:func:`save_deployed`) and ``quant_params.json``.

    Returns:
        ``dict(model=path, params=path)``.
    """
    paths = dict(model=save_deployed(model, out_dir, model_cfg, example_inputs, config),
                 params=Path(out_dir) / PARAMS_FILE)
    write_json_atomic(paths['params'], quantization_params(model), indent=1)
    return paths


def _model_file(path: Union[str, Path]) -> Path:
    """``path``, or the ``model_int8.pt`` in it when it is a folder; :class:`BadInput` if there is none."""
    path = Path(path)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise BadInput(f'model not found: {path}')
    return path


def _read_meta(path: Path) -> dict:
    """The embedded metadata of a deployed file, checked; :class:`BadInput` for anything else."""
    not_ours = f'{path} is not a model_int8.pt / model_fp32.pt written by tools/ptq.py'
    try:
        with zipfile.ZipFile(path) as archive:  # a TorchScript file is a zip; extra files sit in <root>/extra/
            names = [n for n in archive.namelist() if n.endswith(f'/extra/{_META}')]
            if not names:
                raise BadInput(f'{not_ours} (no {_META} inside)')
            meta = json.loads(archive.read(names[0]))
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001  (not a zip, a truncated one, bad JSON: not our file)
        raise BadInput(f'{not_ours} ({type(exc).__name__}: {exc})') from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        raise BadInput(f'{not_ours} (its metadata is not {FORMAT})')
    if 'backend' not in meta or not isinstance(meta.get('info'), dict) or not isinstance(meta.get('config'), str):
        raise BadInput(f'{not_ours} (its metadata lacks the backend, the summary or the config)')
    if meta.get('task', 'detection') not in ('detection', 'segmentation'):  # files before the task key: detection
        raise BadInput(f'{not_ours} (task {str(meta.get("task"))[:40]!r} in its metadata)')
    backend = meta['backend']
    if backend is not None and backend not in supported_backends():
        raise BadInput(f'{not_ours} (backend {str(backend)[:40]!r} in its metadata: this torch supports '
                       f'{", ".join(supported_backends())})')
    return meta


def deployed_config(path: Union[str, Path]) -> Config:
    """The config embedded in a deployed file (a folder: its ``model_int8.pt``), read as data (nothing in it runs).

    Raises:
        BadInput: Not a file written by :func:`save_deployed`, or its config is not plain data.
    """
    path = _model_file(path)
    return config_from_text(_read_meta(path)['config'], f'config embedded in {path}')


def load_deployed(path: Union[str, Path]) -> DeployedModel:
    """Rebuild a runnable model from a ``model_int8.pt`` or ``model_fp32.pt``.

    Args:
        path: A file written by :func:`save_deployed` (a directory: its ``model_int8.pt``).

    Returns:
        The task's deployed model (e.g. a ``DeployedDetector``; ``quantized`` tells INT8 from
        fused FP32), eval mode: the TorchScript tensor path and, built from the embedded config,
        the data preprocessor and the float post-processing.

    Raises:
        BadInput: The file is missing or is not a deployed model this package wrote.
    """
    path = _model_file(path)
    meta = _read_meta(path)
    backend = meta['backend']
    cfg = config_from_text(meta['config'], f'config embedded in {path}').get('model')
    try:
        with quiet_deprecations(), quantized_engine(backend) if backend else contextlib.nullcontext():
            tensor_path = torch.jit.load(str(path), map_location='cpu')  # INT8: packed weights unpacked for backend
        return adapter_named(meta.get('task', 'detection')).rebuild(tensor_path, cfg, backend, meta['info'])
    except Exception as exc:  # noqa: BLE001  (a damaged archive, a config without a head: not our file)
        raise BadInput(f'{path} cannot be loaded as a deployed model ({type(exc).__name__}: '
                       f'{" ".join(str(exc).split())[:200]})') from None
