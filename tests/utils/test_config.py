"""Configs: stored configs are read as data (every shipped config round-trips; code never runs),
``--cfg-options`` are checked, missing datasets are one line."""
from pathlib import Path

import pytest
from mmengine.config import Config

from qarep_det.utils import BadInput, check_data_files, config_from_text, parse_cfg_options

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / 'configs').rglob('*.py')
                 if '_base_' not in p.parts)


@pytest.mark.parametrize('config', CONFIGS)
def test_every_config_round_trips_through_its_stored_form(config: str) -> None:
    """What a checkpoint stores (``pretty_text``) reads back, as data, to the same config."""
    cfg = Config.fromfile(str(REPO_ROOT / config))
    assert config_from_text(cfg.pretty_text).to_dict() == cfg.to_dict()


@pytest.mark.parametrize('text, message', [
    ("x = __import__('os').system('touch {marker}')", 'an expression on line 1'),
    ("import os\nos.system('touch {marker}')", 'a statement that is not name = value on line 1: import os'),
    ("model = dict(type=open('{marker}', 'w'))", 'an expression on line 1'),
    ("model = [f for f in [open('{marker}', 'w')]]", 'an expression on line 1'),
    ("model = dict(**{{'a': open('{marker}', 'w')}})", "a dict() call that is not dict(key=value, ...)"),
    ("a = 1\nb = a", 'an expression on line 2: a'),
    ("a, b = 1, 2", 'a statement that is not name = value'),
    ("def f():\n    open('{marker}', 'w')\nx = 1", 'a statement that is not name = value'),
    ("model = (lambda: open('{marker}', 'w'))()", 'an expression'),
    ("x = {{[1]: 2}}", 'is not valid config data'),
    ("x = (", 'is not valid config text (SyntaxError'),
    ("x = " + "[" * 5000 + "]" * 5000, 'too many nested parentheses'),
    ("x = " + "-" * 100000 + "1", 'is not valid config text (MemoryError'),
    ("x = " + "-" * 50 + "1", 'an expression on line 1'),
])
def test_stored_config_text_never_runs(tmp_path: Path, text: str, message: str) -> None:
    marker = tmp_path / 'pwned'
    with pytest.raises(BadInput) as info:
        config_from_text(text.format(marker=marker))
    assert message in str(info.value) and '\n' not in str(info.value)
    assert not marker.exists()


def test_plain_data_reads_back() -> None:
    cfg = config_from_text("a = dict(b=(1, -2.5, None), c=[True, 'x'], d={'k-1': 1e-3})\nscope = 'mmdet'\n")
    assert cfg.to_dict() == dict(a=dict(b=(1, -2.5, None), c=[True, 'x'], d={'k-1': 1e-3}), scope='mmdet')


@pytest.mark.parametrize('options, expected', [
    (['a.b=1', 'c=[1,2]', 'd=x', 'e=(1,2)', 'f=None', 'g='], {'a.b': 1, 'c': [1, 2], 'd': 'x', 'e': (1, 2),
                                                                'f': None, 'g': ''}),
    ([], {}),
])
def test_cfg_options_parse_as_mmengine_does(options, expected) -> None:
    assert parse_cfg_options(options) == expected


@pytest.mark.parametrize('option, message', [
    ('a.b', "--cfg-options takes KEY=VALUE items, got 'a.b'"),
    ('=3', "--cfg-options: '=3' has an empty key or key part"),
    ('a..b=1', "--cfg-options: 'a..b=1' has an empty key or key part"),
    ('.a=1', 'has an empty key or key part'),
])
def test_malformed_cfg_options(option: str, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace('[', r'\[').replace('.', r'\.')):
        parse_cfg_options([option])


def test_missing_data_names_the_file_and_the_fix(tmp_path: Path) -> None:
    leaf = dict(data_root=str(tmp_path), ann_file='ann.json', data_prefix=dict(img='img/'))
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='RepeatDataset', dataset=leaf)),
        val_dataloader=dict(dataset=dict(data_root=str(tmp_path), ann_file='ann.json')),
        val_evaluator=dict(type='CocoMetric', ann_file=str(tmp_path / 'val.json'))))
    with pytest.raises(BadInput, match=f'train_dataloader: annotation file {tmp_path}/ann.json not found'):
        check_data_files(cfg, ('train_dataloader',))
    (tmp_path / 'ann.json').write_text('{}')
    with pytest.raises(BadInput, match=f'train_dataloader: image folder {tmp_path}/img not found'):
        check_data_files(cfg, ('train_dataloader',))
    (tmp_path / 'img').mkdir()
    check_data_files(cfg, ('train_dataloader', 'test_dataloader'))  # absent loaders are skipped
    with pytest.raises(BadInput, match=f'val_evaluator: annotation file {tmp_path}/val.json not found'):
        check_data_files(cfg, ('val_dataloader',))
