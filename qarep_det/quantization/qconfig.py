"""What is quantized how: ``QuantConfig`` and the torch.ao ``QConfigMapping`` it stands for.

Weights: int8, symmetric, one scale per output channel (range [-127, 127]). Transposed convs take
one scale per tensor: torch.ao's x86/fbgemm kernels have no per-channel transposed conv (pytorch
issue 47535), and the same holds here for every backend so results do not depend on it.
Activations: uint8, affine, one scale per tensor, range chosen by the observer. Sigmoid outputs
use the fixed range [0, 1] (scale 1/256), as torch.ao's quantized sigmoid requires.

Below 8 bits (``weight_bits`` / ``activation_bits``) the same scheme takes the narrower integer
ranges, [-(2^(b-1) - 1), 2^(b-1) - 1] for weights and [0, 2^b - 1] for activations (sigmoid
outputs keep their fixed 8-bit range); such models are evaluated simulated (:mod:`.simulate`),
there being no integer kernels for them.

Provenance: Krishnamoorthi, "Quantizing deep convolutional networks for efficient inference: A
whitepaper", 2018, Sec. 3.1 (post-training quantization: per-channel weights, per-tensor activations).
"""
from dataclasses import dataclass, field
from typing import Callable, Sequence, Tuple

import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping
from torch.ao.quantization.observer import (MinMaxObserver, PerChannelMinMaxObserver,
                                            default_fixed_qparams_range_0to1_observer)

from ._backend import check_backend
from .observers import OBSERVERS, activation_observer

PER_TENSOR_WEIGHT_TYPES = (nn.ConvTranspose2d,)
"""Layer types whose weights get one scale per tensor (listed by ``PreparedModel``)."""

WEIGHT_BITS = (8, 6, 4)
"""Weight widths ``tools/ptq.py`` offers (the library takes 2..8)."""
ACTIVATION_BITS = (8, 6)
"""Activation widths ``tools/ptq.py`` offers (the library takes 2..8)."""
_SIGMOID_OPS = (nn.Sigmoid, torch.sigmoid, 'sigmoid')


def weight_range(bits: int) -> Tuple[int, int]:
    """Symmetric signed range of ``bits``-bit weights, e.g. ``(-127, 127)`` for 8."""
    return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1


def activation_range(bits: int, reduce_range: bool = False) -> Tuple[int, int]:
    """Unsigned range of ``bits``-bit activations, one bit less with ``reduce_range``."""
    return 0, 2 ** (bits - 1 if reduce_range else bits) - 1


def _weight_observers(bits: int) -> Tuple[Callable, Callable]:
    """Per-channel and per-tensor symmetric weight observers of ``bits`` bits (int8 containers)."""
    low, high = weight_range(bits)
    return (PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                               quant_min=low, quant_max=high),
            MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=low,
                                     quant_max=high))


def build_qconfig_mapping(observer: str = 'minmax', backend: str = 'x86', skip_layers: Sequence[str] = (),
                          reduce_range: bool = False, weight_bits: int = 8, activation_bits: int = 8,
                          **observer_kwargs) -> QConfigMapping:
    """The torch.ao ``QConfigMapping`` of the scheme described in this module's docstring.

    Args:
        observer: Activation observer, one of :data:`~.observers.OBSERVERS`.
        backend: ``x86``, ``qnnpack`` or ``onednn``; only checked here (``ValueError`` if this
            torch does not support it), the mapping itself is the same for all.
        skip_layers: Module names (as in the model, e.g. ``'neck.reduce_layers.0.reparam_conv'``)
            kept in float: their qconfig is ``None``.
        reduce_range: 7-bit activations ([0, 127]): needed by x86 CPUs without VNNI, whose
            uint8 x int8 multiply-add saturates in int16.
        weight_bits: Width of the weights (2..8).
        activation_bits: Width of the activations (2..8).
        **observer_kwargs: Passed to the observer (e.g. ``percentile=99.9``).

    Returns:
        The mapping for ``prepare_fx``.
    """
    check_backend(backend)
    activation = activation_observer(observer, quant_max=activation_range(activation_bits, reduce_range)[1],
                                     **observer_kwargs)
    per_channel, per_tensor = _weight_observers(weight_bits)
    sigmoid = QConfig(activation=default_fixed_qparams_range_0to1_observer, weight=per_tensor)
    mapping = QConfigMapping().set_global(QConfig(activation=activation, weight=per_channel))
    for layer_type in PER_TENSOR_WEIGHT_TYPES:
        mapping.set_object_type(layer_type, QConfig(activation=activation, weight=per_tensor))
    for op in _SIGMOID_OPS:
        mapping.set_object_type(op, sigmoid)
    for name in skip_layers:
        mapping.set_module_name(name, None)
    return mapping


@dataclass(frozen=True)
class QuantConfig:
    """A post-training quantization recipe: observer, backend, layers kept in float, bit widths.

    Args:
        observer: Activation observer name (``minmax``, ``histogram``, ``percentile``, ``mae``).
        backend: Quantized engine (``x86``, ``qnnpack``, ``onednn``).
        skip_layers: Module names kept in float (see :func:`build_qconfig_mapping`).
        reduce_range: 7-bit activations (see :func:`build_qconfig_mapping`).
        observer_kwargs: Extra observer arguments, e.g. ``dict(percentile=99.9)``.
        weight_bits: Width of the weights, 2..8 (8: INT8).
        activation_bits: Width of the activations, 2..8 (8: INT8).
    """

    observer: str = 'minmax'
    backend: str = 'x86'
    skip_layers: Tuple[str, ...] = ()
    reduce_range: bool = False
    observer_kwargs: dict = field(default_factory=dict)
    weight_bits: int = 8
    activation_bits: int = 8

    def __post_init__(self) -> None:
        check_backend(self.backend)
        if self.observer not in OBSERVERS:
            raise ValueError(f"unknown observer '{self.observer}': choose one of {', '.join(OBSERVERS)}")
        for name in ('weight_bits', 'activation_bits'):
            bits = getattr(self, name)
            if not isinstance(bits, int) or not 2 <= bits <= 8:
                raise ValueError(f'{name} must be a whole number from 2 to 8, got {bits!r}')
        object.__setattr__(self, 'skip_layers', tuple(self.skip_layers))

    @property
    def integer_kernels(self) -> bool:
        """Whether the recipe runs on INT8 kernels (8-bit weights and activations); else it is simulated."""
        return self.weight_bits == 8 and self.activation_bits == 8

    @property
    def name(self) -> str:
        """``int8`` for 8/8, else ``w<bits>a<bits>`` (e.g. ``w4a8``): the variant's name in reports."""
        return 'int8' if self.integer_kernels else f'w{self.weight_bits}a{self.activation_bits}'

    def qconfig_mapping(self) -> QConfigMapping:
        """The torch.ao mapping of this recipe (a new object each call)."""
        return build_qconfig_mapping(self.observer, self.backend, self.skip_layers, self.reduce_range,
                                     self.weight_bits, self.activation_bits, **self.observer_kwargs)

    def to_dict(self) -> dict:
        """JSON-able description, with the weight/activation scheme spelled out."""
        return dict(observer=self.observer, observer_kwargs=dict(self.observer_kwargs), backend=self.backend,
                    skip_layers=list(self.skip_layers), reduce_range=self.reduce_range,
                    weight_bits=self.weight_bits, activation_bits=self.activation_bits,
                    simulated=not self.integer_kernels,
                    activations=dict(dtype='quint8', qscheme='per_tensor_affine', bits=self.activation_bits,
                                     quant_range=list(activation_range(self.activation_bits, self.reduce_range))),
                    weights=dict(dtype='qint8', qscheme='per_channel_symmetric', bits=self.weight_bits,
                                 quant_range=list(weight_range(self.weight_bits)),
                                 per_tensor_types=[t.__name__ for t in PER_TENSOR_WEIGHT_TYPES]))
