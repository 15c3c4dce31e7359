from .reparam_eval_hook import ReparamEvalHook

__all__ = ['ReparamEvalHook']
