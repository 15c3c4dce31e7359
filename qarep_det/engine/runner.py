"""The runner of the COCO YOLOv6 configs: resolves the config-level parts of the recipe, then runs.

Provenance: qarep_det's own; what it resolves follows the official YOLOv6 v3.0 trainer and
evaluator (see :mod:`qarep_det.engine.eval_protocol` and :mod:`qarep_det.engine.optimizers`).

A config file is evaluated once, before ``--cfg-options`` are applied, so a value that other
values depend on has to be read when the runner is built. Two are:

- ``eval_protocol`` (:func:`~qarep_det.engine.eval_protocol.apply_eval_protocol`);
- the per-GPU batch the weight decay is scaled with: ``optim_wrapper.paramwise_cfg.batch_size_per_gpu``
  of :class:`~qarep_det.engine.optimizers.YOLOv6OptimWrapperConstructor` is set to
  ``train_dataloader.batch_size``, so changing the batch alone keeps the official scaling.
"""
import copy

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .eval_protocol import apply_eval_protocol


def sync_weight_decay_batch(cfg: Config) -> Config:
    """``cfg`` with the YOLOv6 constructor's ``batch_size_per_gpu`` equal to the training batch.

    Args:
        cfg: A loaded config.

    Returns:
        ``cfg`` itself when there is nothing to change (another constructor, no training loader, or
        already equal), else a changed copy.
    """
    wrapper = cfg.get('optim_wrapper') or {}
    loader = cfg.get('train_dataloader') or {}
    paramwise = wrapper.get('paramwise_cfg') or {}
    if (wrapper.get('constructor') != 'YOLOv6OptimWrapperConstructor' or 'batch_size' not in loader
            or paramwise.get('batch_size_per_gpu') == loader['batch_size']):
        return cfg
    cfg = copy.deepcopy(cfg)
    cfg.optim_wrapper.setdefault('paramwise_cfg', {})['batch_size_per_gpu'] = loader['batch_size']
    print_log(f'weight decay scaled for {loader["batch_size"]} images per GPU (train_dataloader.batch_size)',
              logger='current')
    return cfg


@RUNNERS.register_module()
class YOLOv6Runner(Runner):
    """mmengine's ``Runner``, built from the config after :func:`apply_eval_protocol` and
    :func:`sync_weight_decay_batch`."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> Runner:
        """As ``Runner.from_cfg``, on the resolved config."""
        return super().from_cfg(sync_weight_decay_batch(apply_eval_protocol(cfg)))
