"""Save a deployed detector (INT8 or fused FP32) as TorchScript, and load it back without the training code.

``model_int8.pt`` / ``model_fp32.pt`` is ``torch.jit.trace`` of the tensor path (quantized or
fused float graph, plus the float head layers when they are not in the graph; the float one also
``torch.jit.freeze``-d), with the model config and the deployment summary embedded as extra files;
``quant_params.json`` lists every scale and zero point of an INT8 model. Loading builds only the
data preprocessor and the head (for ``predict_by_feat``) from the embedded config: no backbone,
neck, loss or assigner is involved.

Provenance: TorchScript serialization of quantized models is the deployment path of PyTorch's
eager/FX quantization (``torch.jit.save`` keeps the packed INT8 weights).
"""
import contextlib
import copy
import json
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Union

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from torch import Tensor, nn

from ._backend import QUANTIZED_LAYER_TYPES, quantized_engine, quiet_deprecations
from .convert import DEPLOY_MEMORY_FORMAT, DeployedDetector, QuantizedDetector
from .modules import postprocessing_head

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


def quantization_params(detector: QuantizedDetector) -> dict:
    """Every quantization parameter of an (in-memory) quantized detector, JSON-able.

    Returns:
        ``format``, ``torch``, the summary (``detector.info``), ``layers`` (per quantized conv in
        execution order: type, output scale / zero point, weight dtype, qscheme, scales, zero points) and
        ``activations`` (scale / zero point of every quantize and quantized-op node, by the
        name of the graph attribute holding it, e.g. ``backbone_stem_reparam_conv_input_scale_0``).
    """
    graph = detector.tensor_path.graph
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
    return dict(format=FORMAT, torch=torch.__version__, **detector.info, layers=layers, activations=activations)


def save_deployed(detector: DeployedDetector, out_dir: Union[str, Path], model_cfg: dict,
                  example_inputs: Tensor) -> Path:
    """Write ``model_int8.pt`` (a :class:`QuantizedDetector`) or ``model_fp32.pt`` (fused FP32).

    Args:
        detector: From :func:`~.convert.convert_detector` or :func:`~.convert.deploy_fused`.
        out_dir: Directory (created if missing).
        model_cfg: The detector's model config (``cfg.model``), used by the loader to rebuild the
            data preprocessor and the head's post-processing.
        example_inputs: Normalized images ``(B, 3, H, W)`` to trace with; other batch sizes and
            (stride-compatible) resolutions run as well.

    Returns:
        The path of the TorchScript file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = getattr(detector, 'backend', None)
    meta = dict(format=FORMAT, backend=backend, info=detector.info,
                model_cfg=Config(dict(model=copy.deepcopy(model_cfg))).pretty_text)
    path = out_dir / (MODEL_FILE if backend else FP32_MODEL_FILE)
    images = example_inputs.contiguous(memory_format=DEPLOY_MEMORY_FORMAT)
    engine = quantized_engine(backend) if backend else contextlib.nullcontext()
    with torch.no_grad(), quiet_deprecations(), engine, warnings.catch_warnings():
        # quantized ops read their scales as Python floats: constants, as they should be
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        traced = torch.jit.trace(detector.tensor_path, images, strict=False, check_trace=False)
        if not backend:  # weights become constants: oneDNN convs get them pre-packed
            traced = torch.jit.freeze(traced.eval())
        torch.jit.save(traced, str(path), _extra_files={_META: json.dumps(meta)})
    return path


def save_quantized(detector: QuantizedDetector, out_dir: Union[str, Path], model_cfg: dict,
                   example_inputs: Tensor) -> Dict[str, Path]:
    """Write ``model_int8.pt`` (:func:`save_deployed`) and ``quant_params.json``.

    Returns:
        ``dict(model=path, params=path)``.
    """
    paths = dict(model=save_deployed(detector, out_dir, model_cfg, example_inputs),
                 params=Path(out_dir) / PARAMS_FILE)
    paths['params'].write_text(json.dumps(quantization_params(detector), indent=1))
    return paths


def load_deployed(path: Union[str, Path]) -> DeployedDetector:
    """Rebuild a runnable detector from a ``model_int8.pt`` or ``model_fp32.pt``.

    Args:
        path: A file written by :func:`save_deployed` (a directory: its ``model_int8.pt``).

    Returns:
        A :class:`QuantizedDetector` (INT8) or :class:`DeployedDetector` (fused FP32), eval mode:
        the TorchScript tensor path and, built from the embedded config, the data preprocessor
        and the head's float post-processing.
    """
    path = Path(path)
    path = path / MODEL_FILE if path.is_dir() else path
    with zipfile.ZipFile(path) as archive:  # a TorchScript file is a zip; extra files sit in <root>/extra/
        names = [n for n in archive.namelist() if n.endswith(f'/extra/{_META}')]
        if not names:
            raise ValueError(f'{path} is not a {FORMAT} file (no {_META} inside)')
        meta = json.loads(archive.read(names[0]))
    backend = meta['backend']
    with quiet_deprecations(), quantized_engine(backend) if backend else contextlib.nullcontext():
        tensor_path = torch.jit.load(str(path), map_location='cpu')  # INT8: packed weights unpacked for backend
    cfg = Config.fromstring(meta['model_cfg'], '.py').model
    bbox_head = MODELS.build(dict(cfg.bbox_head, train_cfg=None, test_cfg=cfg.get('test_cfg')))
    head, _ = postprocessing_head(bbox_head)
    preprocessor = MODELS.build(cfg.data_preprocessor)
    if backend:
        detector = QuantizedDetector(preprocessor, tensor_path, head, backend, meta['info'])
    else:
        detector = DeployedDetector(preprocessor, tensor_path, head, meta['info'])
    return detector.eval()
