"""Save a quantized detector as TorchScript + JSON, and load it back without the training code.

``model_int8.pt`` is ``torch.jit.trace`` of the tensor path (quantized graph, plus the float head
layers when they are not in the graph), with the model config and the quantization summary
embedded as extra files; ``quant_params.json`` lists every scale and zero point. Loading builds
only the data preprocessor and the head (for ``predict_by_feat``) from the embedded config: no
backbone, neck, loss or assigner is involved.

Provenance: TorchScript serialization of quantized models is the deployment path of PyTorch's
eager/FX quantization (``torch.jit.save`` keeps the packed INT8 weights).
"""
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
from .convert import QuantizedDetector
from .modules import postprocessing_head

MODEL_FILE = 'model_int8.pt'
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


def save_quantized(detector: QuantizedDetector, out_dir: Union[str, Path], model_cfg: dict,
                   example_inputs: Tensor) -> Dict[str, Path]:
    """Write ``model_int8.pt`` (TorchScript + embedded config) and ``quant_params.json``.

    Args:
        detector: From :func:`~.convert.convert_detector`.
        out_dir: Directory (created if missing).
        model_cfg: The detector's model config (``cfg.model``), used by the loader to rebuild the
            data preprocessor and the head's post-processing.
        example_inputs: Normalized images ``(B, 3, H, W)`` to trace with; other batch sizes and
            (stride-compatible) resolutions run as well.

    Returns:
        ``dict(model=path, params=path)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = quantization_params(detector)
    meta = dict(format=FORMAT, backend=detector.backend, info=detector.info,
                model_cfg=Config(dict(model=copy.deepcopy(model_cfg))).pretty_text)
    paths = dict(model=out_dir / MODEL_FILE, params=out_dir / PARAMS_FILE)
    with torch.no_grad(), quiet_deprecations(), quantized_engine(detector.backend), warnings.catch_warnings():
        # quantized ops read their scales as Python floats: constants, as they should be
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        traced = torch.jit.trace(detector.tensor_path, example_inputs, strict=False, check_trace=False)
        torch.jit.save(traced, str(paths['model']), _extra_files={_META: json.dumps(meta)})
    paths['params'].write_text(json.dumps(params, indent=1))
    return paths


def load_quantized(path: Union[str, Path]) -> QuantizedDetector:
    """Rebuild a runnable :class:`~.convert.QuantizedDetector` from a ``model_int8.pt``.

    Args:
        path: The file written by :func:`save_quantized` (or its directory).

    Returns:
        The detector (eval mode): the TorchScript tensor path and, built from the embedded
        config, the data preprocessor and the head's float post-processing.
    """
    path = Path(path)
    path = path / MODEL_FILE if path.is_dir() else path
    with zipfile.ZipFile(path) as archive:  # a TorchScript file is a zip; extra files sit in <root>/extra/
        names = [n for n in archive.namelist() if n.endswith(f'/extra/{_META}')]
        if not names:
            raise ValueError(f'{path} is not a {FORMAT} file (no {_META} inside)')
        meta = json.loads(archive.read(names[0]))
    with quiet_deprecations(), quantized_engine(meta['backend']):  # packed weights are unpacked for it
        tensor_path = torch.jit.load(str(path), map_location='cpu')
    cfg = Config.fromstring(meta['model_cfg'], '.py').model
    bbox_head = MODELS.build(dict(cfg.bbox_head, train_cfg=None, test_cfg=cfg.get('test_cfg')))
    head, _ = postprocessing_head(bbox_head)
    detector = QuantizedDetector(MODELS.build(cfg.data_preprocessor), tensor_path, head, meta['backend'],
                                 meta['info'])
    return detector.eval()
