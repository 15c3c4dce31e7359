"""``tools/model_converters/yolov6_to_qarep.py`` on synthetic "published" YOLOv6 checkpoints.

The checkpoints are pickled as the official trainer pickles them (whole modules under ``model``
and ``ema``, half precision, plus ``optimizer``-like plain values), from stand-ins with the
official class paths, key names and shapes (``yolov6_standins.py``; checked against the official
code by ``test_yolov6_official.py`` when it is available), for every variant, in training and
fused form. Bad input is one line, exit code 2 and no output file.
"""
import json
import os
import pickle
import sys

import pytest
import torch
from mmengine.config import Config

from qarep_det.models.converters import convert_yolov6_checkpoint
from qarep_det.utils import BadInput
from qarep_det.utils.checkpoint import model_from_checkpoint
from qarep_det.utils.config import config_from_text
from testing_utils import load_tool
from yolov6_standins import build_published, fuse_published, published_classes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def save_published(model: torch.nn.Module, path, **extra) -> None:
    """``torch.save`` as the official trainer does (``model`` / ``ema`` in half, ``optimizer``, ...)."""
    with published_classes():
        torch.save({'model': model.half(), 'ema': model.half(), 'updates': 11, 'epoch': 299,
                    'optimizer': {'state': {}, 'param_groups': [{'lr': 0.01, 'params': [0, 1]}]},
                    'results': (0.371, 0.52), **extra}, path)


def run_tool(argv):
    return load_tool('model_converters/yolov6_to_qarep').main([str(a) for a in argv])


VARIANTS = [('N', 'repvgg', 'configs/yolov6n_repvgg.py'), ('N', 'qarepvgg', 'configs/yolov6n_qarep_v1.py'),
            ('N', 'qarepvggv2', 'configs/yolov6n_qarep.py'), ('S', 'repvgg', 'configs/yolov6s_repvgg.py'),
            ('S', 'qarepvgg', "configs/yolov6s_qarep.py with block_cfg=dict(type='QARepVGGBlock')"),
            ('S', 'qarepvggv2', 'configs/yolov6s_qarep.py'),
            pytest.param('M', 'repvgg', 'configs/yolov6m_repvgg.py', marks=pytest.mark.slow),
            pytest.param('M', 'qarepvgg', "configs/yolov6m_qarep.py with block_cfg=dict(type='QARepVGGBlock')",
                         marks=pytest.mark.slow),
            pytest.param('M', 'qarepvggv2', 'configs/yolov6m_qarep.py', marks=pytest.mark.slow),
            pytest.param('L', 'conv_silu', 'configs/yolov6l.py', marks=pytest.mark.slow)]


@pytest.mark.parametrize('fused', [False, True], ids=['training', 'fused'])
@pytest.mark.parametrize('size,mode,config', VARIANTS)
def test_every_variant_converts_and_loads_in_the_tools(tmp_path, capsys, size, mode, config, fused) -> None:
    published = build_published(size, mode)
    if fused:
        fuse_published(published)
    src, dst = tmp_path / 'yolov6.pt', tmp_path / 'converted.pth'
    save_published(published, src)
    assert 'yolov6' not in sys.modules
    assert run_tool([src, dst]) == 0
    assert 'yolov6' not in sys.modules  # nothing was imported from the checkpoint
    assert f'YOLOv6-{size} {mode} ({"fused" if fused else "training"} form, 80 classes)' in capsys.readouterr().out
    model, cfg, checkpoint = model_from_checkpoint(str(dst))  # the tools' path: config from the metadata
    assert checkpoint['meta']['config'] == config
    assert all(v.dtype in (torch.float32, torch.int64) for v in checkpoint['state_dict'].values())
    if 'block_cfg' in config:
        assert cfg.model.backbone.block_cfg.type == cfg.model.neck.block_cfg.type == 'QARepVGGBlock'
    source = published.float().state_dict()
    converted = checkpoint['state_dict']
    head = 'bbox_head.head_module.'
    assert torch.equal(converted[head + 'cls_preds.2.weight'], source['detect.cls_preds.2.weight'])
    assert torch.equal(converted[head + 'reg_preds.0.bias'], source['detect.reg_preds.0.bias'])
    if fused:  # the stem's BN passes the fused conv through: exactly x + bias in float32
        stem_bn = 'backbone.stem.bn' if mode == 'conv_silu' else 'backbone.stem.conv_kxk.bn'
        bn = torch.nn.BatchNorm2d(converted[f'{stem_bn}.weight'].numel(), eps=1e-3).eval()
        bn.load_state_dict({k[len(stem_bn) + 1:]: v for k, v in converted.items() if k.startswith(stem_bn + '.')})
        x = torch.randn(2, bn.num_features, 5, 5)
        assert torch.equal(bn(x), x + bn.bias.detach()[:, None, None])
    if not fused and mode != 'conv_silu':
        assert torch.equal(converted['backbone.stem.conv_kxk.conv.weight'],
                           source['backbone.stem.rbr_dense.conv.weight'])
        assert torch.equal(converted['backbone.stem.conv_kxk.bn.running_var'],
                           source['backbone.stem.rbr_dense.bn.running_var'])


def test_the_converted_config_is_the_named_one(tmp_path) -> None:
    src, dst = tmp_path / 'yolov6n.pt', tmp_path / 'yolov6n.pth'
    save_published(build_published('N', 'qarepvggv2'), src)
    convert_yolov6_checkpoint(str(src), str(dst))
    meta = torch.load(dst, weights_only=True)['meta']
    stored = config_from_text(meta['cfg'])
    named = Config.fromfile(os.path.join(REPO, 'configs', 'yolov6n_qarep.py'))
    plain = lambda cfg: json.loads(json.dumps(cfg.model.to_dict()))  # noqa: E731  (tuples and lists alike)
    assert plain(stored) == plain(named)


def test_a_given_config_with_other_classes(tmp_path) -> None:
    src = tmp_path / 'yolov6n_3cls.pt'
    save_published(build_published('N', 'repvgg', num_classes=3), src)
    with pytest.raises(BadInput, match='class-count mismatch: the checkpoint has 3 classes'):
        convert_yolov6_checkpoint(str(src), str(tmp_path / 'a.pth'))
    config = tmp_path / 'three.py'
    config.write_text(f"_base_ = '{REPO}/configs/yolov6n_repvgg.py'\n"
                      "model = dict(bbox_head=dict(head_module=dict(num_classes=3)))\n")
    variant = convert_yolov6_checkpoint(str(src), str(tmp_path / 'b.pth'), str(config))
    assert variant.num_classes == 3
    assert model_from_checkpoint(str(tmp_path / 'b.pth'))[2]['meta']['config'] == str(config)


class Runs:
    """Pickles to a call of ``os.mkdir(marker)``: proof that a loader ran code if the folder appears."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _bad_inputs(tmp_path):
    """(name, writer, expected message part) for each kind of bad input."""
    def crafted(path):  # a YOLOv6 checkpoint with a payload that would run code
        save_published(build_published('N', 'repvgg'), path, results=Runs(str(tmp_path / 'ran')))

    def foreign_class(path):  # a class beyond the expected ones
        with published_classes():
            torch.save({'model': build_published('N', 'repvgg').half(), 'extra': torch.nn.Linear(2, 2)}, path)

    def extra_tensor(path):
        model = build_published('N', 'repvgg')
        model.detect.register_buffer('extra', torch.zeros(3))
        save_published(model, path)

    def unknown_variant(path):
        save_published(build_published('N', 'conv_silu'), path)

    def cycle(path):
        model = build_published('N', 'repvgg').half()
        model.backbone.stem._modules['loop'] = model.backbone
        with published_classes():
            torch.save({'model': model}, path)

    return [
        ('random bytes', lambda p: p.write_bytes(bytes(torch.randint(0, 256, (2048,), generator=torch.Generator()
                                                                   .manual_seed(5), dtype=torch.uint8).tolist())),
         'cannot be read as a PyTorch checkpoint'),
        ('mmengine checkpoint', lambda p: torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {}}, p),
         'no yolov6.models.yolo.Model'),
        ('a list', lambda p: torch.save([1, 2, 3], p), 'holds a list, not a dict'),
        ('a plain pickle', lambda p: p.write_bytes(pickle.dumps({'model': 1})),
         'cannot be read as a PyTorch checkpoint'),
        ('code in the pickle', crafted, 'references something beyond the expected classes (refused posix.mkdir)'),
        ('another class', foreign_class, 'refused torch.nn.modules.linear.Linear'),
        ('a tensor too many', extra_tensor, '1 checkpoint tensors unused (detect.extra)'),
        ('unknown variant', unknown_variant, 'unknown YOLOv6 variant (stem width 16, conv_silu)'),
        ('cycle', cycle, 'its modules form a cycle or nest too deep at backbone.stem.loop'),
    ]


@pytest.mark.parametrize('case', range(9), ids=lambda i: ['random bytes', 'mmengine checkpoint', 'list', 'plain pickle',
                                                          'code', 'another class', 'extra tensor', 'unknown variant',
                                                          'cycle'][i])
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, case) -> None:
    name, write, message = _bad_inputs(tmp_path)[case]
    src, dst = tmp_path / 'bad.pt', tmp_path / 'out' / 'converted.pth'
    write(src)
    assert run_tool([src, dst]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('yolov6_to_qarep.py: error: ') and message in err, err
    assert not dst.exists() and not dst.parent.exists()
    assert not (tmp_path / 'ran').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.pt']


def test_wrong_config_and_existing_output_are_refused(tmp_path, capsys) -> None:
    src, dst = tmp_path / 'yolov6n.pt', tmp_path / 'converted.pth'
    save_published(build_published('N', 'repvgg'), src)
    assert run_tool([src, dst, '--config', os.path.join(REPO, 'configs', 'yolov6s_repvgg.py')]) == 2
    assert 'does not match the config' in capsys.readouterr().err and not dst.exists()
    assert run_tool([src, dst, '--config', os.path.join(REPO, 'configs', 'yolov6n_qarep.py')]) == 2
    assert 'has a repvgg block at backbone.stem where the config has a QARepVGGBlockV2' in capsys.readouterr().err
    dst.write_bytes(b'mine')
    assert run_tool([src, dst]) == 2
    assert 'exists: nothing was overwritten' in capsys.readouterr().err and dst.read_bytes() == b'mine'
    assert run_tool([tmp_path / 'missing.pt', tmp_path / 'x.pth']) == 2
    assert 'no such file' in capsys.readouterr().err
