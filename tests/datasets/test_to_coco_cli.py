"""The ``tools/dataset_converters/to_coco.py`` CLI: output, exit code 2 and a one-line message on bad input."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, List

import pytest
from testing_utils import load_tool, run_failing as run_failing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / 'tools' / 'dataset_converters' / 'to_coco.py'


@pytest.fixture(scope='module')
def cli() -> ModuleType:
    return load_tool('dataset_converters/to_coco')


def run_failing(cli: ModuleType, argv: list, capsys: pytest.CaptureFixture) -> str:
    return run_failing_tool(cli, argv, capsys, 'to_coco.py')


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


@pytest.mark.parametrize('value', ['nan', 'NaN', 'inf', '-inf', '-1', '-0.5'])
def test_cli_min_size_must_be_finite_and_not_negative(cli: ModuleType, yolo_root: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture, value: str) -> None:
    line = run_failing(cli, ['yolo', str(yolo_root), '--out', str(tmp_path / 'out'), f'--min-size={value}'], capsys)
    assert line == f'to_coco.py: error: min size must be a finite number of pixels >= 0, got {float(value)}'
    assert not (tmp_path / 'out').exists()


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob('*'))}


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written into: mode 0o555, or for root (whom modes do not bind) the immutable flag."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = [lambda: folder.chmod(0o755)]
    elif shutil.which('chattr') and not subprocess.run(['chattr', '+i', str(folder)], capture_output=True).returncode:
        undo = [lambda: subprocess.run(['chattr', '-i', str(folder)], check=True)]
    else:
        pytest.skip('running as root without chattr +i: cannot make a folder read-only')
    try:
        yield
    finally:
        undo[0]()


@pytest.mark.parametrize('case, message', [
    ('out_is_a_file', 'output directory is a file: {out}'),
    ('a_file_on_its_path', 'cannot write {out}/instances_train.json: {tmp}/file is a file, not a folder'),
    ('an_output_is_a_folder', 'cannot write {out}/instances_train.json: it is a folder'),
    ('unwritable_folder', 'cannot write into {out}: (Permission denied|Operation not permitted)'),
])
def test_cli_out_problems_exit_2_with_one_line_and_leave_nothing(cli: ModuleType, voc_parent: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture, case: str,
                                                                 message: str) -> None:
    out = tmp_path / 'out'
    if case == 'out_is_a_file':
        out.write_text('mine')
    elif case == 'a_file_on_its_path':
        (tmp_path / 'file').write_text('mine')
        out = tmp_path / 'file' / 'out'
    elif case == 'an_output_is_a_folder':
        (out / 'instances_train.json').mkdir(parents=True)
    else:
        out.mkdir()
    before = tree(tmp_path)
    with read_only(out) if case == 'unwritable_folder' else contextlib.nullcontext():
        line = run_failing(cli, ['voc', str(voc_parent), '--out', str(out), '--overwrite'], capsys)
    assert re.fullmatch('to_coco.py: error: ' + message.format(out=re.escape(str(out)), tmp=re.escape(str(tmp_path))),
                        line), line
    assert tree(tmp_path) == before


def run_script(argv: List[str]) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join([str(REPO_ROOT), os.environ.get('PYTHONPATH', '')])
    env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONWARNINGS='ignore')  # third-party import warnings aside
    return subprocess.run([sys.executable, str(SCRIPT), *argv], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_logs_one_line_per_split_with_skipped_images_and_orphan_labels(yolo_root: Path, tmp_path: Path) -> None:
    proc = run_script(['yolo', str(yolo_root), '--out', str(tmp_path / 'out')])
    assert proc.returncode == 0, proc.stderr
    logged = [line.split(' - ')[-1] for line in proc.stdout.splitlines() if 'to_coco yolo' in line]
    assert len(logged) == 2 and logged[0].startswith('to_coco yolo train: 5 images, 5 boxes; clipped 1;')
    assert 'skipped 2; orphan label files 2;' in logged[0] and 'skipped 0; orphan label files 0;' in logged[1]


@pytest.mark.parametrize('case', ['missing_src', 'existing_output', 'nan_min_size'])
def test_cli_as_a_process_exits_2_without_traceback(yolo_root: Path, tmp_path: Path, case: str) -> None:
    out = tmp_path / 'out'
    src = tmp_path / 'missing' if case == 'missing_src' else yolo_root
    if case == 'existing_output':
        out.mkdir()
        (out / 'instances_val.json').write_text('{}')
    proc = run_script(['yolo', str(src), '--out', str(out), *(['--min-size', 'nan'] if case == 'nan_min_size' else [])])
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and 'Traceback' not in proc.stderr
    expected = {'missing_src': 'no such directory', 'existing_output': 'output exists',
                'nan_min_size': 'min size must be a finite number of pixels >= 0, got nan'}[case]
    assert proc.stderr.startswith('to_coco.py: error: ') and expected in proc.stderr
    assert case == 'existing_output' or not out.exists()
