"""From a training checkpoint to a model in eval mode: config, weights, consistency checks.

Every failure a user can cause raises :class:`PTQInputError` with a one-line message.
"""
from typing import Optional, Sequence, Tuple

from mmdet.registry import MODELS
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from torch import nn

from ..compat import CheckpointLoadError, load_checkpoint_file


class PTQInputError(Exception):
    """Bad input to the PTQ pipeline; the message is one line, fit to show a user."""


def load_checkpoint(path: str) -> dict:
    """The checkpoint dict, loaded with the safe (``weights_only``) loader."""
    try:
        checkpoint = load_checkpoint_file(path)
    except CheckpointLoadError as exc:
        raise PTQInputError(str(exc)) from None
    if 'state_dict' not in checkpoint:
        raise PTQInputError(f'{path} has no "state_dict": not an mmengine/mmdet training checkpoint')
    return checkpoint


def load_config(checkpoint: dict, config_path: Optional[str] = None,
                cfg_options: Optional[Sequence[str]] = None) -> Config:
    """The config given by ``config_path``, else the one stored in the checkpoint's ``meta``.

    Args:
        checkpoint: A checkpoint from :func:`load_checkpoint`.
        config_path: A config file that overrides the stored one.
        cfg_options: ``KEY=VALUE`` overrides, as ``--cfg-options`` of mmdet's tools.
    """
    if config_path is not None:
        try:
            cfg = Config.fromfile(config_path)
        except FileNotFoundError:
            raise PTQInputError(f'config not found: {config_path}') from None
        except Exception as exc:  # noqa: BLE001  (a syntax error or bad _base_ in the user's file)
            raise PTQInputError(f'config {config_path} could not be read: {type(exc).__name__}: '
                                f'{" ".join(str(exc).split())[:300]}') from None
    else:
        text = checkpoint.get('meta', {}).get('cfg')
        if not text:
            raise PTQInputError('the checkpoint stores no config: pass one with --config')
        cfg = Config.fromstring(text, file_format='.py')
    if cfg_options:
        options = {}
        for item in cfg_options:
            if '=' not in item:
                raise PTQInputError(f'--cfg-options takes KEY=VALUE, got {item!r}')
            key, value = item.split('=', 1)
            options[key] = DictAction._parse_iterable(value)
        cfg.merge_from_dict(options)
    return cfg


def build_model(cfg: Config, checkpoint: dict) -> nn.Module:
    """Build ``cfg.model`` and load the checkpoint's weights strictly, in eval mode on the CPU.

    mmengine's ``EMAHook`` stores the EMA weights in ``state_dict`` (and the raw ones in
    ``ema_state_dict``), so the weights loaded here are the EMA weights when EMA was used.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = cfg.model.copy()
    model_cfg.pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in checkpoint['state_dict'].items()}
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        first = details[0] if details else str(exc).splitlines()[0]
        hint = ' (do the config\'s classes match the weights?)' if 'size mismatch' in first else ''
        raise PTQInputError(f'the config does not match the checkpoint: {first}{hint}') from None
    return model.eval()


def model_num_classes(model: nn.Module) -> Optional[int]:
    """Number of classes of the detector's head, if it declares one."""
    head = getattr(model, 'bbox_head', None)
    return getattr(head, 'num_classes', None)


def check_classes(model: nn.Module, dataset_classes: Tuple[str, ...], split: str) -> None:
    """Refuse a dataset whose class list does not fit the model's head."""
    num_classes = model_num_classes(model)
    if num_classes is not None and len(dataset_classes) != num_classes:
        raise PTQInputError(f'the {split} set has {len(dataset_classes)} classes but the model predicts '
                            f'{num_classes}: the config\'s classes do not match the weights')
