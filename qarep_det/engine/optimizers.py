"""YOLOv6's optimizer parameter groups and learning-rate schedule for mmengine.

Provenance: read from the official YOLOv6 v3.0 trainer (meituan/YOLOv6 ``yolov6/solver/build.py``
``build_optimizer`` / ``build_lr_scheduler`` and ``yolov6/core/engine.py`` ``get_optimizer``,
``update_optimizer``, ``train_in_steps``); written anew for mmengine.

The official trainer builds three SGD parameter groups: the weights of BatchNorm layers (no
weight decay), every other module's ``weight`` (weight decay) and every module's ``bias`` (no
weight decay). A parameter with another name (BottleRep's ``alpha`` in the M/L CSP blocks) is in
no group and so stays at its initial value 1.0 although it is an ``nn.Parameter``. The weight
decay is multiplied by ``total_batch * accumulate / 64`` with ``accumulate = max(1, round(64 /
total_batch))`` (x4 = 2e-3 at the recipe's 256). Under DDP the loss is multiplied by the number of
processes before the backward pass. The lr warms up linearly over ``max(warmup_epochs * iters per
epoch, 1000)`` iterations, from 0.1 (``warmup_bias_lr``) for the bias group and from 0 for the
others, towards ``lr0 * lf(epoch)``; ``lf`` is a cosine from 1 at epoch 0 to ``lrf`` at the last
epoch, evaluated once per epoch.

mmengine's ``paramwise_cfg`` gives the decay multipliers but no way to tell a schedule which group
holds the biases, and no scheduler starts one group's warm-up from its own value or lasts
``max(epochs, iterations)``; hence :class:`YOLOv6OptimWrapperConstructor` (tags the groups),
:class:`YOLOv6LR` (reads the tags) and :class:`YOLOv6Momentum`.
"""
import math
from typing import List, Optional

from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

GROUP_KEY = 'yolov6_group'  # the tag every param group carries: 'bn_weight', 'weight', 'bias' or 'frozen'
LR_SCALE_KEY = 'yolov6_lr_scale'  # the factor the lr was multiplied by to stand for a loss scale


def weight_decay_scale(total_batch_size: int, nominal_batch_size: int = 64) -> float:
    """YOLOv6's weight-decay multiplier ``total * accumulate / nominal`` for a total batch.

    Args:
        total_batch_size: Images per optimizer step over all processes.
        nominal_batch_size: The batch the configured weight decay refers to (YOLOv6: 64).

    Returns:
        The factor, e.g. 4.0 for 256 images and 1.0 for 16 (accumulated 4 times).
    """
    if total_batch_size < 1 or nominal_batch_size < 1:
        raise ValueError(f'batch sizes must be positive, got {total_batch_size} and {nominal_batch_size}')
    accumulate = max(1, round(nominal_batch_size / total_batch_size))
    return total_batch_size * accumulate / nominal_batch_size


def yolov6_param_groups(model: nn.Module) -> dict:
    """The model's parameters in YOLOv6's groups (each parameter once, in module order).

    Args:
        model: The model (a wrapper's ``module`` is used).

    Returns:
        ``{'bn_weight': [...], 'weight': [...], 'bias': [...], 'frozen': [...]}``: the weights of
        BatchNorm layers (any ``_BatchNorm``, so SyncBN too), the ``weight`` of every other module,
        every ``bias``, and the parameters with other names, which YOLOv6 never updates.
    """
    model = getattr(model, 'module', model)
    groups: dict = {'bn_weight': [], 'weight': [], 'bias': [], 'frozen': []}
    seen = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if name == 'bias':
                groups['bias'].append(param)
            elif name == 'weight':
                groups['bn_weight' if isinstance(module, _BatchNorm) else 'weight'].append(param)
            else:
                groups['frozen'].append(param)
    return groups


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class YOLOv6OptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """YOLOv6's parameter groups, weight-decay scaling and DDP loss scale.

    ``paramwise_cfg`` keys (all optional):

    - ``batch_size_per_gpu``: images per process and iteration; with it the weight decay of the
      ``weight`` group is multiplied by :func:`weight_decay_scale` of ``batch_size_per_gpu x
      world size``. Without it the configured weight decay is used as is.
    - ``nominal_batch_size``: the batch the weight decay refers to (default 64).
    - ``scale_loss_by_world_size``: reproduce YOLOv6's ``loss *= world_size`` under DDP. For SGD
      (momentum and Nesterov included) a loss scaled by ``W`` gives exactly the updates of an
      unscaled loss with every lr multiplied by ``W`` and every weight decay divided by ``W``, so
      that is done here (and recorded in each group for :class:`YOLOv6LR`); SGD only (an adaptive
      optimizer would undo the scale anyway). Default ``False``.

    The groups are tagged with ``'yolov6_group'``; the ``frozen`` group (parameters named neither
    ``weight`` nor ``bias``, e.g. BottleRep's ``alpha``) gets lr 0 and no weight decay, so it keeps
    its initial value as in YOLOv6, where it is in no group. Empty groups are left out.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        cfg = dict(self.paramwise_cfg or {})
        unknown = set(cfg) - {'batch_size_per_gpu', 'nominal_batch_size', 'scale_loss_by_world_size'}
        if unknown:
            raise ValueError(f'YOLOv6OptimWrapperConstructor: unknown paramwise_cfg keys {sorted(unknown)}')
        world_size = get_world_size()
        optimizer_cfg = dict(self.optimizer_cfg)
        base_lr = optimizer_cfg.get('lr')
        weight_decay = optimizer_cfg.pop('weight_decay', 0.0) or 0.0
        if cfg.get('batch_size_per_gpu') is not None:
            weight_decay *= weight_decay_scale(int(cfg['batch_size_per_gpu']) * world_size,
                                               int(cfg.get('nominal_batch_size', 64)))
        lr_scale = world_size if cfg.get('scale_loss_by_world_size', False) else 1
        if cfg.get('scale_loss_by_world_size', False) and optimizer_cfg.get('type') not in ('SGD', 'torch.optim.SGD'):
            raise ValueError('scale_loss_by_world_size is emulated by lr x W, weight decay / W, which is exact '
                             f'for SGD only, not {optimizer_cfg.get("type")}')
        decays = {'bn_weight': 0.0, 'weight': weight_decay / lr_scale, 'bias': 0.0, 'frozen': 0.0}
        params: List[dict] = []
        for name, group_params in yolov6_param_groups(model).items():
            if not group_params:
                continue
            group = {'params': group_params, 'weight_decay': decays[name], GROUP_KEY: name, LR_SCALE_KEY: lr_scale}
            if base_lr is not None:
                group['lr'] = 0.0 if name == 'frozen' else base_lr * lr_scale
            params.append(group)
        if base_lr is not None:
            optimizer_cfg['lr'] = base_lr * lr_scale
        optimizer_cfg['params'] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        print_log('YOLOv6 param groups: ' + ', '.join(
            f'{g[GROUP_KEY]}: {len(g["params"])} (lr {g.get("lr")}, weight decay {g["weight_decay"]:g})'
            for g in optimizer.param_groups), logger='current')
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))


class _YOLOv6Warmup(_ParamScheduler):
    """Shared by :class:`YOLOv6LR` and :class:`YOLOv6Momentum`: iteration-based, YOLOv6's warm-up length.

    The warm-up lasts ``W = max(round(warmup_epochs * epoch_length), min_warmup_iters)``
    iterations. In a config give ``by_epoch=True, convert_to_iter_based=True`` (the runner then
    calls :meth:`build_iter_from_epoch` with the length of the training loader; ``begin`` and
    ``end`` in epochs), or build it directly with ``epoch_length`` and ``begin`` / ``end`` in
    iterations (``by_epoch=False``).
    """

    def __init__(self, optimizer, param_name: str, epoch_length: int, warmup_epochs: float,
                 min_warmup_iters: int, begin: int, end: int, last_step: int, by_epoch: bool, verbose: bool) -> None:
        if by_epoch:
            raise ValueError(f'{type(self).__name__} is iteration-based: configure it with by_epoch=True and '
                             'convert_to_iter_based=True, or build it with by_epoch=False')
        if epoch_length < 1:
            raise ValueError(f'epoch_length must be positive, got {epoch_length}')
        self.epoch_length = epoch_length
        self.warmup_iters = max(round(warmup_epochs * epoch_length), min_warmup_iters)
        super().__init__(optimizer, param_name, begin=begin, end=end, last_step=last_step, by_epoch=False,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin: float = 0, end: float = INF, by_epoch: bool = True,
                              epoch_length: Optional[int] = None, **kwargs) -> '_YOLOv6Warmup':
        """The scheduler from a config in epochs (mmengine's ``convert_to_iter_based=True`` path)."""
        if not by_epoch or not epoch_length or epoch_length < 1:
            raise ValueError(f'{cls.__name__}.build_iter_from_epoch needs by_epoch=True and a positive '
                             f'epoch_length, got {by_epoch}, {epoch_length}')
        end = end if end == INF else int(end * epoch_length)
        return cls(*args, begin=int(begin * epoch_length), end=end, by_epoch=False, epoch_length=epoch_length,
                   **kwargs)

    def warmup_fraction(self) -> Optional[float]:
        """``t / W`` during the warm-up (``t <= W``), else ``None``."""
        return self.last_step / self.warmup_iters if self.last_step <= self.warmup_iters else None


@PARAM_SCHEDULERS.register_module()
class YOLOv6LR(_YOLOv6Warmup):
    """YOLOv6's lr: per-group linear warm-up, then a cosine stepped once per epoch.

    At iteration ``t`` of epoch ``e`` (both from 0), with ``W = max(round(warmup_epochs *
    epoch_length), min_warmup_iters)`` and a group's initial lr ``lr0``, the lr is
    ``lr0 * lf(e)`` with ``lf(e) = 1 + (lrf - 1) * (1 - cos(pi * e / max_epochs)) / 2``; while
    ``t <= W`` it is instead interpolated linearly from a start value (``warmup_bias_lr`` times the
    group's ``'yolov6_lr_scale'`` for the group tagged ``'bias'``, 0 for the others) at ``t = 0`` to
    ``lr0 * lf(e)`` at ``t = W``. Iteration-based; see :class:`_YOLOv6Warmup` for the config.

    Args:
        optimizer: The optimizer or optim wrapper.
        max_epochs: Epochs of the cosine (YOLOv6: all of training).
        epoch_length: Iterations per epoch.
        warmup_epochs: Warm-up length in epochs.
        min_warmup_iters: Shortest warm-up in iterations (YOLOv6: 1000).
        warmup_bias_lr: Start lr of the bias group (YOLOv6: 0.1).
        lrf: Final lr as a fraction of ``lr0``.
        begin: First iteration the scheduler acts on.
        end: Iteration it stops at.
        last_step: As mmengine's schedulers.
        by_epoch: Must be ``False`` here (see above).
        verbose: As mmengine's schedulers.
    """

    def __init__(self, optimizer, max_epochs: int, epoch_length: int, warmup_epochs: float = 3.0,
                 min_warmup_iters: int = 1000, warmup_bias_lr: float = 0.1, lrf: float = 0.01, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = False, verbose: bool = False) -> None:
        if max_epochs < 1:
            raise ValueError(f'max_epochs must be positive, got {max_epochs}')
        self.max_epochs = max_epochs
        self.warmup_bias_lr = warmup_bias_lr
        self.lrf = lrf
        super().__init__(optimizer, 'lr', epoch_length, warmup_epochs, min_warmup_iters, begin, end, last_step,
                         by_epoch, verbose)

    def lr_factor(self, epoch: int) -> float:
        """YOLOv6's ``lf(epoch)``: the cosine factor of ``lr0`` in that epoch."""
        return 1 + (self.lrf - 1) * (1 - math.cos(math.pi * epoch / self.max_epochs)) / 2

    def warmup_start(self, group: dict) -> float:
        """The lr a group's warm-up starts from."""
        if group.get(GROUP_KEY) == 'bias':
            return self.warmup_bias_lr * group.get(LR_SCALE_KEY, 1)
        return 0.0

    def _get_value(self) -> List[float]:
        target, fraction = self.lr_factor(self.last_step // self.epoch_length), self.warmup_fraction()
        values = []
        for base, group in zip(self.base_values, self.optimizer.param_groups):
            value = base * target
            if fraction is not None:
                start = self.warmup_start(group) if base > 0 else 0.0
                value = start + (value - start) * fraction
            values.append(value)
        return values


@PARAM_SCHEDULERS.register_module()
class YOLOv6Momentum(_YOLOv6Warmup):
    """YOLOv6's momentum warm-up: linear from ``warmup_momentum`` to each group's momentum over ``W``.

    At iteration ``t <= W`` the momentum is ``warmup_momentum + (m0 - warmup_momentum) * t / W``
    (``m0`` the group's initial momentum), afterwards ``m0``; ``W`` as in :class:`YOLOv6LR`.
    mmengine's ``LinearMomentum`` reaches ``m0`` one iteration earlier and cannot express
    ``max(epochs, iterations)``.

    Args:
        optimizer: The optimizer or optim wrapper (SGD: ``momentum``).
        epoch_length: Iterations per epoch.
        warmup_epochs: Warm-up length in epochs.
        min_warmup_iters: Shortest warm-up in iterations (YOLOv6: 1000).
        warmup_momentum: Momentum at iteration 0 (YOLOv6: 0.8).
        begin: First iteration the scheduler acts on.
        end: Iteration it stops at.
        last_step: As mmengine's schedulers.
        by_epoch: Must be ``False`` here (see :class:`_YOLOv6Warmup`).
        verbose: As mmengine's schedulers.
    """

    def __init__(self, optimizer, epoch_length: int, warmup_epochs: float = 3.0, min_warmup_iters: int = 1000,
                 warmup_momentum: float = 0.8, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = False, verbose: bool = False) -> None:
        self.warmup_momentum = warmup_momentum
        super().__init__(optimizer, 'momentum', epoch_length, warmup_epochs, min_warmup_iters, begin, end,
                         last_step, by_epoch, verbose)

    def _get_value(self) -> List[float]:
        fraction = self.warmup_fraction()
        if fraction is None:
            return list(self.base_values)
        return [self.warmup_momentum + (base - self.warmup_momentum) * fraction for base in self.base_values]


def build_yolov6_optimizer(model: nn.Module, lr: float, weight_decay: float,
                           paramwise_cfg: Optional[dict] = None, momentum: float = 0.937) -> OptimWrapper:
    """An SGD (Nesterov) optim wrapper with YOLOv6's groups, for scripts and tests.

    Args:
        model: The model.
        lr: Base lr.
        weight_decay: Weight decay before scaling.
        paramwise_cfg: :class:`YOLOv6OptimWrapperConstructor` options.
        momentum: SGD momentum.
    """
    constructor = YOLOv6OptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=lr, momentum=momentum, nesterov=True,
                                                 weight_decay=weight_decay)), paramwise_cfg)
    return constructor(model)
