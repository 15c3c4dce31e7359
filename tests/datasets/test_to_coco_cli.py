"""The ``tools/dataset_converters/to_coco.py`` CLI: output, exit code 2 and a one-line message on bad input."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import List

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / 'tools' / 'dataset_converters' / 'to_coco.py'


@pytest.fixture(scope='module')
def cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location('to_coco_cli', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_failing(cli: ModuleType, argv: List[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI expecting exit code 2 (returned, or raised by argparse); returns the one stderr line."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('to_coco.py: error: ')
    return lines[0]


def test_cli_converts_and_refuses_to_overwrite(cli: ModuleType, yolo_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'out'
    assert cli.main(['yolo', str(yolo_root), '--out', str(out), '--splits', 'train']) == 0
    assert f'train: 5 images, 5 boxes -> {out / "instances_train.json"}' in capsys.readouterr().out
    first = (out / 'instances_train.json').read_bytes()
    assert 'output exists' in run_failing(cli, ['yolo', str(yolo_root), '--out', str(out)], capsys)
    assert (out / 'instances_train.json').read_bytes() == first and not (out / 'instances_val.json').exists()
    argv = ['yolo', str(yolo_root), '--out', str(out), '--overwrite', '--classes', 'x', 'y', 'z']
    assert cli.main(argv) == 0
    names = [c['name'] for c in json.loads((out / 'instances_train.json').read_text())['categories']]
    assert names == ['x', 'y', 'z']


@pytest.mark.parametrize('args, message', [
    (['voc', '{tmp}/missing', '--out', '{tmp}/out'], 'no such directory'),
    (['voc', '{voc}', '--out', '{tmp}/out', '--splits', 'nosuch'], 'split(s) not found'),
    (['yolo', '{yolo}', '--out', '{tmp}/out', '--splits', 'test'], 'split(s) not found'),
    (['yolo', '{yolo}', '--out', '{tmp}/out', '--data-yaml', '{tmp}/missing.yaml'], 'cannot read class names'),
    (['coco', '{yolo}', '--out', '{tmp}/out'], "invalid choice: 'coco'"),
    (['yolo', '{yolo}'], 'the following arguments are required: --out'),
    (['yolo', '{yolo}', '--out', '{tmp}/out', '--classes', 'a', '--data-yaml', 'd.yaml'], 'not allowed with'),
    (['yolo', '{yolo}', '--out', '{tmp}/out', '--voc-zero-based'], 'voc format only'),
])
def test_cli_bad_input_exits_2_with_one_line(cli: ModuleType, voc_parent: Path, yolo_root: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture, args: List[str], message: str) -> None:
    argv = [a.format(tmp=tmp_path, voc=voc_parent, yolo=yolo_root) for a in args]
    assert message in run_failing(cli, argv, capsys)
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('case', ['missing_src', 'existing_output'])
def test_cli_as_a_process_exits_2_without_traceback(yolo_root: Path, tmp_path: Path, case: str) -> None:
    out = tmp_path / 'out'
    src = tmp_path / 'missing' if case == 'missing_src' else yolo_root
    if case == 'existing_output':
        out.mkdir()
        (out / 'instances_val.json').write_text('{}')
    pythonpath = os.pathsep.join([str(REPO_ROOT), os.environ.get('PYTHONPATH', '')])
    env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONWARNINGS='ignore')  # third-party import warnings aside
    proc = subprocess.run([sys.executable, str(SCRIPT), 'yolo', str(src), '--out', str(out)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and 'Traceback' not in proc.stderr
    assert ('no such directory' if case == 'missing_src' else 'output exists') in proc.stderr
