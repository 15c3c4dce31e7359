"""PNG figures of the diagnostics (:mod:`.diagnostics`, :mod:`.sensitivity`).

Drawn with matplotlib's object API on the Agg canvas (``Figure.savefig``): no pyplot, no global
backend switch, safe in headless processes.

Provenance: the views follow Chu et al., AAAI 2024, Sec. 3 (per-layer weight spread of fused
RepVGG vs QARepVGG kernels) and the per-layer SQNR plots of Sheng et al., EMC2 2018.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from matplotlib.figure import Figure

PathLike = Union[str, Path]


def _save(fig: Figure, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_weight_stats(stats_by_model: Dict[str, dict], path: PathLike) -> Path:
    """Per-layer max |w| / std of each model's fused weights (whole tensor, and worst channel).

    Args:
        stats_by_model: ``{label: weight_stats(...)}``, e.g. ``{'RepVGG': ..., 'QARepVGG': ...}``.
        path: Output PNG.
    """
    fig = Figure(figsize=(10, 6))
    axes = fig.subplots(2, 1, sharex=True)
    for label, stats in stats_by_model.items():
        layers = list(stats['layers'].values())
        axes[0].plot([s['max_abs_over_std'] for s in layers], marker='.', label=label)
        axes[1].plot([s['channel_max_abs_over_std']['max'] for s in layers], marker='.', label=label)
    axes[0].set_ylabel('max |w| / std (tensor)')
    axes[1].set_ylabel('max |w| / std (worst channel)')
    axes[1].set_xlabel('layer (module order)')
    for ax in axes:
        ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_title('Fused weight outliers per layer')
    return _save(fig, path)


def plot_activation_ranges(ranges: Dict[str, dict], path: PathLike) -> Path:
    """Seen activation range (grey) and the range kept by the observer (blue), per tensor."""
    names = list(ranges)
    fig = Figure(figsize=(10, max(3.0, 0.16 * len(names) + 1)))
    ax = fig.subplots()
    for i, name in enumerate(names):
        r = ranges[name]
        ax.plot([r['min'], r['max']], [i, i], color='0.75', linewidth=5, solid_capstyle='butt')
        ax.plot([r['range_min'], r['range_max']], [i, i], color='tab:blue', linewidth=2)
    ax.set_yticks(range(len(names)), names, fontsize=5)
    ax.invert_yaxis()
    ax.set_xlabel('activation value')
    ax.set_title('Calibration: seen range (grey) vs quantization range (blue)')
    ax.grid(axis='x', alpha=0.3)
    return _save(fig, path)


def plot_layer_sqnr(sqnr_by_label: Dict[str, Dict[str, float]], path: PathLike) -> Path:
    """Per-layer SQNR (dB, INT8 vs FP32) along the graph, one line per run (e.g. per observer)."""
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    for label, sqnr in sqnr_by_label.items():
        ax.plot(list(sqnr.values()), marker='.', label=label)
    ax.set_xlabel('layer (execution order)')
    ax.set_ylabel('SQNR (dB)')
    ax.set_title('Per-layer output SQNR, whole graph quantized')
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_sensitivity(sensitivity: Sequence[dict], path: PathLike, top: Optional[int] = None) -> Path:
    """Bar chart of one-layer-quantized output SQNR, most sensitive layer first.

    Args:
        sensitivity: From :func:`~.sensitivity.layer_sensitivity`.
        path: Output PNG.
        top: Only the ``top`` most sensitive layers (default all).
    """
    rows = sorted(sensitivity, key=lambda r: r['sqnr_db'])[:top]
    fig = Figure(figsize=(8, max(3.0, 0.18 * len(rows) + 1)))
    ax = fig.subplots()
    ax.barh(range(len(rows)), [r['sqnr_db'] for r in rows], color='tab:orange')
    ax.set_yticks(range(len(rows)), [r['layer'] for r in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel('output SQNR with only this layer quantized (dB)')
    ax.set_title('Layer sensitivity (lower = more sensitive)')
    ax.grid(axis='x', alpha=0.3)
    return _save(fig, path)
