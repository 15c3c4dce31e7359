"""INT8 post-training quantization of re-parameterized models, for any task (torch.ao FX, CPU backends).

This subpackage is the only part of ``qarep_det`` that imports ``torch.ao``; the FX-specific calls
sit in ``_backend.py`` so a move to PT2E changes that file. It knows no task: it prepares,
calibrates, converts, saves, loads and diagnoses a model's *tensor path*; a small adapter per task
(:mod:`.tasks`: detection, segmentation) says what that path is, what stays float and how the
deployed model predicts. torch.ao's deprecation warnings are silenced inside these functions
only. Importing it changes no global state.

Workflow (``tools/ptq.py`` runs it on a trained checkpoint)::

    from qarep_det.quantization import (QuantConfig, prepare_model, calibrate, convert_model,
                                        deploy_fused, save_deployed, save_quantized, load_deployed)
    prepared = prepare_model(model, example_images, QuantConfig(observer='mae', backend='x86'))
    calibrate(prepared, calibration_batches)            # tensors or dataloader batches
    int8 = convert_model(prepared)                      # int8.predict(inputs, data_samples) as the model's
    save_quantized(int8, 'work_dirs/ptq', cfg.model, example_images)  # model_int8.pt + quant_params.json
    int8 = load_deployed('work_dirs/ptq/model_int8.pt')                 # no backbone/neck/loss code needed
    save_deployed(deploy_fused(model), 'work_dirs/ptq', cfg.model, example_images)  # model_fp32.pt

What is quantized: ``prepare_model`` fuses a copy of the model (``reparameterize_model``; FX
folds any conv-BN left), then traces the adapter's tensor path as one graph (no
dequantize/quantize inside it): for a YOLOv6 detector backbone + neck +
``bbox_head.head_module``, for any other single-stage detector with a neck backbone + neck (its
head layers stay float), for an mmseg encoder-decoder segmentor backbone (+ neck) + decode head.
Conv+ReLU are fused; SiLU runs in float between a dequantize and a quantize (``silu='float'``,
the faster on x86) or as quantized ``sigmoid`` * ``x`` (``silu='quantized'``). Decoding, priors
and NMS (detection), the resize to the image and the argmax (segmentation) stay float. Weights:
int8 per-channel symmetric (transposed convs per-tensor, listed in
``PreparedModel.per_tensor_weight_layers``); activations: uint8 per-tensor affine.

Public API:

* ``QuantConfig(observer='minmax', backend='x86', skip_layers=(), reduce_range=False,
  observer_kwargs={}, weight_bits=8, activation_bits=8)``: the recipe (``name``: ``int8`` or e.g.
  ``w4a8``; ``integer_kernels``: 8/8); ``ValueError`` for an unknown observer, a backend this torch
  lacks or a width outside 2..8. ``build_qconfig_mapping(observer, backend, skip_layers,
  reduce_range, weight_bits, activation_bits, **kw)``: its torch.ao ``QConfigMapping``.
  ``supported_backends()``, ``OBSERVERS``, ``WEIGHT_BITS`` / ``ACTIVATION_BITS`` (the widths
  ``tools/ptq.py`` offers).
* Observers (``torch.ao.quantization.observer`` subclasses, usable in any ``QConfig``):
  ``minmax``, ``histogram`` (torch.ao's), ``PercentileObserver`` (``percentile``),
  ``MAEObserver`` (``mae``); ``activation_observer(name, quant_min, quant_max, **kw)``.
* ``adapter_for(model)``, ``adapter_named(task)``, ``deployable(model)``, ``TaskAdapter``.
* ``prepare_model(model, example_inputs, config=QuantConfig(), silu='float') -> PreparedModel``
  (``layer_names``, ``quantized_layers``, ``per_tensor_weight_layers``, ``float_layers``,
  ``float_forward(images)``, ``summary()``).
* ``calibrate(prepared, batches, progress=True) -> int`` (images seen).
* ``check_activation_ranges(prepared)``: ``ValueError`` naming a calibrated range no scale can hold.
* ``simulate_model(prepared) -> DeployedModel``: the calibrated model fake-quantized in float
  (any width; ``info['simulated']``), the way widths without integer kernels are evaluated.
* ``convert_model(prepared)`` and ``deploy_fused(model)`` (the fused FP32 counterpart) ->
  ``DeployedModel``: the task's model class (an mmdet ``BaseDetector``, an mmseg
  ``BaseSegmentor``: ``predict``, ``forward(mode='predict'|'tensor')``, ``test_step``) with
  ``quantized``, ``backend`` and ``info``; runs channels_last (``DEPLOY_MEMORY_FORMAT``).
* ``save_deployed(model, out_dir, model_cfg, example_inputs, config=None) -> path`` (TorchScript
  ``model_int8.pt`` / ``model_fp32.pt``), ``save_quantized(...) -> {'model', 'params'}`` (plus
  ``quant_params.json``), ``load_deployed(path) -> DeployedModel``, ``deployed_config(path)``,
  ``quantization_params(model) -> dict``.
* Diagnostics (JSON-able dicts): ``weight_stats(module)``, ``activation_ranges(prepared)``,
  ``output_sqnr(prepared, quantized, batches)``, ``layer_sqnr(prepared, quantized, batches)``.
* ``reconstruct(prepared, batches, ReconstructionConfig(loss='mae', groups='stage', iters=200,
  batch_size=4, seed=0, qprep=True, ...), progress=True) -> dict`` (``--method repapq``): tunes a
  calibrated model in place, group by group (QPRep affine, AdaRound rounding, activation scales;
  ``reconstruct.py``); ``layer_groups(layers, groups)``, ``LOSSES``, ``METHODS``.
* ``layer_sensitivity(prepared, batches, layers=None) -> [{'layer', 'sqnr_db'}]`` (most
  sensitive first), ``auto_skip_layers(sensitivity, k) -> [names]`` (``--skip-layers auto:K``).
* PNG figures: ``plot_weight_stats``, ``plot_activation_ranges``, ``plot_layer_sqnr``,
  ``plot_sensitivity``.
"""
from ._backend import supported_backends
from .tasks import TaskAdapter, adapter_for, adapter_named, deployable
from .convert import check_activation_ranges, convert_model, deploy_fused
from .diagnostics import activation_ranges, layer_sqnr, output_sqnr, weight_stats
from .export import (FP32_MODEL_FILE, MODEL_FILE, PARAMS_FILE, deployed_config, load_deployed, quantization_params,
                     save_deployed, save_quantized)
from .modules import DEPLOY_MEMORY_FORMAT, DeployedModel
from .observers import OBSERVERS, MAEObserver, PercentileObserver, activation_observer
from .plots import plot_activation_ranges, plot_layer_sqnr, plot_sensitivity, plot_weight_stats
from .prepare import SILU_MODES, PreparedModel, calibrate, prepare_model
from .qconfig import ACTIVATION_BITS, WEIGHT_BITS, QuantConfig, build_qconfig_mapping
from .reconstruct import LOSSES, METHODS, ReconstructionConfig, layer_groups, reconstruct
from .sensitivity import auto_skip_layers, layer_sensitivity
from .simulate import simulate_model

__all__ = [
    'ACTIVATION_BITS', 'WEIGHT_BITS', 'DEPLOY_MEMORY_FORMAT', 'FP32_MODEL_FILE', 'MODEL_FILE', 'PARAMS_FILE',
    'LOSSES', 'METHODS', 'OBSERVERS', 'SILU_MODES',
    'DeployedModel', 'MAEObserver', 'PercentileObserver', 'PreparedModel', 'QuantConfig', 'ReconstructionConfig',
    'TaskAdapter',
    'activation_observer', 'activation_ranges', 'adapter_for', 'adapter_named', 'auto_skip_layers',
    'build_qconfig_mapping', 'calibrate', 'check_activation_ranges', 'convert_model', 'deploy_fused', 'deployable',
    'deployed_config',
    'layer_groups', 'layer_sensitivity', 'layer_sqnr', 'load_deployed', 'output_sqnr', 'plot_activation_ranges',
    'plot_layer_sqnr',
    'plot_sensitivity', 'plot_weight_stats', 'prepare_model', 'quantization_params', 'save_deployed',
    'reconstruct', 'save_quantized', 'simulate_model', 'supported_backends', 'weight_stats'
]
