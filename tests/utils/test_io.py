"""Atomic outputs: a file or a folder appears whole or not at all; nothing of the user's is overwritten."""
from pathlib import Path

import pytest

from qarep_det.utils import BadInput, StagedOutputDir, check_writable, write_atomic, write_json_atomic


def test_write_atomic_replaces_in_one_step_and_refuses_when_asked(tmp_path: Path) -> None:
    target = tmp_path / 'deep' / 'er' / 'a.json'
    write_json_atomic(target, dict(a=1))
    assert target.read_text() == '{\n  "a": 1\n}\n'
    with pytest.raises(BadInput, match='a.json exists: nothing was overwritten'):
        write_atomic(target, 'other', overwrite=False)
    write_atomic(target, b'bytes')
    assert target.read_bytes() == b'bytes' and sorted(p.name for p in target.parent.iterdir()) == ['a.json']


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / 'new' / 'x.json', dict(a=object()))
    assert list(tmp_path.iterdir()) == []  # neither the temporary file nor the folder it made


def test_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / 'f').write_text('mine')
    with pytest.raises(BadInput, match=f'cannot write {tmp_path}/f/x/y.json: {tmp_path}/f is a file, not a folder'):
        write_atomic(tmp_path / 'f' / 'x' / 'y.json', '{}')
    with pytest.raises(BadInput, match='f is a file, not a folder'):
        StagedOutputDir(tmp_path / 'f')
    assert (tmp_path / 'f').read_text() == 'mine'


def test_staged_folder_publishes_on_success_only(tmp_path: Path) -> None:
    out = tmp_path / 'a' / 'out'
    with pytest.raises(RuntimeError):
        with StagedOutputDir(out, last=('done.json',)) as stage:
            (stage / 'part.txt').write_text('x')
            raise RuntimeError('boom')
    assert list(tmp_path.iterdir()) == []  # staging folder and the parents it made are gone
    with StagedOutputDir(out, last=('done.json',)) as stage:
        (stage / 'done.json').write_text('{}')
        (stage / 'part.txt').write_text('x')
    assert sorted(p.name for p in out.iterdir()) == ['done.json', 'part.txt']
    assert sorted(p.name for p in out.parent.iterdir()) == ['out']
    with pytest.raises(BadInput, match='already holds done.json: choose another output folder'):
        StagedOutputDir(out, last=('done.json',))


def test_staged_folder_refuses_user_files_up_front_and_keeps_an_existing_empty_folder(tmp_path: Path) -> None:
    (tmp_path / 'config.py').write_text('mine')
    with pytest.raises(BadInput, match='already has config.py'):
        StagedOutputDir(tmp_path, outputs=('config.py', 'report.md'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with StagedOutputDir(empty):
            raise KeyboardInterrupt
    assert empty.is_dir() and list(empty.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.py', 'empty']


def test_check_writable_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / 'f').write_text('mine')
    check_writable(tmp_path / 'new' / 'deeper', folder=True)
    check_writable(tmp_path / 'new' / 'out.pkl')
    with pytest.raises(BadInput, match=f'cannot write {tmp_path}/f/work: {tmp_path}/f is a file, not a folder'):
        check_writable(tmp_path / 'f' / 'work', folder=True)
    with pytest.raises(BadInput, match=f'{tmp_path}/f is a file, not a folder'):
        check_writable(tmp_path / 'f', folder=True)
    with pytest.raises(BadInput, match=f'{tmp_path} is a folder, not a file'):
        check_writable(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f']
