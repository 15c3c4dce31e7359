"""ProgressBarHook: a training bar that follows the runner's iterations (resumed runs start where they
left off) and shows the loss, and a bar per validation run."""
from types import SimpleNamespace

import torch
from mmdet.registry import HOOKS


def test_bars_follow_the_runner(capsys) -> None:
    hook = HOOKS.build(dict(type='ProgressBarHook'))
    runner = SimpleNamespace(max_iters=10, iter=4, epoch=2, val_dataloader=[0, 1, 2])  # resumed at iter 4
    hook.before_train(runner)
    assert hook._train_bar.n == 4 and hook._train_bar.total == 10
    for _ in range(6):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.23456)))
        runner.iter += 1
    assert hook._train_bar.n == 10
    hook.before_val_epoch(runner)
    for i in range(3):
        hook.after_val_iter(runner, i)
    assert hook._val_bar.n == 3
    hook.after_val_epoch(runner)
    hook.after_train(runner)
    assert hook._train_bar is None and hook._val_bar is None
    err = capsys.readouterr().err
    assert 'training: 100%' in err and '10/10' in err and 'loss=1.235' in err and 'epoch=3' in err
    assert 'validation' in err
