"""The PTQ pipeline behind ``tools/ptq.py``: checkpoint -> fused FP32 -> INT8, evaluated side by side.

Data flow (DESIGN.md): safe load -> config (checkpoint meta read as data, or ``--config``; its
``eval_protocol`` applied) -> model (EMA weights when EMA was used) -> ``reparameterize_model`` ->
``model_fp32.pt`` -> fused == unfused on real validation images -> prepare the tensor path ->
calibrate on training images through the test pipeline -> convert -> ``model_int8.pt`` -> one
evaluation loop for every variant with the config's own evaluator -> latency -> report.
``fp32_fused`` and ``int8`` are loaded back from their files (TorchScript, channels_last) before
they are checked, evaluated and timed: the report describes the files the user ships. Below 8 bits
(``wbits`` / ``abits``) the calibrated model is simulated in float instead (fake quantization: no
integer kernels, no model file, no latency) and reported as ``w<bits>a<bits>``, marked simulated.
With ``method='repapq'`` the calibrated model is reconstructed group by group
(:func:`~qarep_det.quantization.reconstruct`) before it is converted or simulated.
"""
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from torch import nn

from .. import quantization as q
from ..engine.eval_protocol import apply_eval_protocol
from ..reparam import reparameterize_model
from ..utils import BadInput, StagedOutputDir, apply_cfg_options, load_config, write_json_atomic
from ..utils.checkpoint import model_from_checkpoint
from .data import calibration_dataloader, eval_dataloader
from .evaluation import evaluate_variants, latency_ms, latency_settings, max_abs_difference
from .report import metrics_table

REPORT_FILE = 'report.json'
OUTPUT_FILES = ('config.py', 'report.md', q.FP32_MODEL_FILE, q.MODEL_FILE, q.PARAMS_FILE, 'sensitivity.png',
                'weight_stats.png', 'activation_ranges.png', 'layer_sqnr.png')


class FusionCheckError(Exception):
    """The fused model does not reproduce the unfused one: the run stops."""


@dataclass
class PTQOptions:
    """What ``tools/ptq.py`` was asked to do (see its ``--help``)."""

    checkpoint: str
    out: str
    config: Optional[str] = None
    int8: bool = False
    calib_images: int = 256
    observer: str = 'minmax'
    backend: str = 'x86'
    skip_layers: Sequence[str] = ()
    sensitivity: bool = False
    cfg_options: Sequence[str] = ()
    fusion_tolerance: float = 1e-4
    check_images: int = 4
    max_eval_images: Optional[int] = None
    latency_repeats: int = 10
    progress: bool = True
    seed: int = 0
    wbits: int = 8
    abits: int = 8
    method: str = 'observer'
    loss: str = 'mae'
    iters: int = 200
    groups: str = 'stage'
    auto_skip: Optional[int] = field(default=None, init=False)

    def __post_init__(self) -> None:
        explicit = [s for s in self.skip_layers if not s.startswith('auto:')]
        auto = [s for s in self.skip_layers if s.startswith('auto:')]
        if auto:
            value = auto[0].split(':', 1)[1]
            if len(auto) > 1 or explicit or not value.isdigit():
                raise BadInput('--skip-layers takes layer names or a single auto:K (K a whole number)')
            self.auto_skip = int(value)
        self.skip_layers = tuple(explicit)

    @property
    def quantize(self) -> bool:
        """Quantize: ``--int8``, ``--method repapq`` or a width below 8 (simulated)."""
        return self.int8 or (self.wbits, self.abits) != (8, 8) or self.method == 'repapq'

    def reconstruction(self) -> 'q.ReconstructionConfig':
        """The ``repapq`` recipe (``--groups`` is ``stage`` or a number of layers)."""
        groups = int(self.groups) if str(self.groups).isdigit() else self.groups
        try:
            return q.ReconstructionConfig(loss=self.loss, groups=groups, iters=self.iters, seed=self.seed)
        except ValueError as exc:
            raise BadInput(str(exc)) from None


@contextlib.contextmanager
def _timed(timings: Dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to ``timings[stage]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 3)


def ptq_seconds(timings: Dict[str, float]) -> float:
    """Seconds from checkpoint to saved INT8 model: every timed stage but evaluation and latency."""
    return sum(v for k, v in timings.items() if k not in ('evaluate', 'latency'))


def _quant_config(opts: PTQOptions, skip_layers: Sequence[str]) -> 'q.QuantConfig':
    try:
        return q.QuantConfig(observer=opts.observer, backend=opts.backend, skip_layers=tuple(skip_layers),
                             weight_bits=opts.wbits, activation_bits=opts.abits)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _quantize(opts: PTQOptions, cfg: Config, model: torch.nn.Module, example: torch.Tensor, calib_loader,
              out: Path, timings: Dict[str, float]) -> dict:
    """Prepare (``prepare_model`` fuses a copy of ``model``), calibrate (once more with the
    auto-skipped layers if asked), convert and save (8/8) or simulate (narrower), diagnose."""
    with _timed(timings, 'calibrate'):
        try:
            prepared = q.prepare_model(model, example, _quant_config(opts, opts.skip_layers))
        except ValueError as exc:  # --skip-layers naming no layer of the quantized graph
            raise BadInput(f'--skip-layers: {exc}') from None
        q.calibrate(prepared, calib_loader, progress=opts.progress)
    probe = list(itertools.islice(calib_loader, 2))
    result = dict(sensitivity=None)
    if opts.sensitivity or opts.auto_skip is not None:
        with _timed(timings, 'sensitivity'):
            result['sensitivity'] = q.layer_sensitivity(prepared, probe)
            q.plot_sensitivity(result['sensitivity'], out / 'sensitivity.png', top=30)
    if opts.auto_skip:
        with _timed(timings, 'calibrate'):
            skip = list(opts.skip_layers) + q.auto_skip_layers(result['sensitivity'], opts.auto_skip)
            prepared = q.prepare_model(model, example, _quant_config(opts, skip))
            q.calibrate(prepared, calib_loader, progress=opts.progress)
    if opts.method == 'repapq':
        with _timed(timings, 'reconstruct'):
            result['reconstruction'] = q.reconstruct(prepared, calib_loader, opts.reconstruction(),
                                                     progress=opts.progress)
    with _timed(timings, 'convert_and_save'):
        try:
            q.check_activation_ranges(prepared)
        except ValueError as exc:  # activations no INT8 scale can hold: the checkpoint's model is broken
            raise BadInput(str(exc)) from None
        if prepared.config.integer_kernels:
            int8 = q.convert_model(prepared)
            result['path'] = q.save_quantized(int8, out, cfg.model, example, cfg)['model']
        else:
            int8 = result['model'] = q.simulate_model(prepared)
    with _timed(timings, 'diagnostics'):
        weights = q.weight_stats(prepared.float_path)
        ranges = q.activation_ranges(prepared)
        layers = q.layer_sqnr(prepared, int8, probe)
        q.plot_weight_stats({'fp32_fused': weights}, out / 'weight_stats.png')
        q.plot_activation_ranges(ranges, out / 'activation_ranges.png')
        q.plot_layer_sqnr({prepared.config.name: layers}, out / 'layer_sqnr.png')
    result.update(prepared=prepared.summary(), output_sqnr_db=q.output_sqnr(prepared, int8, probe),
                  layer_sqnr_db=layers, weight_stats=weights, activation_ranges=ranges)
    return result


def _fusion_check(opts: PTQOptions, model: torch.nn.Module, fused: torch.nn.Module, loader) -> Dict[str, float]:
    """Max abs difference of the raw outputs of ``fused`` (the deployed file) and ``model`` on validation images."""
    batches = list(itertools.islice(loader, opts.check_images))
    with torch.no_grad():
        data = model.data_preprocessor(batches[0], False)
        scale = max(t.abs().max().item() for t in torch.utils._pytree.tree_leaves(
            model(data['inputs'], data['data_samples'], mode='tensor')))
    diff = max_abs_difference(model, fused, batches)
    relative = diff / max(scale, 1e-12)
    if relative > opts.fusion_tolerance:
        raise FusionCheckError(f'the fused model differs from the unfused one by {diff:.3g} (relative {relative:.3g} '
                               f'> tolerance {opts.fusion_tolerance:g}) on {len(batches)} validation images')
    return dict(max_abs_diff=diff, relative=relative, images=len(batches))


def _deploy_fp32(model: torch.nn.Module, cfg: Config, example: torch.Tensor, out: Path) -> tuple:
    """The fused model as shipped: ``model_fp32.pt`` written and loaded back (fused in memory when no
    quantization adapter deploys the model). Returns ``(shipped model, files)``."""
    if not q.deployable(model):
        print_log(f'{type(model).__name__}: the fused model is evaluated in memory; model_fp32.pt is written '
                  'for single-stage detectors with a neck and EncoderDecoder segmentors', logger='current',
                  level=logging.WARNING)
        return reparameterize_model(model), {}
    files = dict(fp32_fused=q.save_deployed(q.deploy_fused(model), out, cfg.model, example, cfg))
    return q.load_deployed(files['fp32_fused']), files


def _markdown(opts: PTQOptions, report: dict) -> str:
    """``report.md``: the metrics table and the figures a reader checks first."""
    settings = report['latency_settings']
    lines = ['# PTQ report', '', f'checkpoint: `{opts.checkpoint}`', ''] + metrics_table(report['models'],
                                                                                       report['latency_ms'])
    lines += ['', f'latency: median of {settings["repeats"]} runs of the whole model (pre-processing, network, '
              f'post-processing), batch 1, {settings["input_shape"][-2]}x{settings["input_shape"][-1]}, '
              f'{settings["threads"]} threads; memory format: '
              + ', '.join(f'{k} {v}' for k, v in settings['memory_format'].items()),
              'deployed (TorchScript, evaluated and timed from these files): '
              + (', '.join(f'{k} `{v}`' for k, v in report['deployed_files'].items()) or 'none'),
              f'fused vs unfused max abs difference: {report["fusion_max_abs_diff"]:.3g}']
    if opts.quantize:
        timings, bits = report['timings_s'], report['bits']
        lines += [f'quantized: weights {bits["weights"]} bits, activations {bits["activations"]} bits, '
                  + ('simulated (fake quantization in float: no integer kernels for these widths, no model file, '
                     'no latency)' if bits['simulated'] else 'INT8 kernels'),
                  f'{bits["name"]} output SQNR: {report["output_sqnr_db"]["all"]:.1f} dB',
                  f'layers kept in float: {", ".join(report["skipped_layers"]) or "none"}',
                  f'per-tensor weights (transposed convs): '
                  f'{", ".join(report["prepared"]["per_tensor_weight_layers"]) or "none"}',
                  *_reconstruction_lines(report.get('reconstruction')),
                  f'PTQ time without evaluation and latency: {ptq_seconds(timings):.0f} s '
                  f'({", ".join(f"{k} {v:.0f} s" for k, v in timings.items())})']
    return '\n'.join(lines) + '\n'


def _reconstruction_lines(reconstruction: Optional[dict]) -> list:
    """``report.md`` lines of a ``repapq`` run: the recipe and the group errors before and after."""
    if not reconstruction:
        return []
    config, groups = reconstruction['config'], reconstruction['groups']
    before = sum(g['error_before'] for g in groups) / len(groups)
    after = sum(g['error_after'] for g in groups) / len(groups)
    return [f'reconstruction (repapq): {len(groups)} groups ({config["groups"]}), {config["iters"]} iterations of '
            f'{config["batch_size"]} images each, {reconstruction["images"]} images, {config["loss"]} loss; mean group '
            f'error {before:.4g} before (round to nearest) -> {after:.4g} after']


def run_ptq(opts: PTQOptions) -> dict:
    """Run the whole pipeline; returns the report (also written to ``opts.out``).

    Raises:
        BadInput: Bad input (checkpoint, config, data, backend, output folder).
        FusionCheckError: Fusion changed the model's outputs beyond the tolerance.
    """
    # refuses a folder that holds a report or a file the run would write, before any work
    staged = StagedOutputDir(opts.out, last=(REPORT_FILE,), outputs=OUTPUT_FILES)
    if opts.method not in q.METHODS:
        raise BadInput(f"unknown --method '{opts.method}': choose one of {', '.join(q.METHODS)}")
    if opts.method == 'repapq':
        opts.reconstruction()
    if opts.quantize:
        _quant_config(opts, ())  # an unavailable backend, unknown observer or bad width fails now, not after an hour
    timings: Dict[str, float] = {}
    with _timed(timings, 'load'):
        model, cfg, _ = model_from_checkpoint(opts.checkpoint, opts.config, opts.cfg_options,
                                              resolve=apply_eval_protocol)
    if opts.quantize and not q.deployable(model):
        flag = '--int8' if opts.int8 else '--wbits / --abits'
        raise BadInput(f'{flag} quantizes mmdet single-stage detectors with a neck and mmseg EncoderDecoder '
                       f'segmentors; {type(model).__name__} is neither (run without {flag} for the FP32 and fused '
                       'FP32 evaluation)')
    loader, dataset = eval_dataloader(cfg)
    check_classes(model, tuple(dataset.metainfo.get('classes', ())), 'validation')
    loader = _limit(loader, opts.max_eval_images)
    calib_loader, num_calib = (calibration_dataloader(cfg, opts.calib_images, opts.seed,
                                                      q.adapter_for(model).calibration_batch_size)
                               if opts.quantize else (None, 0))
    with staged as out:
        example = model.data_preprocessor(next(iter(loader)), False)['inputs']
        (out / 'config.py').write_text(cfg.pretty_text)  # data: tools read it back with config_from_text
        with _timed(timings, 'fuse_and_check'):  # the fused model is checked as it is shipped: from its file
            deployed, files = _deploy_fp32(model, cfg, example, out)
            fusion = _fusion_check(opts, model, deployed, loader)
        print_log(f'fused == unfused: max abs diff {fusion["max_abs_diff"]:.3g}', logger='current')
        variants = dict(fp32=model, fp32_fused=deployed)
        quant, bits = {}, None
        if opts.quantize:
            quant = _quantize(opts, cfg, model, example, calib_loader, out, timings)
            config = _quant_config(opts, ())
            bits = dict(name=config.name, weights=opts.wbits, activations=opts.abits,
                        simulated=not config.integer_kernels)
            if 'path' in quant:
                files['int8'] = quant.pop('path')
                variants['int8'] = q.load_deployed(files['int8'])  # evaluated and timed as shipped
            else:
                variants[config.name] = quant.pop('model')  # simulated in memory
        timed = {name: m for name, m in variants.items() if not getattr(m, 'info', {}).get('simulated')}
        with _timed(timings, 'evaluate'):
            metrics = evaluate_variants(variants, loader, cfg, dataset.metainfo, progress=opts.progress)
        timing_batch = next(iter(loader))
        with _timed(timings, 'latency'):
            latency = {name: latency_ms(m, timing_batch, repeats=opts.latency_repeats) for name, m in timed.items()}
        report = dict(checkpoint=str(opts.checkpoint), models=metrics, latency_ms=latency, bits=bits,
                      deployed_files={name: path.name for name, path in files.items()},
                      latency_settings=latency_settings(timed, timing_batch, opts.latency_repeats),
                      fusion_max_abs_diff=fusion['max_abs_diff'], fusion_check=fusion,
                      calibration=dict(images=num_calib, split='train', pipeline='test', seed=opts.seed,
                                       observer=opts.observer, backend=opts.backend,
                                       method=opts.method) if opts.quantize else None,
                      skipped_layers=quant.get('prepared', {}).get('config', {}).get('skip_layers', []),
                      timings_s=timings, **quant)
        (out / 'report.md').write_text(_markdown(opts, report))
        write_json_atomic(out / REPORT_FILE, report)
    return report


def check_classes(model: nn.Module, dataset_classes: Sequence[str], split: str) -> None:
    """Refuse a dataset whose class list does not fit the model's head (when an adapter knows it)."""
    num_classes = q.adapter_for(model).num_classes(model) if q.deployable(model) else None
    if num_classes is not None and len(dataset_classes) != num_classes:
        raise BadInput(f'the {split} set has {len(dataset_classes)} classes but the model predicts '
                       f'{num_classes}: the config\'s classes do not match the weights')


def _limit(loader: torch.utils.data.DataLoader, max_images: Optional[int]) -> torch.utils.data.DataLoader:
    """``loader`` over its first ``max_images`` images (all when ``None``)."""
    if not max_images:
        return loader
    dataset = loader.dataset
    return torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(min(max_images, len(dataset)))),
                                       batch_size=1, collate_fn=loader.collate_fn)


def evaluate_deployed(path: str, config: Optional[str] = None, cfg_options: Sequence[str] = (),
                      max_eval_images: Optional[int] = None, progress: bool = True) -> Dict[str, Dict[str, float]]:
    """Evaluate a saved ``model_int8.pt`` / ``model_fp32.pt`` on its config's validation set.

    Args:
        path: The deployed file.
        config: A config file for the data and evaluator; default: the config embedded in the
            file (read as data).
        cfg_options: ``KEY=VALUE`` overrides (e.g. another ``val_dataloader.dataset.data_root``).
        max_eval_images: Evaluate the first N validation images only.
        progress: Show a progress bar.

    Returns:
        ``{'int8' or 'fp32_fused': metrics}``.
    """
    model = q.load_deployed(path)
    cfg = load_config(config) if config is not None else q.deployed_config(path)
    cfg = apply_eval_protocol(apply_cfg_options(cfg, cfg_options))
    init_default_scope(cfg.get('default_scope') or 'mmdet')
    loader, dataset = eval_dataloader(cfg)
    check_classes(model, tuple(dataset.metainfo.get('classes', ())), 'validation')
    name = 'int8' if model.quantized else 'fp32_fused'
    return evaluate_variants({name: model}, _limit(loader, max_eval_images), cfg, dataset.metainfo, progress=progress)
