"""Activation observers: ``minmax``, ``histogram`` (torch.ao's) and two outlier-robust ones.

Provenance: ``minmax`` is Jacob et al., CVPR 2018, Sec. 3.1; ``histogram`` is torch.ao's
L2-minimizing histogram search (caffe2's ``NormMinimization``); ``percentile`` clips at a
percentile of the calibration values (Wu et al., "Integer Quantization for Deep Learning
Inference: Principles and Empirical Evaluation", arXiv:2004.09602, 2020, Sec. 4: max, entropy and
percentile calibration); ``mae`` picks the range whose quantize-dequantize has the smallest *mean
absolute* error, the metric RepAPQ uses because squared error lets the rare outliers of
re-parameterized models dictate the range (Zhang et al., "Towards Accurate Post-training
Quantization for Reparameterized Models", arXiv:2402.16121, 2024, Sec. III).

Both new observers subclass torch.ao's ``HistogramObserver`` (same histogram collection, same
state dict, usable in any ``QConfig`` and by ``convert_fx``); only ``calculate_qparams`` differs.
"""
import math
from typing import Callable, Dict, Tuple

import torch
from torch import Tensor
from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver


class PercentileObserver(HistogramObserver):
    """Clip the range at the ``percentile``-th (upper) and ``100 - percentile``-th (lower) percentile.

    Args:
        percentile: Percentile of the calibration values kept inside the range (e.g. 99.99).
        bins: Histogram bins (the percentile is resolved to one bin of ``(max - min) / bins``).
        **kwargs: As ``HistogramObserver`` (``dtype``, ``qscheme``, ``quant_min``, ...).
    """

    def __init__(self, percentile: float = 99.99, bins: int = 2048, **kwargs) -> None:
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f'percentile must be in (50, 100], got {percentile}')
        super().__init__(bins=bins, **kwargs)
        self.percentile = percentile

    def clip_range(self) -> Tuple[Tensor, Tensor]:
        """``(low, high)`` bin edges holding the central ``percentile`` % of the histogram mass."""
        cdf = torch.cumsum(self.histogram, 0) / self.histogram.sum().clamp_min(1e-12)  # (bins,)
        tail = 1.0 - self.percentile / 100.0
        width = (self.max_val - self.min_val) / self.bins
        low_bin = torch.searchsorted(cdf, cdf.new_tensor(tail), right=True).clamp(max=self.bins - 1)
        high_bin = torch.searchsorted(cdf, cdf.new_tensor(1.0 - tail)).clamp(max=self.bins - 1)
        return self.min_val + width * low_bin, self.min_val + width * (high_bin + 1)

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        if self.min_val > self.max_val:  # never observed: torch.ao's default parameters
            return super().calculate_qparams()
        return self._calculate_qparams(*self.clip_range())

    def extra_repr(self) -> str:
        return f'percentile={self.percentile}, ' + super().extra_repr()


class MAEObserver(HistogramObserver):
    """Range ``[low, high]`` minimizing the mean absolute quantize-dequantize error of the histogram.

    Each histogram bin is represented by ``samples_per_bin`` evenly spaced values carrying its
    count; candidate ranges shrink each end of ``[min, max]`` by a factor from a geometric grid
    (``num_candidates`` values from 1 down to ``min_fraction``, so the relative resolution is the
    same for small and large ranges), one end at a time (``rounds`` rounds of coordinate descent
    from the full range). A candidate's error uses exactly the scale and zero point torch.ao
    derives from it.

    Args:
        num_candidates: Fractions tried per end and round.
        min_fraction: Smallest fraction of an end kept.
        rounds: Coordinate-descent rounds (upper end, then lower end, each round).
        samples_per_bin: Values standing for one histogram bin.
        bins: Histogram bins.
        **kwargs: As ``HistogramObserver``.
    """

    def __init__(self, num_candidates: int = 50, min_fraction: float = 0.01, rounds: int = 2,
                 samples_per_bin: int = 2, bins: int = 2048, **kwargs) -> None:
        super().__init__(bins=bins, **kwargs)
        self.num_candidates = num_candidates
        self.min_fraction = min_fraction
        self.rounds = rounds
        self.samples_per_bin = samples_per_bin

    def _values_and_weights(self) -> Tuple[Tensor, Tensor]:
        """Values spread inside each non-empty bin ``(N,)`` (``N <= bins * samples_per_bin``), weights."""
        width = (self.max_val - self.min_val) / self.bins
        offsets = (torch.arange(self.samples_per_bin) + 0.5) / self.samples_per_bin  # (S,)
        # (bins, 1) + (1, S) -> (bins, S) -> (bins * S,)
        values = self.min_val + width * (torch.arange(self.bins)[:, None] + offsets[None, :]).flatten()
        weights = (self.histogram[:, None] / self.samples_per_bin).expand(-1, self.samples_per_bin).flatten()
        keep = weights > 0  # empty bins (most of them when outliers stretch the range) cost nothing
        return values[keep], weights[keep]

    def _mae(self, values: Tensor, weights: Tensor, low: Tensor, high: Tensor) -> Tensor:
        """Weighted mean |x - Q(x)| of ``values`` for each of the ``(K,)`` candidate ranges."""
        quant_min, quant_max = self.quant_min, self.quant_max
        low, high = low.clamp(max=0.0), high.clamp(min=0.0)  # torch.ao keeps zero in the range
        scale = ((high - low) / (quant_max - quant_min)).clamp_min(self.eps.item())  # (K,)
        zero_point = (quant_min - torch.round(low / scale)).clamp(quant_min, quant_max)  # (K,)
        # x / scale + zero_point, (K, 1) against (1, N) -> (K, N); Q(x) rounds and clamps it
        exact = values[None, :] / scale[:, None] + zero_point[:, None]
        error = exact.round().clamp_(quant_min, quant_max).sub_(exact).abs_()  # |x - Q(x)| / scale
        return (error @ weights) * scale / weights.sum().clamp_min(1e-12)

    def search_range(self) -> Tuple[Tensor, Tensor]:
        """The ``(low, high)`` of the smallest mean absolute error found by the search."""
        values, weights = self._values_and_weights()
        fractions = torch.logspace(0.0, math.log10(self.min_fraction), self.num_candidates)  # (K,), 1 first
        low, high = self.min_val.clone(), self.max_val.clone()
        for _ in range(self.rounds):
            candidates = self.max_val * fractions
            high = candidates[torch.argmin(self._mae(values, weights, low.expand_as(candidates), candidates))]
            candidates = self.min_val * fractions
            low = candidates[torch.argmin(self._mae(values, weights, candidates, high.expand_as(candidates)))]
        return low, high

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        if self.min_val > self.max_val:  # never observed: torch.ao's default parameters
            return super().calculate_qparams()
        return self._calculate_qparams(*self.search_range())

    def extra_repr(self) -> str:
        return f'num_candidates={self.num_candidates}, rounds={self.rounds}, ' + super().extra_repr()


class FixedActivationObserver(MinMaxObserver):
    """A per-tensor ``quint8`` observer whose parameters were set (by :mod:`.reconstruct`), not measured.

    It no longer observes; ``min_val`` / ``max_val`` keep the range seen in calibration (for the
    diagnostics and :func:`~.convert.check_activation_ranges`).

    Args:
        scale: The scale.
        zero_point: The zero point, in ``[quant_min, quant_max]``.
        quant_min: Smallest quantized value.
        quant_max: Largest quantized value.
        seen: ``(min, max)`` seen in calibration.
    """

    def __init__(self, scale: float, zero_point: int, quant_min: int, quant_max: int,
                 seen: Tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=quant_min,
                         quant_max=quant_max)
        self.min_val, self.max_val = torch.tensor(float(seen[0])), torch.tensor(float(seen[1]))
        self.register_buffer('fixed_scale', torch.tensor([float(scale)]))
        self.register_buffer('fixed_zero_point', torch.tensor([int(zero_point)], dtype=torch.int64))

    def forward(self, x: Tensor) -> Tensor:
        return x

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        return self.fixed_scale.clone(), self.fixed_zero_point.clone()

    def extra_repr(self) -> str:
        fixed = f'scale={self.fixed_scale.item():.4g}, zero_point={self.fixed_zero_point.item()}, '
        return fixed + super().extra_repr()


class FixedWeightObserver(PerChannelMinMaxObserver):
    """A per-output-channel symmetric ``qint8`` weight observer with set scales (zero points 0).

    Used as ``QConfig(weight=FixedWeightObserver.with_args(scale=...))`` for a layer whose weights
    :mod:`.reconstruct` put on their integer grid: conversion and simulation then reproduce those
    integers exactly instead of re-deriving the scales from the weights.

    Args:
        scale: ``(C_out,)`` scales.
        quant_min: Smallest quantized value (e.g. -127).
        quant_max: Largest quantized value (e.g. 127).
    """

    def __init__(self, scale: Tensor, quant_min: int, quant_max: int) -> None:
        super().__init__(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=quant_min,
                         quant_max=quant_max)
        self.register_buffer('fixed_scale', scale.detach().reshape(-1).clone().float())

    def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
        return self.fixed_scale.clone(), torch.zeros_like(self.fixed_scale, dtype=torch.int64)


OBSERVERS: Dict[str, Callable] = dict(minmax=MinMaxObserver, histogram=HistogramObserver,
                                      percentile=PercentileObserver, mae=MAEObserver)
"""Activation observer classes by the names the tools accept."""


def activation_observer(name: str, quant_min: int = 0, quant_max: int = 255, **kwargs) -> Callable:
    """A per-tensor affine ``quint8`` observer factory (``Observer.with_args``) for ``QConfig``.

    Args:
        name: One of :data:`OBSERVERS`.
        quant_min: Smallest quantized value (0).
        quant_max: Largest quantized value (255; 127 reproduces torch.ao's ``reduce_range``).
        **kwargs: Observer-specific arguments (e.g. ``percentile=99.9`` for ``percentile``).

    Returns:
        The factory, as ``QConfig(activation=...)`` expects.
    """
    if name not in OBSERVERS:
        raise ValueError(f"unknown observer '{name}': choose one of {', '.join(OBSERVERS)}")
    return OBSERVERS[name].with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                     quant_min=quant_min, quant_max=quant_max, **kwargs)
