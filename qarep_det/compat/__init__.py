"""torch 2.14 / mmengine 0.10.7 glue: safe checkpoint loading, nothing else."""
from .checkpoint import checkpoint_safe_globals, load_checkpoint_file, register_checkpoint_safe_globals

__all__ = ['checkpoint_safe_globals', 'load_checkpoint_file', 'register_checkpoint_safe_globals']
