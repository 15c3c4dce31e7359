"""Training-loop extensions (hooks)."""
from .hooks import ReparamEvalHook

__all__ = ['ReparamEvalHook']
