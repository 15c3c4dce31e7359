"""Post-training quantization pipeline (``tools/ptq.py``): the run, the evaluation of a deployed file, the report."""
from .pipeline import FusionCheckError, PTQOptions, evaluate_deployed, run_ptq
from .report import metrics_table

__all__ = ['FusionCheckError', 'PTQOptions', 'evaluate_deployed', 'metrics_table', 'run_ptq']
