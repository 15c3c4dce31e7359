"""The one checkpoint path of every tool: read a file safely, take its config as data, build the
model, load the weights only when they fit.

Every failure a user can cause is :class:`~qarep_det.utils.errors.BadInput` with one line:
a file that does not load (:func:`~qarep_det.compat.load_checkpoint_file`), a dict that is not a
checkpoint, a config that does not build, weights that do not fit the model (missing or
unexpected keys, other shapes, another number of classes).

Provenance: mmengine 0.10.7 ``runner/checkpoint.py`` (``state_dict`` / ``meta`` layout, the
``module.`` prefix of DDP checkpoints, ``EMAHook`` storing the EMA weights in ``state_dict``).
"""
from collections.abc import Mapping
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from ..compat import load_checkpoint_file
from .config import apply_cfg_options, config_from_text, load_config
from .errors import BadInput


def read_checkpoint(path: str) -> dict:
    """The checkpoint at ``path`` as ``dict(state_dict=..., meta=...)``, loaded with the safe loader.

    A bare ``state_dict`` (a dict of tensors) is accepted too. Keys lose a DDP ``module.`` prefix.

    Raises:
        BadInput: Not a loadable file, or no mapping of names to tensors inside.
    """
    checkpoint = load_checkpoint_file(path)
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise BadInput(f'{path} holds no state_dict (a mapping of parameter names to tensors): not a model checkpoint')
    bad = [k for k, v in state_dict.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise BadInput(f'{path} is not a model checkpoint: its state_dict maps {bad[0]!r} to a '
                       f'{type(state_dict[bad[0]]).__name__}, not a tensor')
    meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
    return dict(state_dict={k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()},
                meta=meta if isinstance(meta, Mapping) else {}, path=str(path))


def checkpoint_config(checkpoint: dict) -> Config:
    """The config stored in the checkpoint's ``meta.cfg`` (as mmengine's Runner writes it), read as data.

    Raises:
        BadInput: There is none, or it is not plain config data (nothing in it is run).
    """
    text = checkpoint['meta'].get('cfg')
    if not text:
        raise BadInput(f'{checkpoint["path"]} stores no config: pass the config file with --config')
    return config_from_text(text, f'config stored in {checkpoint["path"]}')


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` under the config's default scope (without its ``init_cfg``: weights come next).

    Raises:
        BadInput: The config has no model, or it does not build (e.g. a ``--cfg-options`` value of
            the wrong type).
    """
    if not isinstance(cfg.get('model'), Mapping):
        raise BadInput('the config has no model dict')
    scope = cfg.get('default_scope') or 'mmdet'
    try:
        init_default_scope(scope)
        model_cfg = cfg.model.copy()
        model_cfg.pop('init_cfg', None)
        return MODELS.build(model_cfg)
    except Exception as err:  # noqa: BLE001  (a config is input: whatever it makes the build raise is one line)
        raise BadInput(f'cannot build the model of the config: {type(err).__name__}: {err}') from None


def _names(keys: List[str], limit: int = 3) -> str:
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_weights(model: nn.Module, checkpoint: dict, strict: bool = True) -> List[str]:
    """Load the checkpoint's weights into ``model`` if they fit it.

    Args:
        model: The model the config built.
        checkpoint: From :func:`read_checkpoint`.
        strict: Refuse missing and unexpected keys. Tensors of another shape are refused either way
            (they cannot be loaded); with ``strict=False`` they and the missing keys keep the
            model's own initialisation.

    Returns:
        The names left at their initial values (empty when ``strict``).

    Raises:
        BadInput: The weights do not fit; the message names the first keys and, for a shape
            mismatch in a classifier layer, says that the classes differ.
    """
    own = model.state_dict()
    weights = checkpoint['state_dict']
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    shapes = [k for k in own if k in weights and weights[k].shape != own[k].shape]
    where = f'{checkpoint["path"]} does not fit the model of the config'
    if shapes:
        key = shapes[0]
        hint = (' (the config\'s number of classes differs from the weights\')'
                if 'cls' in key or 'class' in key or 'conv_seg' in key else '')
        raise BadInput(f'{where}: {key} is {tuple(weights[key].shape)} in the checkpoint, '
                       f'{tuple(own[key].shape)} in the model{hint}')
    if strict and (missing or unexpected):
        parts = ([f'{len(missing)} weights missing ({_names(missing)})'] if missing else []) + \
                ([f'{len(unexpected)} unexpected ({_names(unexpected)})'] if unexpected else [])
        raise BadInput(f'{where}: {"; ".join(parts)}')
    loadable = {k: v for k, v in weights.items() if k in own}
    if not loadable:
        raise BadInput(f'{where}: none of its {len(weights)} weights belongs to the model')
    try:
        model.load_state_dict(loadable, strict=False)
    except Exception as err:  # noqa: BLE001  (e.g. a dtype that cannot be copied)
        raise BadInput(f'{where}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}') from None
    return missing


def model_from_checkpoint(path: str, config: Optional[str] = None, cfg_options: Optional[Sequence[str]] = None,
                          strict: bool = True, resolve: Optional[Callable[[Config], Config]] = None
                          ) -> Tuple[nn.Module, Config, dict]:
    """What every tool loads a checkpoint through: ``(model in eval mode, config, checkpoint)``.

    The checkpoint is read first, so a file that is not a checkpoint is refused before any
    config is read or model built.

    Args:
        path: The checkpoint file.
        config: A config file; default: the config stored in the checkpoint, read as data.
        cfg_options: ``KEY=VALUE`` overrides, applied before the model is built.
        strict: See :func:`load_weights`.
        resolve: Applied to the config before the model is built (e.g. the config's evaluation
            protocol, which a runner would apply).

    mmengine's ``EMAHook`` stores the EMA weights in ``state_dict`` (the raw ones in
    ``ema_state_dict``), so the weights loaded are the EMA weights when EMA was used.
    """
    checkpoint = read_checkpoint(path)
    cfg = load_config(config) if config is not None else checkpoint_config(checkpoint)
    apply_cfg_options(cfg, cfg_options)
    if resolve is not None:
        cfg = resolve(cfg)
    model = build_model(cfg)
    load_weights(model, checkpoint, strict)
    return model.eval(), cfg, checkpoint
