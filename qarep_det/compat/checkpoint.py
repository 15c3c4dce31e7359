"""Safe loading of mmengine 0.10.7 checkpoints under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default: a restricted unpickler that builds only
allow-listed types and calls only allow-listed functions. mmengine 0.10.7 checkpoints carry more
than tensors: the message hub pickles ``HistoryBuffer`` objects (whose statistics table refers to
``HistoryBuffer.min`` etc. through ``getattr(HistoryBuffer, 'min')`` reductions), numpy arrays,
scalars and dtypes (bytes through ``_codecs.encode``). Rather than falling back to
``weights_only=False`` (which runs arbitrary code from the file), this module extends the
allow-list with exactly those types, and maps the pickle global ``builtins.getattr`` to a
restricted ``getattr`` that only reads the statistics methods of ``HistoryBuffer``.

Everything else in a crafted file (``os.system``, ``eval``, ``subprocess.Popen``, any other
``getattr``) is still refused by torch with ``UnpicklingError``.
"""
import _codecs
import os
from pathlib import Path
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from ..utils.errors import BadInput

_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _restricted_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` as a pickle reduction, limited to ``HistoryBuffer``'s statistics methods."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) while loading a checkpoint')


def _numpy_globals() -> List[Any]:
    """numpy types a checkpoint's arrays and scalars are rebuilt from (numpy 1.x and 2.x names)."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def checkpoint_safe_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """The allow-list added to torch's ``weights_only`` unpickler for mmengine checkpoints."""
    return [HistoryBuffer, _codecs.encode, *_numpy_globals(), (_restricted_getattr, 'builtins.getattr')]


def register_checkpoint_safe_globals() -> None:
    """Extend torch's ``weights_only`` allow-list (idempotent; nothing else is changed)."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _unpickling_reason(exc: Exception) -> str:
    """The specific reason inside torch's long ``weights_only`` error message, on one line."""
    paragraphs = [p.strip() for p in str(exc).split('\n\n') if p.strip()]
    specific = [p for p in paragraphs[1:] if not p.startswith('Check the documentation')]
    reason = specific[0] if specific else (paragraphs[0] if paragraphs else type(exc).__name__)
    return ' '.join(reason.split())


def load_checkpoint_file(path: str, map_location: str = 'cpu') -> dict:
    """Load an mmengine/PyTorch checkpoint with torch's restricted (``weights_only``) unpickler.

    Any file that does not parse as a checkpoint (random bytes, a truncated or bit-flipped file,
    a pickle of other objects) is :class:`BadInput`, whatever exception the unpickler raised:
    for an untrusted file, "does not load" is the only verdict, and it is one line.

    Args:
        path: Path of the ``.pth`` file.
        map_location: Passed to ``torch.load``.

    Returns:
        The checkpoint dict.

    Raises:
        BadInput: The file is missing, unreadable, not a checkpoint, or holds objects outside
            the allow-list (a crafted file that would run code).
    """
    register_checkpoint_safe_globals()
    file = Path(path)
    if not file.exists():
        raise BadInput(f'checkpoint not found: {path}')
    if file.is_dir():
        raise BadInput(f'checkpoint is a directory, not a file: {path}')
    if not os.access(file, os.R_OK):
        raise BadInput(f'checkpoint not readable (permission denied): {path}')
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except torch.serialization.pickle.UnpicklingError as exc:
        reason = _unpickling_reason(exc)
        if 'GLOBAL' in reason or 'refused getattr' in reason:
            raise BadInput(f'refused to load {path}: it holds objects outside the safe allow-list ({reason})') from None
        raise BadInput(f'not a PyTorch checkpoint: {path} ({reason[:200]})') from None
    except Exception as exc:  # noqa: BLE001  (truncated zip, bad magic, IndexError/struct.error from garbage ...)
        reason = _unpickling_reason(exc) or type(exc).__name__
        raise BadInput(f'not a PyTorch checkpoint: {path} ({type(exc).__name__}: {reason[:200]})') from None
    if not isinstance(checkpoint, dict):
        raise BadInput(f'not a checkpoint dict: {path} holds a {type(checkpoint).__name__}')
    return checkpoint
