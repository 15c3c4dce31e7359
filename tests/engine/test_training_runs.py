"""tools/train.py as users run it: two processes under torchrun (gloo on CPU), and kill -> --resume."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qarep_det.compat import load_checkpoint_file
from qarep_det.datasets.synthetic import generate_synthetic_coco

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = 'configs/synthetic/yolov6n_qarep_synthetic.py'


def tiny_options(root: Path, batch_size: int = 2) -> list:
    """--cfg-options: the synthetic config on ``root``, in-process data loading, no validation."""
    options = [f'train_dataloader.dataset.data_root={root}/', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', f'train_dataloader.batch_size={batch_size}',
               'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None',
               'randomness.seed=0', 'param_scheduler.1.begin=0']  # runs shorter than the warm-up: cosine from 0
    return options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synthetic') / 'set'
    return generate_synthetic_coco(out, num_train=8, num_val=0, image_size=(128, 128), seed=3)['data_root']


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_torchrun_two_processes_train_with_gloo(tiny_set: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
         '--master_port', str(free_port()), 'tools/train.py', SYNTHETIC, '--launcher', 'pytorch',
         '--work-dir', str(work_dir), '--cfg-options', *tiny_options(tiny_set), 'train_cfg.max_epochs=1',
         'sync_bn=torch'],  # as the COCO configs have it
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # 8 images over 2 processes at batch 2: 2 iterations per epoch (4 on one process).
    assert 'Epoch(train) [1][2/2]' in log and 'Epoch(train) [1][4/4]' not in log
    assert 'distributed run over gloo, rank 0 of 2' in log  # rank 1 logs only errors (mmengine)
    assert "no CUDA: sync_bn='torch' is turned off" in log
    checkpoint = load_checkpoint_file(work_dir / 'epoch_1.pth')
    assert checkpoint['meta']['epoch'] == 1 and checkpoint['meta']['iter'] == 2
    assert not any(k.startswith('module.') for k in checkpoint['state_dict'])  # saved unwrapped
    assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values() if v.is_floating_point())


def test_training_killed_mid_epoch_resumes_from_its_last_checkpoint(tiny_set: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    # batch 1: 8 iterations per epoch; the kill lands on the second iteration of epoch 2.
    command = [sys.executable, 'tools/train.py', SYNTHETIC, '--work-dir', str(work_dir), '--cfg-options',
               *tiny_options(tiny_set, batch_size=1), 'train_cfg.max_epochs=3']
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:  # kill on the first iteration logged in epoch 2
            lines.append(line)
            if 'Epoch(train) [2][2/8]' in line:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert any('Epoch(train) [2][2/8]' in line for line in lines), ''.join(lines[-40:])
    assert proc.returncode == -signal.SIGKILL
    assert (work_dir / 'epoch_1.pth').is_file() and not (work_dir / 'epoch_2.pth').exists()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')

    resumed = subprocess.run([*command, '--resume'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1, iter: 8' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2][8/8]' in log and 'Epoch(train) [3][8/8]' in log
    final = load_checkpoint_file(work_dir / 'epoch_3.pth')
    assert (final['meta']['epoch'], final['meta']['iter']) == (3, 24)
