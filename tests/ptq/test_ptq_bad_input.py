"""tools/ptq.py on hostile and careless input: nothing from a file runs, every bad value is one line
(exit 2), interruptions clean up, and a deployed file is evaluated from a fresh process."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from testing_utils import tiny_synthetic_config
from testing_utils import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
ptq = load_tool('ptq')
EXPLOIT = "_x = __import__('os').system('touch {marker}')\n"


def run(capsys, *argv) -> tuple:
    code = ptq.main([str(a) for a in argv] + ['--no-progress'])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, message: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith('ptq.py: error: ') and message in lines[0], err


def argparse_error(capsys, message: str, *argv) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ptq.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count('\n') == 1 and message in err, err


@pytest.fixture(scope='module')
def deployed(synthetic_checkpoint: Path, tmp_path_factory) -> Path:
    """A genuine ``model_fp32.pt`` written by a PTQ run (FP32 only, 2 evaluation images)."""
    out = tmp_path_factory.mktemp('deployed') / 'run'
    assert ptq.main([str(synthetic_checkpoint), '--out', str(out), '--max-eval-images', '2', '--no-progress']) == 0
    return out / 'model_fp32.pt'


def save_with_config(tmp_path: Path, checkpoint: Path, text: str, name: str = 'crafted.pth') -> Path:
    data = torch.load(checkpoint, weights_only=True)
    data['meta']['cfg'] = text
    torch.save(data, tmp_path / name)
    return tmp_path / name


def test_a_checkpoint_config_that_would_run_code_is_refused(synthetic_checkpoint: Path, tmp_path: Path,
                                                            capsys) -> None:
    marker = tmp_path / 'pwned'
    genuine = torch.load(synthetic_checkpoint, weights_only=True)['meta']['cfg']
    for i, text in enumerate([genuine + EXPLOIT.format(marker=marker),
                              f"model = dict(type=__import__('os').system('touch {marker}'))\n",
                              f"import os\nos.system('touch {marker}')\n",
                              f"model = [x for x in open('{marker}', 'w')]\n"]):
        path = save_with_config(tmp_path, synthetic_checkpoint, text, f'c{i}.pth')
        code, _, err = run(capsys, path, '--out', tmp_path / f'out{i}')
        one_line_error(code, err, 'is not plain data')
        assert 'nothing in it was run' in err and not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'c{i}.pth' for i in range(4)]


def test_a_model_file_whose_config_would_run_code_is_refused(deployed: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / 'pwned'
    extra = {'qarep_det_quantization.json': ''}
    module = torch.jit.load(str(deployed), _extra_files=extra)
    meta = json.loads(extra['qarep_det_quantization.json'])
    crafted = {
        'exploit': dict(meta, config=meta['config'] + EXPLOIT.format(marker=marker)),
        'no_backend': {k: v for k, v in meta.items() if k != 'backend'},
        'a_list': [meta],
        'syntax_error': dict(meta, config='model = dict(\n'),
        'unknown_backend': dict(meta, backend='tpu'),
    }
    messages = dict(exploit='is not plain data', no_backend='lacks the backend, the summary or the config',
                    a_list='its metadata is not qarep_det.quantization/1', syntax_error='is not valid config text',
                    unknown_backend="backend 'tpu' in its metadata")
    for name, content in crafted.items():
        path = tmp_path / f'{name}.pt'
        torch.jit.save(module, str(path), _extra_files={'qarep_det_quantization.json': json.dumps(content)})
        code, _, err = run(capsys, '--eval-int8', path)
        one_line_error(code, err, messages[name])
    assert not marker.exists()


def test_eval_of_a_shipped_file_in_a_fresh_process(deployed: Path) -> None:
    """As a user runs it: a new process, where nothing has set mmdet's default scope yet."""
    result = subprocess.run([sys.executable, 'tools/ptq.py', '--eval-int8', str(deployed), '--no-progress',
                             '--max-eval-images', '2'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((deployed.parent / 'report.json').read_text())
    assert f'| fp32_fused | {report["models"]["fp32_fused"]["coco/bbox_mAP"]:.3f} |' in result.stdout


def test_a_stored_config_without_validation_data(synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    """The demo trains with ``val_dataloader=None``; its checkpoint's config cannot evaluate."""
    cfg = tiny_synthetic_config(synthetic_checkpoint.parent / 'data')
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    path = save_with_config(tmp_path, synthetic_checkpoint, cfg.pretty_text)
    code, _, err = run(capsys, path, '--out', tmp_path / 'o')
    one_line_error(code, err, 'the config has no val_dataloader: pass a config file that has one with --config')
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('options, message', [
    (['a.b'], "--cfg-options takes KEY=VALUE items, got 'a.b'"),
    (['=3'], "--cfg-options: '=3' has an empty key or key part"),
    (['model..num_classes=3'], 'has an empty key or key part'),
    (['model.bbox_head.head_module.num_classes=abc'], 'cannot build the model of the config: TypeError'),
    (['train_dataloader.dataset.ann_file=[1,'], 'cannot parse the value'),
])
def test_bad_cfg_options(synthetic_checkpoint: Path, tmp_path: Path, capsys, options, message) -> None:
    code, _, err = run(capsys, synthetic_checkpoint, '--out', tmp_path / 'o', '--cfg-options', *options)
    one_line_error(code, err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('argv, message', [
    (['--max-eval-images', '-5'], 'argument --max-eval-images: must be at least 1, got -5'),
    (['--threads', '0'], 'argument --threads: must be at least 1, got 0'),
    (['--calib-images', 'many'], "argument --calib-images: expected a whole number, got 'many'"),
    (['--observer'], 'argument --observer: expected one argument'),
    (['--wbits', '3'], 'argument --wbits: invalid choice: 3 (choose from 8, 6, 4)'),
    (['--abits', '16'], 'argument --abits: invalid choice: 16 (choose from 8, 6)'),
    (['--wbits', 'four'], "argument --wbits: invalid int value: 'four'"),
    (['--method', 'brecq'], "argument --method: invalid choice: 'brecq' (choose from 'observer', 'repapq')"),
    (['--method', 'repapq', '--loss', 'l1'], "argument --loss: invalid choice: 'l1' (choose from 'mae', 'mse')"),
    (['--method', 'repapq', '--groups', '0'], "argument --groups: '0' is neither stage nor a positive whole number"),
    (['--method', 'repapq', '--iters', '0'], 'argument --iters: must be at least 1, got 0'),
    (['--loss', 'mse', '--iters', '5'], '--loss, --iters: only for --method repapq'),
    ([], 'give a checkpoint, or --eval-int8 MODEL_PT'),
])
def test_bad_arguments_are_one_line(capsys, argv, message) -> None:
    argparse_error(capsys, message, *(['ckpt.pth'] if argv else []), *argv)


@pytest.mark.parametrize('content, message', [
    ('', 'the calibration (training) set cannot be read'),
    ('{}', 'the calibration (training) set cannot be read'),
    (json.dumps(dict(images=[], annotations=[], categories=[dict(id=1, name='circle')])),
     'the calibration (training) set is empty'),
])
def test_unusable_calibration_sets(synthetic_checkpoint: Path, tmp_path: Path, capsys, content, message) -> None:
    ann = tmp_path / 'train.json'
    ann.write_text(content)
    code, _, err = run(capsys, synthetic_checkpoint, '--int8', '--out', tmp_path / 'o',
                       '--cfg-options', f'train_dataloader.dataset.ann_file={ann}')
    one_line_error(code, err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['train.json']


def test_output_folders_that_cannot_take_the_run(synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / 'a_file').write_text('mine')
    code, _, err = run(capsys, synthetic_checkpoint, '--out', tmp_path / 'a_file' / 'out')
    one_line_error(code, err, 'a_file is a file, not a folder')
    code, _, err = run(capsys, synthetic_checkpoint, '--out', tmp_path / 'a_file')
    one_line_error(code, err, 'a_file is a file, not a folder')
    users = tmp_path / 'users'
    users.mkdir()
    (users / 'config.py').write_text('my config')
    start = time.perf_counter()
    code, _, err = run(capsys, synthetic_checkpoint, '--out', users)
    one_line_error(code, err, 'already has config.py: choose another output folder; nothing was overwritten')
    assert time.perf_counter() - start < 5  # refused before any work
    assert (users / 'config.py').read_text() == 'my config' and (tmp_path / 'a_file').read_text() == 'mine'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a_file', 'users']


def test_an_immutable_output_folder(synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    frozen = tmp_path / 'frozen'
    frozen.mkdir()
    if subprocess.run(['chattr', '+i', str(frozen)], capture_output=True).returncode != 0:
        pytest.skip('chattr +i is not available here')
    try:
        code, _, err = run(capsys, synthetic_checkpoint, '--out', frozen)
        one_line_error(code, err, f'cannot write into {frozen}: Operation not permitted')
        code, _, err = run(capsys, synthetic_checkpoint, '--out', frozen / 'inner')
        one_line_error(code, err, f'cannot write into {frozen}: Operation not permitted')
    finally:
        subprocess.run(['chattr', '-i', str(frozen)], check=True)
    assert list(frozen.iterdir()) == []


@pytest.mark.parametrize('sig, code, word', [(signal.SIGTERM, 143, 'terminated'), (signal.SIGINT, 130, 'interrupted')])
def test_interrupted_runs_leave_nothing_behind(synthetic_checkpoint: Path, tmp_path: Path, sig, code, word) -> None:
    out = tmp_path / 'runs' / 'out'
    # --sensitivity (every layer quantized alone) keeps the run busy for seconds after it writes config.py
    proc = subprocess.Popen([sys.executable, 'tools/ptq.py', str(synthetic_checkpoint), '--int8', '--calib-images',
                             '4', '--sensitivity', '--out', str(out), '--no-progress'], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list((tmp_path / 'runs').glob('.out.partial-*/config.py')) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, sig)  # inside the run: its staging folder exists and holds a file
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert err.strip().splitlines()[-1] == f'ptq.py: {word}' and 'Traceback' not in err
    assert not (tmp_path / 'runs').exists()  # the staging folder and the folders the run made are gone
