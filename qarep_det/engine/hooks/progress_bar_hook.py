"""A tqdm progress bar over the training iterations (and one over each validation), for interactive runs.

mmengine reports progress as log lines every ``logger.interval`` iterations; on a CPU, where an
epoch takes minutes, a bar with the rate, the ETA and the running loss is easier to follow.
"""
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from tqdm import tqdm

from ...registry import register_hook


@register_hook
class ProgressBarHook(Hook):
    """Shows training (and validation) progress as tqdm bars on the main process.

    Args:
        loss_key: The entry of the training step's outputs shown beside the bar.
        validation: Also show a bar for each validation run.
    """

    priority = 'VERY_LOW'

    def __init__(self, loss_key: str = 'loss', validation: bool = True) -> None:
        self.loss_key = loss_key
        self.validation = validation
        self._train_bar: Optional[tqdm] = None
        self._val_bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        if is_main_process():
            self._train_bar = tqdm(total=runner.max_iters, initial=runner.iter, desc='training', unit='iter',
                                   dynamic_ncols=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._train_bar is None:
            return
        self._train_bar.update(runner.iter + 1 - self._train_bar.n)
        if outputs and self.loss_key in outputs:
            self._train_bar.set_postfix(epoch=runner.epoch + 1, loss=f'{float(outputs[self.loss_key]):.3f}',
                                        refresh=False)

    def after_train(self, runner) -> None:
        if self._train_bar is not None:
            self._train_bar.close()
            self._train_bar = None

    def before_val_epoch(self, runner) -> None:
        if self.validation and is_main_process():
            self._val_bar = tqdm(total=len(runner.val_dataloader), desc='validation', unit='batch', leave=False,
                                 dynamic_ncols=True)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._val_bar is not None:
            self._val_bar.update(1)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._val_bar is not None:
            self._val_bar.close()
            self._val_bar = None
