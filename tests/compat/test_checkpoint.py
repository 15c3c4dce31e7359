"""Safe loading of mmengine checkpoints under torch 2.14: real checkpoints load, crafted ones are refused."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

from qarep_det.compat import load_checkpoint_file
from qarep_det.utils import BadInput


class ToyDataset(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        x = torch.full((2,), float(index))
        return dict(inputs=x, labels=x.sum(0, keepdim=True))


class ToyModel(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.bn(self.linear(inputs))
        if mode == 'loss':
            return dict(loss=nn.functional.mse_loss(out, labels))
        return out


def make_runner(work_dir: Path, max_epochs: int, resume: bool = False) -> Runner:
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type=DefaultSampler, shuffle=False), batch_size=4,
                              collate_fn=dict(type='default_collate'), num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmdet', log_level='WARNING', experiment_name=f'toy_{max_epochs}_{resume}')


@pytest.fixture(scope='module')
def trained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint written by an actual (short) mmengine training run."""
    work_dir = tmp_path_factory.mktemp('train')
    make_runner(work_dir, max_epochs=2).train()
    return work_dir


def test_real_checkpoint_loads_with_weights_only(trained_checkpoint: Path) -> None:
    checkpoint = torch.load(trained_checkpoint / 'epoch_2.pth', weights_only=True)
    log_scalars = checkpoint['message_hub']['log_scalars']
    assert isinstance(log_scalars['train/loss'], HistoryBuffer)
    assert checkpoint['meta']['epoch'] == 2
    assert set(checkpoint['state_dict']) >= {'linear.weight', 'bn.running_mean'}


def test_real_checkpoint_needs_the_allow_list(trained_checkpoint: Path) -> None:
    """Without importing qarep_det, torch 2.14 refuses the same file: the allow-list is what makes it load."""
    code = f'import torch; torch.load({str(trained_checkpoint / "epoch_2.pth")!r})'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode != 0 and 'weights_only' in result.stderr


def test_mmengine_load_checkpoint_and_resume(trained_checkpoint: Path) -> None:
    model = ToyModel()
    load_checkpoint(model, str(trained_checkpoint / 'epoch_1.pth'), map_location='cpu')
    runner = make_runner(trained_checkpoint, max_epochs=3, resume=True)
    runner.train()
    assert runner.epoch == 3 and runner.iter == 6  # resumed after epoch 2, not restarted
    assert (trained_checkpoint / 'epoch_3.pth').is_file()


def test_numpy_payloads_load(tmp_path: Path) -> None:
    payload = dict(array=np.arange(6, dtype=np.float32).reshape(2, 3), ints=np.array([1, 2], dtype=np.int64),
                   scalar=np.float64(2.5), flag=np.bool_(True), dtype=np.dtype('uint8'),
                   buffer=HistoryBuffer([1.0, 2.0], [1, 1]))
    torch.save(payload, tmp_path / 'np.pth')
    loaded = load_checkpoint_file(str(tmp_path / 'np.pth'))
    assert np.array_equal(loaded['array'], payload['array']) and loaded['scalar'] == 2.5
    assert loaded['dtype'] == np.uint8 and loaded['buffer'].mean() == 1.5


class RunsCode:
    """Pickles as a call to os.system: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class ReadsPrivateAttribute:
    """Pickles as getattr(HistoryBuffer, '__init__'): a getattr outside the statistics methods."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_crafted_checkpoint_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / 'pwned'
    torch.save(dict(state_dict={}, meta=RunsCode(marker)), tmp_path / 'evil.pth')
    with pytest.raises(torch.serialization.pickle.UnpicklingError):
        torch.load(tmp_path / 'evil.pth')
    with pytest.raises(BadInput, match=r'^refused to load .*evil\.pth: it holds objects outside'):
        load_checkpoint_file(str(tmp_path / 'evil.pth'))
    assert not marker.exists()


def test_restricted_getattr_refuses_other_attributes(tmp_path: Path) -> None:
    torch.save(dict(x=ReadsPrivateAttribute()), tmp_path / 'getattr.pth')
    with pytest.raises(BadInput, match=r"refused getattr\(HistoryBuffer, '__init__'\)"):
        load_checkpoint_file(str(tmp_path / 'getattr.pth'))


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match='^checkpoint not found: '):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))
    with pytest.raises(BadInput, match='^checkpoint is a directory'):
        load_checkpoint_file(str(tmp_path))
    (tmp_path / 'text.pth').write_text('not a checkpoint\n')
    with pytest.raises(BadInput, match='^not a PyTorch checkpoint: ') as info:
        load_checkpoint_file(str(tmp_path / 'text.pth'))
    assert '\n' not in str(info.value)
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(BadInput, match='^not a checkpoint dict: .* holds a list'):
        load_checkpoint_file(str(tmp_path / 'list.pth'))


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04truncated zip', b'\x80\x02}q\x00'],
                         ids=['empty', 'zip', 'pickle'])
def test_truncated_files_give_one_line_errors(tmp_path: Path, content: bytes) -> None:
    (tmp_path / 'bad.pth').write_bytes(content)
    with pytest.raises(BadInput, match='^not a PyTorch checkpoint: ') as info:
        load_checkpoint_file(str(tmp_path / 'bad.pth'))
    assert '\n' not in str(info.value)
