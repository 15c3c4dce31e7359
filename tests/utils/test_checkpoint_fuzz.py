"""The one checkpoint path under a seeded fuzz corpus: every file either loads or is one line (exit 2);
0 tracebacks, 0 files left behind, for tools/ptq.py, tools/test.py and the library loader."""
import io
import pickle
import random
import zipfile
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from testing_utils import tiny_synthetic_config
from qarep_det.utils import BadInput
from qarep_det.utils.checkpoint import build_model, load_weights, read_checkpoint
from testing_utils import load_tool

ptq, test_tool = load_tool('ptq'), load_tool('test')
SEED = 20261203


def structures(genuine: Path) -> Dict[str, bytes]:
    """Files that load as pickles or zips but are not checkpoints of the model."""
    state = torch.load(genuine, weights_only=True)
    weights = state['state_dict']

    def saved(obj) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    head = next(k for k in weights if 'cls' in k and k.endswith('weight'))
    five_classes = dict(weights, **{head: torch.zeros(5, *weights[head].shape[1:])})
    return {
        'a_list': saved([1, 2, 3]),
        'a_tensor': saved(torch.zeros(3)),
        'state_dict_a_list': saved(dict(state_dict=[1, 2])),
        'state_dict_int_keys': saved(dict(state_dict={0: torch.zeros(1)})),
        'state_dict_strings': saved(dict(state_dict={k: 'x' for k in weights})),
        'state_dict_empty': saved(dict(state_dict={})),
        'numpy_object_array': saved(dict(state_dict=np.array([object()], dtype=object))),
        'numpy_object_bytes': pickle.dumps(np.array(['a', None], dtype=object), protocol=2),
        'plain_pickle_of_a_function': pickle.dumps(print, protocol=2),
        'five_classes': saved(dict(meta=state['meta'], state_dict=five_classes)),
        'resnet18_like': saved(dict(state_dict={'conv1.weight': torch.zeros(64, 3, 7, 7),
                                                'fc.weight': torch.zeros(10, 512)})),
        'missing_half': saved(dict(meta=state['meta'], state_dict=dict(list(weights.items())[::2]))),
        'extra_key': saved(dict(meta=state['meta'], state_dict=dict(weights, extra=torch.zeros(1)))),
        'empty_zip': _zip({}),
        'zip_without_data': _zip({'archive/version': b'3\n'}),
    }


def _zip(entries: Dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def corpus(genuine: Path) -> Dict[str, bytes]:
    """Seeded: random bytes of many sizes, truncations, structures (all must be refused)."""
    rng = random.Random(SEED)
    data = genuine.read_bytes()
    files = {f'random_{n}_{i}': rng.randbytes(n) for i, n in enumerate([0, 1, 2, 7, 8, 64, 100, 512, 4096, 65536])}
    files.update({f'random_zip_magic_{i}': b'PK\x03\x04' + rng.randbytes(200) for i in range(3)})
    files.update({f'random_pickle_{i}': b'\x80\x02' + rng.randbytes(300) for i in range(3)})
    for cut in sorted({1, 10, 100, 1000, 65536, len(data) // 2, len(data) - 1, *rng.sample(range(len(data)), 4)}):
        files[f'truncated_{cut}'] = data[:cut]
    files.update(structures(genuine))
    return files


def bit_flips(genuine: Path, count: int = 24) -> Dict[str, bytes]:
    """The genuine file with one random bit flipped: a third in the zip's first 4 KiB (the pickle), a third in
    its last 4 KiB (the central directory), a third anywhere (tensor bytes: those still load, other weights)."""
    rng = random.Random(SEED + 1)
    data = genuine.read_bytes()
    flipped = {}
    for i in range(count):
        low, high = [(0, 4096), (len(data) - 4096, len(data)), (0, len(data))][i % 3]
        position = rng.randrange(low, high)
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        flipped[f'flip_{position}'] = bytes(damaged)
    return flipped


@pytest.fixture(scope='module')
def files(synthetic_checkpoint: Path, tmp_path_factory) -> Dict[str, Path]:
    folder = tmp_path_factory.mktemp('fuzz')
    paths = {}
    for name, data in corpus(synthetic_checkpoint).items():
        paths[name] = folder / f'{name}.pth'
        paths[name].write_bytes(data)
    return paths


def assert_one_line(err: str, prog: str) -> None:
    assert 'Traceback' not in err and err.count('\n') == 1 and err.startswith(f'{prog}: error: '), err


def test_ptq_refuses_every_file_of_the_corpus_in_one_line(files: Dict[str, Path], tmp_path: Path, capsys) -> None:
    for name, path in files.items():
        code = ptq.main([str(path), '--out', str(tmp_path / 'out' / name), '--no-progress'])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert_one_line(err, 'ptq.py')
    assert list(tmp_path.iterdir()) == []  # no report, no staging folder, no parent folder


def test_test_tool_refuses_every_file_of_the_corpus_in_one_line(files: Dict[str, Path], synthetic_checkpoint: Path,
                                                                 tmp_path: Path, capsys) -> None:
    config = tmp_path / 'config.py'
    config.write_text(tiny_synthetic_config(synthetic_checkpoint.parent / 'data').pretty_text)
    for name, path in files.items():
        code = test_tool.main([str(config), str(path), '--work-dir', str(tmp_path / 'work')])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert_one_line(err, 'test.py')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.py']  # no work_dir/<timestamp>


def test_expected_reasons(files: Dict[str, Path], synthetic_checkpoint: Path, tmp_path: Path, capsys) -> None:
    """Each kind of file is refused for its own reason."""
    config = tmp_path / 'config.py'
    config.write_text(tiny_synthetic_config(synthetic_checkpoint.parent / 'data').pretty_text)
    reasons = {'random_4096_8': 'not a PyTorch checkpoint', 'truncated_65536': 'not a PyTorch checkpoint',
               'state_dict_int_keys': "maps 0 to a Tensor, not a tensor",
               'state_dict_strings': 'to a str, not a tensor', 'a_list': 'holds a list',
               'numpy_object_bytes': 'not a PyTorch checkpoint',
               'plain_pickle_of_a_function': 'outside the safe allow-list',
               'five_classes': "number of classes differs from the weights'",
               'resnet18_like': 'weights missing', 'missing_half': 'weights missing',
               'extra_key': '1 unexpected (extra)'}
    for name, reason in reasons.items():
        code = ptq.main([str(files[name]), '--config', str(config), '--no-progress', '--out', str(tmp_path / 'never')])
        err = capsys.readouterr().err
        assert code == 2 and reason in err, (name, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.py']


def test_bit_flipped_checkpoints_load_or_are_refused_in_one_line(synthetic_checkpoint: Path, tmp_path: Path) -> None:
    cfg = tiny_synthetic_config(synthetic_checkpoint.parent / 'data')
    outcomes = []
    for name, data in bit_flips(synthetic_checkpoint).items():
        path = tmp_path / f'{name}.pth'
        path.write_bytes(data)
        try:
            load_weights(build_model(cfg), read_checkpoint(str(path)))
            outcomes.append('loaded')
        except BadInput as err:
            assert '\n' not in str(err)
            outcomes.append('refused')
    assert 'refused' in outcomes and 'loaded' in outcomes  # the structure was hit, and so were tensor bytes
