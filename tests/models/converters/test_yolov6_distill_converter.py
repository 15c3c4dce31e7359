"""Official N/S self-distillation (``--distill``) checkpoints, the form the published N/S v3.0 weights
take, convert into the ``yolov6{n,s}_qarep_distill.py`` configs.

Synthetic checkpoints pickled as the official trainer does from stand-ins of
``yolov6/models/heads/effidehead_distill_ns.py``'s ``Detect`` (``yolov6_standins.py``): every tensor
used once, ``reg_preds_dist`` kept as the training-only DFL branch, ``reg_preds`` the deployed
layer; a branch mismatch with the config is one line and exit code 2.
``test_yolov6_official_distill.py`` checks outputs and losses against the official code.
"""
import sys

import pytest
import torch

from qarep_det.utils.checkpoint import model_from_checkpoint
from test_yolov6_converter import run_tool, save_published
from test_yolov6_fuseab_converter import _convert
from yolov6_standins import build_published, fuse_published

HEAD = 'bbox_head.head_module.'


@pytest.mark.parametrize('fused', [False, True], ids=['training', 'fused'])
@pytest.mark.parametrize('size,mode,config', [
    ('N', 'qarepvggv2', 'configs/yolov6n_qarep_distill.py'),
    ('S', 'repvgg', "configs/yolov6s_qarep_distill.py with block_cfg=dict(type='RepVGGBlock')")])
def test_distillation_checkpoints_convert_into_the_distill_configs(tmp_path, capsys, size, mode, config,
                                                                    fused) -> None:
    published = build_published(size, mode, distill=True)
    if fused:
        fuse_published(published)
    src, dst = tmp_path / 'yolov6n.pt', tmp_path / 'converted.pth'
    save_published(published, src)
    assert run_tool([src, dst]) == 0
    assert 'yolov6' not in sys.modules
    assert f'YOLOv6-{size} {mode} self-distillation ({"fused" if fused else "training"} form' \
        in capsys.readouterr().out
    model, cfg, checkpoint = model_from_checkpoint(str(dst))  # strict: every tensor of the config filled
    assert checkpoint['meta']['config'] == config
    assert model.teacher is None  # testing and deploying never read the teacher
    source, converted = published.float().state_dict(), checkpoint['state_dict']
    for i in range(3):
        for theirs, ours in (('reg_preds_dist', 'reg_preds_distill'), ('reg_preds', 'reg_preds'),
                             ('cls_preds', 'cls_preds')):
            for kind in ('weight', 'bias'):
                assert torch.equal(converted[f'{HEAD}{ours}.{i}.{kind}'], source[f'detect.{theirs}.{i}.{kind}'])
    assert converted[HEAD + 'reg_preds.0.bias'].numel() == 4  # deployed: plain distances
    assert converted[HEAD + 'reg_preds_distill.0.bias'].numel() == 68


@pytest.mark.parametrize('case', ['distilled into plain', 'plain into distilled'])
def test_distillation_branch_mismatch_is_one_line(tmp_path, capsys, case) -> None:
    if case == 'distilled into plain':
        code, dst = _convert(tmp_path, build_published('N', 'qarepvggv2', distill=True), 'yolov6n_qarep.py')
        message = 'the checkpoint has a distillation branch (reg_preds_dist), the config'
    else:
        code, dst = _convert(tmp_path, build_published('N', 'qarepvggv2'), 'yolov6n_qarep_distill.py')
        message = 'the checkpoint has no distillation branch (reg_preds_dist), the config'
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and message in err, err
    assert not dst.exists()
