"""Training-loop extensions (hooks)."""
from .hooks import ProgressBarHook, ReparamEvalHook

__all__ = ['ProgressBarHook', 'ReparamEvalHook']
