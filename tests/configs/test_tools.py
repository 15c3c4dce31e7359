"""tools/train.py and tools/test.py: argument handling, one-line errors, and a real train -> test run."""
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qarep_det.datasets.synthetic import generate_synthetic_coco
from testing_utils import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = 'configs/synthetic/yolov6n_qarep_synthetic.py'


train_tool, test_tool = load_tool('train'), load_tool('test')


def one_line_error(capsys, prog: str) -> str:
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f'{prog}: error: ') and 'Traceback' not in err
    return err


def test_test_fused_adds_the_reparam_eval_hook_for_testing_only(synthetic_checkpoint: Path) -> None:
    data = data_options(synthetic_checkpoint.parent / 'data')
    cfg = test_tool.build_config(test_tool.parse_args([SYNTHETIC, str(synthetic_checkpoint), '--fused',
                                                      '--cfg-options', *data]))
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'ReparamEvalHook']
    assert cfg.custom_hooks[-1] == dict(type='ReparamEvalHook', validate=False, test=True)
    assert cfg.load_from == str(synthetic_checkpoint)
    assert cfg.work_dir == str(Path('work_dirs') / 'yolov6n_qarep_synthetic')
    plain = test_tool.build_config(test_tool.parse_args([SYNTHETIC, str(synthetic_checkpoint), '--cfg-options', *data]))
    assert [h['type'] for h in plain.custom_hooks] == ['EMAHook']


def test_train_arguments_set_work_dir_resume_and_lr_scaling(synthetic_checkpoint: Path, tmp_path: Path) -> None:
    data = data_options(synthetic_checkpoint.parent / 'data')
    cfg = train_tool.build_config(train_tool.parse_args([SYNTHETIC, '--auto-scale-lr', '--resume',
                                                        '--cfg-options', 'train_cfg.max_epochs=30', *data]))
    assert cfg.work_dir == str(Path('work_dirs') / 'yolov6n_qarep_synthetic')
    assert cfg.resume is True and cfg.load_from is None  # the latest checkpoint of the work dir
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16) and cfg.train_cfg.max_epochs == 30
    assert cfg.launcher == 'none'
    cfg = train_tool.build_config(train_tool.parse_args([SYNTHETIC, '--resume', str(synthetic_checkpoint),
                                                        '--work-dir', str(tmp_path), '--cfg-options', *data]))
    assert (cfg.resume, cfg.load_from, cfg.work_dir) == (True, str(synthetic_checkpoint), str(tmp_path))


@pytest.mark.parametrize('argv, message', [
    (['no/such/config.py'], 'no such config file: no/such/config.py'),
    ([SYNTHETIC, '--resume', 'no/such.pth'], 'checkpoint not found: no/such.pth'),
    ([SYNTHETIC, '--cfg-options', 'a.b'], "--cfg-options takes KEY=VALUE items, got 'a.b'"),
    ([SYNTHETIC, '--cfg-options', '=3'], "--cfg-options: '=3' has an empty key or key part"),
    ([SYNTHETIC, '--cfg-options', 'model.bbox_head.head_module.num_classes=abc'],
     'cannot build the model of the config: TypeError'),
    ([SYNTHETIC, '--cfg-options', 'train_dataloader.dataset.data_root=no/such/root/'],
     'train_dataloader: annotation file no/such/root/annotations/instances_train.json not found: the dataset is not '
     'where the config says (see docs/configs.md, or set train_dataloader.dataset.data_root with --cfg-options)'),
    ([SYNTHETIC, '--cfg-options', 'train_cfg.max_epochs=8'],
     'param_scheduler[1] (CosineAnnealingLR) begins at epoch 8 but the run ends at epoch 8: train longer'),
    (['configs/yolov6s_qarep.py'], 'train_dataloader: annotation file data/coco/annotations/instances_train2017.json '
                                   'not found'),
])
def test_train_bad_input_exits_2_with_one_line(capsys, tmp_path: Path, monkeypatch, argv, message) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert train_tool.main([*argv[:1], '--work-dir', str(tmp_path / 'work'), *argv[1:]]) == 2
    assert message in one_line_error(capsys, 'train.py')
    assert list(tmp_path.iterdir()) == []  # no work_dir/<timestamp>


@pytest.mark.parametrize('argv, message', [
    ([], 'the following arguments are required: config'),
    ([SYNTHETIC, '--launcher', 'mpi'], "argument --launcher: invalid choice: 'mpi'"),
])
def test_train_usage_errors_exit_2_with_one_line(capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_tool.main(argv)
    assert exit_info.value.code == 2
    assert message in one_line_error(capsys, 'train.py')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only launcher errors')
@pytest.mark.parametrize('launcher, message', [
    ('slurm', '--launcher slurm needs CUDA GPUs; on CPU start the processes with torchrun and --launcher pytorch'),
    ('pytorch', '--launcher pytorch: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set (start the processes with '
                'torchrun)'),
])
def test_train_launcher_errors_without_gpu(capsys, monkeypatch, synthetic_checkpoint: Path, launcher,
                                           message) -> None:
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    data = data_options(synthetic_checkpoint.parent / 'data')
    assert train_tool.main([SYNTHETIC, '--launcher', launcher, '--cfg-options', *data]) == 2
    assert message in one_line_error(capsys, 'train.py')


def test_train_progress_bar_adds_the_hook_and_quiets_the_log(synthetic_checkpoint: Path) -> None:
    data = data_options(synthetic_checkpoint.parent / 'data')
    cfg = train_tool.build_config(train_tool.parse_args([SYNTHETIC, '--progress-bar', '--cfg-options', *data]))
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'ProgressBarHook']
    assert cfg.default_hooks.logger.interval == 100


@pytest.mark.skipif(torch.cuda.is_available(), reason='--amp is valid with a GPU')
def test_train_amp_without_gpu_exits_2(capsys) -> None:
    assert train_tool.main([SYNTHETIC, '--amp']) == 2
    assert '--amp needs a CUDA GPU' in one_line_error(capsys, 'train.py')


def test_train_broken_config_exits_2(tmp_path: Path, capsys) -> None:
    broken = tmp_path / 'broken.py'
    broken.write_text("_base_ = './missing_base.py'\n")
    assert train_tool.main([str(broken)]) == 2
    assert f'cannot load config {broken}' in one_line_error(capsys, 'train.py')


@pytest.mark.parametrize('extra, message', [
    (['no/such.pth'], 'checkpoint not found: no/such.pth'),
    (['CKPT', '--out', 'results.json'], '--out must be a .pkl or .pickle file'),
    (['CKPT', '--cfg-options', 'model.bbox_head.head_module.num_classes=5'],
     "bbox_head.head_module.cls_preds.0.weight is (3, 32, 1, 1) in the checkpoint, (5, 32, 1, 1) in the model "
     "(the config's number of classes differs from the weights')"),
    (['CKPT', '--cfg-options', 'a.b'], "--cfg-options takes KEY=VALUE items, got 'a.b'"),
    (['CKPT', '--cfg-options', '=3'], "--cfg-options: '=3' has an empty key or key part"),
    (['CKPT', '--cfg-options', 'model.bbox_head.head_module.num_classes=abc'],
     'cannot build the model of the config: TypeError'),
    (['CKPT', '--cfg-options', 'test_dataloader.dataset.data_root=/no/such/'],
     'test_dataloader: annotation file /no/such/annotations/instances_val.json not found'),
])
def test_test_bad_input_exits_2_with_one_line(synthetic_checkpoint: Path, tmp_path: Path, capsys, extra,
                                              message) -> None:
    argv = [SYNTHETIC] + [str(synthetic_checkpoint) if a == 'CKPT' else a for a in extra]
    data = data_options(synthetic_checkpoint.parent / 'data')
    argv += (['--cfg-options', *data] if '--cfg-options' not in argv else data)
    if message.startswith('test_dataloader'):
        argv = [a for a in argv if not a.startswith('test_dataloader.dataset.data_root=') or '/no/such/' in a]
    assert test_tool.main([*argv, '--work-dir', str(tmp_path / 'work')]) == 2
    assert message in one_line_error(capsys, 'test.py')
    assert list(tmp_path.iterdir()) == []  # no work_dir/<timestamp>


def test_work_dir_and_out_under_a_file(synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / 'a_file'
    blocker.write_text('mine')
    data = data_options(synthetic_checkpoint.parent / 'data')
    assert train_tool.main([SYNTHETIC, '--work-dir', str(blocker / 'work'), '--cfg-options', *data]) == 2
    assert f'{blocker} is a file, not a folder' in one_line_error(capsys, 'train.py')
    argv = [SYNTHETIC, str(synthetic_checkpoint), '--cfg-options', *data]
    assert test_tool.main([*argv, '--work-dir', str(blocker / 'work')]) == 2
    assert f'{blocker} is a file, not a folder' in one_line_error(capsys, 'test.py')
    assert test_tool.main([*argv, '--work-dir', str(tmp_path / 'w'), '--out', str(blocker / 'r.pkl')]) == 2
    assert f'{blocker} is a file, not a folder' in one_line_error(capsys, 'test.py')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file'] and blocker.read_text() == 'mine'


def test_test_partial_loading_is_explicit(synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    state = torch.load(synthetic_checkpoint, weights_only=True)
    state['state_dict'].pop(next(iter(state['state_dict'])))
    partial = tmp_path / 'partial.pth'
    torch.save(state, partial)
    argv = [SYNTHETIC, str(partial), '--cfg-options', *data_options(synthetic_checkpoint.parent / 'data')]
    assert test_tool.main(argv) == 2
    assert '1 weights missing (backbone.stem' in one_line_error(capsys, 'test.py')
    cfg = test_tool.build_config(test_tool.parse_args([*argv[:2], '--partial', *argv[2:]]))
    assert cfg.load_from == str(partial)


def test_test_missing_checkpoint_from_the_shell_is_one_line_without_traceback() -> None:
    proc = subprocess.run([sys.executable, 'tools/test.py', SYNTHETIC, 'no/such.pth'], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == 'test.py: error: checkpoint not found: no/such.pth\n'


def data_options(root: Path) -> list:
    """--cfg-options pointing the synthetic config at ``root``, without worker processes."""
    options = [f'val_evaluator.ann_file={root}/annotations/instances_val.json',
               f'test_evaluator.ann_file={root}/annotations/instances_val.json']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={root}/', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False', f'{loader}.batch_size=4']
    return options


@pytest.mark.slow
def test_train_then_test_on_a_tiny_synthetic_set(tmp_path: Path) -> None:
    root = generate_synthetic_coco(tmp_path / 'synthetic', num_train=8, num_val=4, seed=1)['data_root']
    work_dir = tmp_path / 'work'
    train = subprocess.run(
        [sys.executable, 'tools/train.py', SYNTHETIC, '--work-dir', str(work_dir), '--cfg-options',
         *data_options(root), 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.interval=1', 'param_scheduler.1.begin=0'],  # 1 epoch: the cosine from the start
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    log = train.stdout + train.stderr
    assert 'Epoch(train) [1][2/2]' in log and 'coco/bbox_mAP' in log  # 8 images, batch 4: 2 iterations
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file() and 'ema_state_dict' in torch.load(checkpoint, map_location='cpu')

    out = tmp_path / 'predictions.pkl'
    test = subprocess.run(
        [sys.executable, 'tools/test.py', SYNTHETIC, str(checkpoint), '--work-dir', str(tmp_path / 'test'),
         '--out', str(out), '--cfg-options', *data_options(root)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert test.returncode == 0, test.stderr[-2000:]
    summary = test.stdout.strip().splitlines()[-1]
    assert summary.startswith('coco/bbox_mAP: ') and 'coco/bbox_mAP_50: ' in summary
    logged = re.findall(r'Epoch\(val\) \[1\]\[\d+/\d+\]\s+coco/bbox_mAP: ([0-9.]+)', log)
    assert logged and float(summary.split()[1]) == pytest.approx(float(logged[-1]), abs=1e-3)  # same model, same set
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 4 and all('pred_instances' in p for p in predictions)
    assert all(p['pred_instances']['bboxes'].shape[1] == 4 for p in predictions)

    fused = subprocess.run(
        [sys.executable, 'tools/test.py', SYNTHETIC, str(checkpoint), '--work-dir', str(tmp_path / 'test_fused'),
         '--fused', '--cfg-options', *data_options(root)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert fused.returncode == 0, fused.stderr[-2000:]
    assert 'evaluating the re-parameterized (fused) model' in fused.stdout + fused.stderr
    assert fused.stdout.strip().splitlines()[-1] == summary  # fusion changes no metric


def test_train_interrupted_is_one_line_and_resumable(synthetic_checkpoint: Path, tmp_path: Path) -> None:
    """Ctrl-C mid-run: exit 130 and one line, no traceback (the run continues later with --resume)."""
    import signal
    import time
    work_dir = tmp_path / 'work'
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', SYNTHETIC, '--work-dir', str(work_dir), '--cfg-options',
         *data_options(synthetic_checkpoint.parent / 'data'), 'train_cfg.max_epochs=50',
         'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1'],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(work_dir.glob('*/*.log')) and time.monotonic() < deadline:  # the runner is up
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    time.sleep(3)  # inside the training loop
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == 'train.py: interrupted' and 'Traceback' not in err
