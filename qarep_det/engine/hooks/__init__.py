from .progress_bar_hook import ProgressBarHook
from .reparam_eval_hook import ReparamEvalHook

__all__ = ['ProgressBarHook', 'ReparamEvalHook']
