"""Validate and test the re-parameterized (deployed) form of the model while training.

Provenance: the deploy-time conversion of Ding et al., "RepVGG", CVPR 2021, Sec. 3.3, applied at
every evaluation so the reported mAP is that of the network that will be shipped.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from ...registry import register_hook
from ...reparam import reparameterize_model


@register_hook
class ReparamEvalHook(Hook):
    """Swap in a fused copy of the model for every validation and test epoch.

    The training model is never modified: a fused copy is evaluated and the original is put back
    afterwards. Give it a priority after ``EMAHook`` (the default ``'LOW'`` is) so that the EMA
    weights, when used, are what gets fused.

    Args:
        validate: Fuse for validation epochs.
        test: Fuse for test epochs.
    """

    priority = 'LOW'

    def __init__(self, validate: bool = True, test: bool = True) -> None:
        self.validate = validate
        self.test = test
        self._training_model: Optional[nn.Module] = None

    def _swap_in_fused(self, runner) -> None:
        self._training_model = runner.model
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        runner.model = reparameterize_model(model).eval()
        runner.logger.info('evaluating the re-parameterized (fused) model')

    def _restore(self, runner) -> None:
        if self._training_model is not None:
            runner.model = self._training_model
            self._training_model = None

    def before_val_epoch(self, runner) -> None:
        if self.validate:
            self._swap_in_fused(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._restore(runner)

    def before_test_epoch(self, runner) -> None:
        if self.test:
            self._swap_in_fused(runner)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._restore(runner)
