from .batch_assigners import BatchAssignResult, BatchATSSAssigner, BatchTaskAlignedAssigner

__all__ = ['BatchAssignResult', 'BatchATSSAssigner', 'BatchTaskAlignedAssigner']
