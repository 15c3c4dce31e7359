"""Post-training quantization pipeline (``tools/ptq.py``): loading, evaluation, report."""
from .loading import PTQInputError
from .pipeline import FusionCheckError, PTQOptions, run_ptq
from .report import metrics_table

__all__ = ['FusionCheckError', 'PTQInputError', 'PTQOptions', 'metrics_table', 'run_ptq']
