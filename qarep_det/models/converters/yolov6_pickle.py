"""Read an official YOLOv6 checkpoint without the ``yolov6`` package and without running it.

Official checkpoints pickle whole modules (``torch.save({'model': model.half(), 'ema': ...})``).
A normal ``torch.load`` imports ``yolov6`` and rebuilds those modules, which runs whatever
the pickle names. Here a restricted unpickler (``pickle.Unpickler.find_class``) resolves only

- the YOLOv6 and ``torch.nn`` module classes such a checkpoint holds, each to an *inert stand-in*
  (:class:`StandIn`: a plain object that keeps the pickled ``__dict__``, i.e. ``_modules``,
  ``_parameters``, ``_buffers`` and plain attributes, and has no other behaviour);
- torch's tensor rebuilders, ``OrderedDict``, ``set``, torch dtypes and ``torch.Size``;
- a few values the training loop adds (numpy scalars as inert stand-ins, ``bytes`` through a
  ``latin1``-only ``_codecs.encode``, bound methods ``m.forward = m.forward_fuse`` left by
  ``fuse_model`` as inert stand-ins);

and refuses every other global, so nothing in the file runs.

Provenance: meituan/YOLOv6 (e86a483) ``yolov6/core/engine.py`` (what a checkpoint holds),
``yolov6/utils/torch_utils.py`` (``fuse_model``), ``yolov6/layers/common.py``,
``yolov6/models/*.py`` (the class names); the ``find_class`` idiom of the Python ``pickle`` docs
("Restricting Globals"); torch's own ``weights_only`` unpickler for the tensor rebuilders.
"""
import _codecs
import _compat_pickle
import pickle
import types
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch

YOLOV6_CLASSES: Dict[str, Tuple[str, ...]] = {
    'yolov6.models.yolo': ('Model',),
    'yolov6.models.efficientrep': ('EfficientRep', 'CSPBepBackbone'),
    'yolov6.models.reppan': ('RepBiFPANNeck', 'CSPRepBiFPANNeck'),
    'yolov6.models.effidehead': ('Detect',),
    'yolov6.models.heads.effidehead_fuseab': ('Detect',),
    'yolov6.models.heads.effidehead_distill_ns': ('Detect',),
    'yolov6.layers.common': ('ConvModule', 'ConvBNReLU', 'ConvBNSiLU', 'ConvBN', 'SimSPPF', 'SPPF', 'SPPFModule',
                             'SimCSPSPPF', 'CSPSPPF', 'CSPSPPFModule', 'Transpose', 'RepVGGBlock', 'QARepVGGBlock',
                             'QARepVGGBlockV2', 'RepBlock', 'BottleRep', 'BepC3', 'BiFusion'),
}
"""The classes of the v3.0 N/S/M/L networks (``Model`` built with the default ``Detect`` head, in
anchor-aided training, ``--fuse_ab``, with ``yolov6/models/heads/effidehead_fuseab.py``'s, and N/S
trained with self-distillation, as published, with ``yolov6/models/heads/effidehead_distill_ns.py``'s)."""

TORCH_MODULE_CLASSES: Dict[str, Tuple[str, ...]] = {
    'torch.nn.modules.conv': ('Conv2d', 'ConvTranspose2d'),
    'torch.nn.modules.batchnorm': ('BatchNorm2d', 'SyncBatchNorm'),
    'torch.nn.modules.activation': ('ReLU', 'SiLU', 'Hardswish', 'Sigmoid'),
    'torch.nn.modules.linear': ('Identity',),
    'torch.nn.modules.container': ('ModuleList', 'Sequential'),
    'torch.nn.modules.pooling': ('AvgPool2d', 'MaxPool2d'),
    'torch.nn.modules.upsampling': ('Upsample',),
}
"""The ``torch.nn`` classes pickled inside those networks, also read as stand-ins."""


class StandIn:
    """An inert object standing for a pickled class: it keeps the pickled state and does nothing else.

    Attributes:
        qualname: ``module.Class`` as the pickle names it (class attribute of each stand-in type).
        state: The pickled ``__dict__`` (empty if the pickle gave something else).
    """

    qualname = ''

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = state[0]
        self.state = dict(state) if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f'<stand-in for {self.qualname}>'


_STAND_INS: Dict[str, type] = {}


def stand_in(module: str, name: str) -> type:
    """The (cached) stand-in type for ``module.name``."""
    qualname = f'{module}.{name}'
    if qualname not in _STAND_INS:
        _STAND_INS[qualname] = type(name, (StandIn,), {'qualname': qualname, '__module__': __name__})
    return _STAND_INS[qualname]


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None,
                       state: Any = None) -> torch.Tensor:
    """``torch._utils._rebuild_parameter[_with_state]``: keep the tensor, drop the rest (no hooks, no state)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError('a parameter that is not a tensor')
    return data


def _latin1_encode(text: Any, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``: ``str`` in latin1 only."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError('refused _codecs.encode with other arguments than (str, "latin1")')
    return _codecs.encode(text, 'latin1')


class BoundMethod(StandIn):
    """A pickled bound method (``getattr(module, 'forward_fuse')``), kept as its name only."""

    qualname = 'builtins.getattr'

    def __init__(self, owner: Any = None, name: Any = None) -> None:
        super().__init__()
        self.state = {'name': name if isinstance(name, str) else None}


class NumpyValue(StandIn):
    """A numpy scalar or dtype (e.g. a metric the trainer stored); its value is not needed."""

    qualname = 'numpy value'


def _functions() -> Dict[Tuple[str, str], Any]:
    allowed: Dict[Tuple[str, str], Any] = {
        ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
        ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
        ('collections', 'OrderedDict'): OrderedDict,
        ('builtins', 'set'): set,
        ('builtins', 'frozenset'): frozenset,
        ('builtins', 'getattr'): BoundMethod,
        ('_codecs', 'encode'): _latin1_encode,
        ('torch', 'Size'): torch.Size,
    }
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[(module, 'scalar')] = NumpyValue
    allowed[('numpy', 'dtype')] = NumpyValue
    return allowed


_FUNCTIONS = _functions()


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list (nothing was resolved or run)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of an official YOLOv6 checkpoint (see the module doc)."""

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (``__builtin__.set``), as pickle's own find_class maps them (torch.save: protocol 2)
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if name in YOLOV6_CLASSES.get(module, ()) or name in TORCH_MODULE_CLASSES.get(module, ()):
            return stand_in(module, name)
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module == 'torch' and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise RefusedGlobal(f'refused {module}.{name}')


def _load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


PICKLE_MODULE = types.SimpleNamespace(__name__=__name__, Unpickler=RestrictedUnpickler, load=_load,
                                      UnpicklingError=pickle.UnpicklingError)
"""What :func:`load_yolov6_pickle` hands to ``torch.load`` as ``pickle_module``."""


def load_yolov6_pickle(path: str) -> Any:
    """Unpickle the checkpoint at ``path`` with :class:`RestrictedUnpickler` (tensors on the CPU).

    Raises:
        RefusedGlobal: The pickle references a global outside the allow-list (its name is in the
            message); nothing was run.
        Exception: Whatever ``torch.load`` raises on a file that is not a checkpoint.
    """
    return torch.load(path, map_location='cpu', pickle_module=PICKLE_MODULE, weights_only=False)


def children(obj: Any) -> 'OrderedDict[str, StandIn]':
    """The submodules of a stand-in (``_modules``), ``None`` entries left out."""
    modules = obj.state.get('_modules') if isinstance(obj, StandIn) else None
    if not isinstance(modules, dict):
        return OrderedDict()
    return OrderedDict((k, v) for k, v in modules.items() if isinstance(k, str) and isinstance(v, StandIn))


def tensors(obj: Any) -> 'OrderedDict[str, torch.Tensor]':
    """The parameters and persistent buffers of a stand-in (its own, not its submodules')."""
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    if not isinstance(obj, StandIn):
        return out
    skip = obj.state.get('_non_persistent_buffers_set') or set()
    for key in ('_parameters', '_buffers'):
        table = obj.state.get(key)
        for name, value in (table.items() if isinstance(table, dict) else ()):
            if isinstance(value, torch.Tensor) and isinstance(name, str) and name not in skip:
                out[name] = value
    return out


def attribute(obj: Any, name: str, default: Optional[Any] = None) -> Any:
    """A plain attribute of a stand-in (e.g. a BN's ``eps``), ``default`` if absent."""
    return obj.state.get(name, default) if isinstance(obj, StandIn) else default
