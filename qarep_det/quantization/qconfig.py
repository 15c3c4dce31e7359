"""What is quantized how: ``QuantConfig`` and the torch.ao ``QConfigMapping`` it stands for.

Weights: int8, symmetric, one scale per output channel (range [-127, 127]). Transposed convs take
one scale per tensor: torch.ao's x86/fbgemm kernels have no per-channel transposed conv (pytorch
issue 47535), and the same holds here for every backend so results do not depend on it.
Activations: uint8, affine, one scale per tensor, range chosen by the observer. Sigmoid outputs
use the fixed range [0, 1] (scale 1/256), as torch.ao's quantized sigmoid requires.

Provenance: Krishnamoorthi, "Quantizing deep convolutional networks for efficient inference: A
whitepaper", 2018, Sec. 3.1 (post-training quantization: per-channel weights, per-tensor activations).
"""
from dataclasses import dataclass, field
from typing import Sequence, Tuple

import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping
from torch.ao.quantization.observer import (MinMaxObserver, PerChannelMinMaxObserver,
                                            default_fixed_qparams_range_0to1_observer)

from ._backend import check_backend
from .observers import OBSERVERS, activation_observer

PER_TENSOR_WEIGHT_TYPES = (nn.ConvTranspose2d,)
"""Layer types whose weights get one scale per tensor (listed by ``PreparedModel``)."""

_WEIGHT_PER_CHANNEL = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                                         quant_min=-127, quant_max=127)
_WEIGHT_PER_TENSOR = MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric,
                                              quant_min=-127, quant_max=127)
_SIGMOID_OPS = (nn.Sigmoid, torch.sigmoid, 'sigmoid')


def build_qconfig_mapping(observer: str = 'minmax', backend: str = 'x86', skip_layers: Sequence[str] = (),
                          reduce_range: bool = False, **observer_kwargs) -> QConfigMapping:
    """The torch.ao ``QConfigMapping`` of the scheme described in this module's docstring.

    Args:
        observer: Activation observer, one of :data:`~.observers.OBSERVERS`.
        backend: ``x86``, ``qnnpack`` or ``onednn``; only checked here (``ValueError`` if this
            torch does not support it), the mapping itself is the same for all.
        skip_layers: Module names (as in the model, e.g. ``'neck.reduce_layers.0.reparam_conv'``)
            kept in float: their qconfig is ``None``.
        reduce_range: 7-bit activations ([0, 127]): needed by x86 CPUs without VNNI, whose
            uint8 x int8 multiply-add saturates in int16.
        **observer_kwargs: Passed to the observer (e.g. ``percentile=99.9``).

    Returns:
        The mapping for ``prepare_fx``.
    """
    check_backend(backend)
    activation = activation_observer(observer, quant_max=127 if reduce_range else 255, **observer_kwargs)
    sigmoid = QConfig(activation=default_fixed_qparams_range_0to1_observer, weight=_WEIGHT_PER_TENSOR)
    mapping = QConfigMapping().set_global(QConfig(activation=activation, weight=_WEIGHT_PER_CHANNEL))
    for layer_type in PER_TENSOR_WEIGHT_TYPES:
        mapping.set_object_type(layer_type, QConfig(activation=activation, weight=_WEIGHT_PER_TENSOR))
    for op in _SIGMOID_OPS:
        mapping.set_object_type(op, sigmoid)
    for name in skip_layers:
        mapping.set_module_name(name, None)
    return mapping


@dataclass(frozen=True)
class QuantConfig:
    """A post-training quantization recipe: observer, backend, layers kept in float.

    Args:
        observer: Activation observer name (``minmax``, ``histogram``, ``percentile``, ``mae``).
        backend: Quantized engine (``x86``, ``qnnpack``, ``onednn``).
        skip_layers: Module names kept in float (see :func:`build_qconfig_mapping`).
        reduce_range: 7-bit activations (see :func:`build_qconfig_mapping`).
        observer_kwargs: Extra observer arguments, e.g. ``dict(percentile=99.9)``.
    """

    observer: str = 'minmax'
    backend: str = 'x86'
    skip_layers: Tuple[str, ...] = ()
    reduce_range: bool = False
    observer_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_backend(self.backend)
        if self.observer not in OBSERVERS:
            raise ValueError(f"unknown observer '{self.observer}': choose one of {', '.join(OBSERVERS)}")
        object.__setattr__(self, 'skip_layers', tuple(self.skip_layers))

    def qconfig_mapping(self) -> QConfigMapping:
        """The torch.ao mapping of this recipe (a new object each call)."""
        return build_qconfig_mapping(self.observer, self.backend, self.skip_layers, self.reduce_range,
                                     **self.observer_kwargs)

    def to_dict(self) -> dict:
        """JSON-able description, with the fixed weight/activation scheme spelled out."""
        return dict(observer=self.observer, observer_kwargs=dict(self.observer_kwargs), backend=self.backend,
                    skip_layers=list(self.skip_layers), reduce_range=self.reduce_range,
                    activations=dict(dtype='quint8', qscheme='per_tensor_affine',
                                     quant_range=[0, 127 if self.reduce_range else 255]),
                    weights=dict(dtype='qint8', qscheme='per_channel_symmetric', quant_range=[-127, 127],
                                 per_tensor_types=[t.__name__ for t in PER_TENSOR_WEIGHT_TYPES]))
