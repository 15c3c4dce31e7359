"""The ``tools/make_synthetic.py`` CLI: the set on success, exit code 2 and one line on stderr on bad input."""
from pathlib import Path
from types import ModuleType
from typing import List

import pytest
from testing_utils import load_tool, run_failing as run_failing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def cli() -> ModuleType:
    return load_tool('make_synthetic')


def run_failing(cli: ModuleType, argv: list, capsys: pytest.CaptureFixture) -> str:
    return run_failing_tool(cli, argv, capsys, 'make_synthetic.py')


def test_cli_writes_a_small_set(cli: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'syn'
    assert cli.main([str(out), '--num-train', '2', '--num-val', '1', '--image-size', '32', '48']) == 0
    assert sorted(p.name for p in (out / 'train').iterdir()) == ['000000.jpg', '000001.jpg']
    assert f': {out.absolute()}' in capsys.readouterr().out


@pytest.mark.parametrize('args, message', [
    (['--min-visible', 'nan'], 'min_visible must be in (0, 1], got nan'),
    (['--image-size', '16', '64'], 'need num_train, num_val, seed >= 0, max_objects >= 1 and image sides >= 32'),
    (['--num-train', 'abc'], "argument --num-train: invalid int value: 'abc' (see --help)"),
])
def test_cli_bad_values_exit_2_with_one_line(cli: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture,
                                             args: List[str], message: str) -> None:
    assert run_failing(cli, [str(tmp_path / 'syn'), *args], capsys) == f'make_synthetic.py: error: {message}'
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_foreign_folder_and_a_file_on_the_path(cli: ModuleType, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'precious.txt').write_text('keep')
    line = run_failing(cli, [str(tmp_path / 'mine')], capsys)
    assert line.startswith(f'make_synthetic.py: error: refusing to replace {tmp_path / "mine"}: not a synthetic set')
    (tmp_path / 'file').write_text('keep')
    assert 'File exists' in run_failing(cli, [str(tmp_path / 'file' / 'syn')], capsys)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == [
        'file', 'mine', 'mine/precious.txt']
    assert (tmp_path / 'file').read_text() == (tmp_path / 'mine' / 'precious.txt').read_text() == 'keep'
