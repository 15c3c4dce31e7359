"""ReparamEvalHook: validation runs on a fused copy; the training model is left untouched."""
from pathlib import Path

import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from qarep_det.models.layers import QARepVGGBlock, RepModule


class Images(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(index)))


class RepNet(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.block = QARepVGGBlock(4, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.block(inputs)
        if mode == 'loss':
            return dict(loss=out.square().mean())
        deployed = all(m.deploy for m in self.modules() if isinstance(m, RepModule))
        return [dict(deployed=deployed, mean=o.mean().item()) for o in out]


class RecordingMetric(BaseMetric):
    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(deployed=float(all(r['deployed'] for r in results)), mean=sum(r['mean'] for r in results))


def run(tmp_path: Path, hooks: list) -> Runner:
    torch.manual_seed(0)  # the same initial weights for every run
    runner = Runner(
        model=RepNet(), work_dir=str(tmp_path), default_scope='mmdet', randomness=dict(seed=0),
        train_dataloader=dict(dataset=Images(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                              collate_fn=dict(type='default_collate')),
        val_dataloader=dict(dataset=Images(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                            collate_fn=dict(type='default_collate')),
        val_evaluator=Evaluator([RecordingMetric()]), val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),  # lr 0: weights stay fixed, outputs comparable
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1), custom_hooks=hooks,
        default_hooks=dict(checkpoint=None), log_level='WARNING',
        experiment_name=f'reparam_eval_{tmp_path.name}')  # one message hub per run
    runner.train()
    return runner


def test_validation_runs_on_the_fused_model(tmp_path: Path) -> None:
    plain = run(tmp_path / 'plain', [])
    fused = run(tmp_path / 'fused', [dict(type='ReparamEvalHook')])
    plain_metrics = plain.message_hub.get_scalar('val/mean').current()
    fused_metrics = fused.message_hub.get_scalar('val/mean').current()
    assert plain.message_hub.get_scalar('val/deployed').current() == 0.0
    assert fused.message_hub.get_scalar('val/deployed').current() == 1.0
    assert abs(plain_metrics - fused_metrics) < 1e-4 * max(1.0, abs(plain_metrics))
    # The training model is back in place and still in its training form.
    assert isinstance(fused.model.block.conv_kxk, nn.Module) and not fused.model.block.deploy

