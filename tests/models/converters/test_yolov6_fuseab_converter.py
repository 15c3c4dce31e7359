"""Official anchor-aided (``--fuse_ab``) YOLOv6 checkpoints convert into the ``*_fuseab.py`` configs.

Synthetic checkpoints pickled as the official trainer does from stand-ins of
``yolov6/models/heads/effidehead_fuseab.py``'s ``Detect`` (``yolov6_standins.py``): every tensor
used once, the anchor-based layers kept, the anchors checked; a mismatch of branch or anchors with
the config is one line and exit code 2. ``test_yolov6_official.py`` checks the stand-ins' keys and
the converted losses against the official code when it is available.
"""
import os
import sys

import pytest
import torch

from qarep_det.utils.checkpoint import model_from_checkpoint
from test_yolov6_converter import REPO, run_tool, save_published
from yolov6_standins import build_published, fuse_published

HEAD = 'bbox_head.head_module.'


@pytest.mark.parametrize('fused', [False, True], ids=['training', 'fused'])
@pytest.mark.parametrize('size,mode,config', [
    ('N', 'qarepvggv2', 'configs/yolov6n_qarep_fuseab.py'),
    ('S', 'repvgg', "configs/yolov6s_qarep_fuseab.py with block_cfg=dict(type='RepVGGBlock')"),
    pytest.param('M', 'qarepvgg', "configs/yolov6m_qarep_fuseab.py with block_cfg=dict(type='QARepVGGBlock')",
                 marks=pytest.mark.slow),
    pytest.param('L', 'conv_silu', 'configs/yolov6l_fuseab.py', marks=pytest.mark.slow)])
def test_anchor_aided_checkpoints_convert_into_the_fuseab_configs(tmp_path, capsys, size, mode, config, fused) -> None:
    published = build_published(size, mode, fuse_ab=True)
    if fused:
        fuse_published(published)
    src, dst = tmp_path / 'best_ckpt.pt', tmp_path / 'converted.pth'
    save_published(published, src)
    assert run_tool([src, dst]) == 0
    assert 'yolov6' not in sys.modules
    assert f'YOLOv6-{size} {mode} anchor-aided ({"fused" if fused else "training"} form' in capsys.readouterr().out
    model, cfg, checkpoint = model_from_checkpoint(str(dst))  # strict: every tensor of the config filled
    assert checkpoint['meta']['config'] == config
    assert cfg.model.bbox_head.head_module.num_anchors == 3
    source, converted = published.float().state_dict(), checkpoint['state_dict']
    for i in range(3):
        for name in ('cls_preds_ab', 'reg_preds_ab', 'cls_preds', 'reg_preds'):
            for kind in ('weight', 'bias'):
                assert torch.equal(converted[f'{HEAD}{name}.{i}.{kind}'], source[f'detect.{name}.{i}.{kind}'])
    assert converted[HEAD + 'reg_preds.0.bias'].numel() == 68  # step 1 regresses DFL distributions (N/S too)


def _convert(tmp_path, published, config=None):
    src, dst = tmp_path / 'src.pt', tmp_path / 'dst.pth'
    save_published(published, src)
    return run_tool([src, dst] + (['--config', os.path.join(REPO, 'configs', config)] if config else [])), dst


@pytest.mark.parametrize('case', ['anchor-aided into plain', 'plain into anchor-aided', 'other anchors',
                                  'anchor-aided without DFL'])
def test_branch_or_anchor_mismatch_is_one_line(tmp_path, capsys, case) -> None:
    if case == 'anchor-aided into plain':
        code, dst = _convert(tmp_path, build_published('N', 'qarepvggv2', fuse_ab=True), 'yolov6n_qarep.py')
        message = 'the checkpoint has the anchor-aided branch (--fuse_ab), the config'
    elif case == 'plain into anchor-aided':
        code, dst = _convert(tmp_path, build_published('N', 'qarepvggv2'), 'yolov6n_qarep_fuseab.py')
        message = 'the checkpoint has no anchor-aided branch (--fuse_ab), the config'
    elif case == 'other anchors':
        published = build_published('N', 'qarepvggv2', fuse_ab=True)
        published.detect.anchors_init = published.detect.anchors_init * 2
        code, dst = _convert(tmp_path, published)
        message = "the checkpoint's anchors (detect.anchors_init x strides: [[20.0, 26.0"
    else:  # the official configs as shipped (use_dfl=False, reg_max=0), not step 1 as documented
        published = build_published('N', 'qarepvggv2', fuse_ab=True)
        published.detect.reg_preds = torch.nn.ModuleList(torch.nn.Conv2d(c.in_channels, 4, 1)
                                                          for c in published.detect.reg_preds)
        code, dst = _convert(tmp_path, published)
        message = 'gives bbox_head.head_module.reg_preds.0.weight the shape (4, 32, 1, 1), the config (68, 32, 1, 1)'
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and message in err, err
    assert not dst.exists()
