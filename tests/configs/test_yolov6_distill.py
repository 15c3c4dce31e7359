"""The self-distillation (``--distill``) COCO configs: step 2 of the official v3.0 recipe as `_base_` diffs,
and the teacher as the official trainer runs it.

Official values: meituan/YOLOv6 (e86a483) ``configs/yolov6{n,s,m,l}.py`` (``distill_weight``),
``tools/train.py`` (``--temperature 20``), ``yolov6/core/engine.py`` (``get_teacher_model``: the
step-1 network, BatchNorm ``track_running_stats=False``, never put in eval mode; N/S use
``effidehead_distill_ns``) and ``docs/Train_coco_data.md`` (step 2: batch 128 for N and L, 256 for S/M).
Equality of the losses with the official ones: ``tests/models/converters/test_yolov6_official_distill.py``.
"""
import copy
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import qarep_det  # noqa: F401  (registers the modules)
from qarep_det.models.losses import class_distill_loss, dfl_distill_loss, distill_decay
from qarep_det.utils.checkpoint import model_from_checkpoint
from test_yolov6_fuseab import differences, load
from testing_utils import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
DFL = dict(type='DistributionFocalLoss', reduction='sum', loss_weight=0.5)
CONFIGS = [('yolov6n_qarep_distill.py', 'yolov6n_qarep.py', (1.0, 1.0)),
           ('yolov6s_qarep_distill.py', 'yolov6s_qarep.py', (1.0, 1.0)),
           ('yolov6m_qarep_distill.py', 'yolov6m_qarep.py', (0.8, 1.0)),
           ('yolov6l_distill.py', 'yolov6l.py', (2.0, 1.0))]
# Parameters of the official step-2 students: build_model(cfg, 80, distill_ns=N/S) of configs/yolov6{n,s,m,l}.py with
# use_dfl=True, reg_max=16 (qarepvggv2 blocks for N/S/M, L as released), without the DFL projection; measured (e86a483).
OFFICIAL_STUDENT_PARAMS = {'yolov6n_qarep_distill.py': 5_068_168, 'yolov6s_qarep_distill.py': 20_166_984,
                           'yolov6m_qarep_distill.py': 37_722_772, 'yolov6l_distill.py': 59_638_697}


@pytest.mark.parametrize('config,base,weights', CONFIGS)
def test_each_config_is_its_base_plus_distillation(config, base, weights) -> None:
    diff = differences(load(config).to_dict(), load(base).to_dict())
    teacher = config.replace('_distill.py', '_fuseab.py')[:-3]
    expected = {'model.teacher_ckpt': (f'work_dirs/{teacher}/epoch_300.pth', None),
                'model.bbox_head.distill': (dict(temperature=20, cls_weight=weights[0], dfl_weight=weights[1]), None)}
    if config[6] in 'ns':  # the distill_ns head: plain deployed distances plus the DFL branch
        expected.update({'model.bbox_head.head_module.distill_reg_max': (16, None),
                         'model.bbox_head.loss_dfl': (DFL, None)})
    if config[6] in 'nl':  # --batch 128 on 8 GPUs: lr x 16 / 32
        lr = (0.01, 0.02) if config[6] == 'n' else (0.005, 0.01)
        expected.update({'train_dataloader.batch_size': (16, 32), 'optim_wrapper.optimizer.lr': lr,
                         'optim_wrapper.paramwise_cfg.batch_size_per_gpu': (16, 32)})
    assert diff == expected


@pytest.mark.parametrize('config', sorted(OFFICIAL_STUDENT_PARAMS))
def test_parameters_equal_the_official_student(config) -> None:
    model = MODELS.build(load(config).model)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_STUDENT_PARAMS[config]
    assert model.teacher is None and model.teacher_ckpt is not None  # nothing read until training


def test_distillation_terms() -> None:
    assert distill_decay(0, 300) == 1.0 and distill_decay(300, 300) == pytest.approx(0.01)
    assert distill_decay(150, 300) == pytest.approx(0.505) and distill_decay(None, None) == 1.0
    g = torch.Generator().manual_seed(0)
    s, t = torch.rand(5, 7, generator=g), torch.rand(5, 7, generator=g)
    kl = (t.double() / 3).softmax(1) * ((t.double() / 3).log_softmax(1) - (s.double() / 3).log_softmax(1))
    assert class_distill_loss(s, t, 3.0).item() == pytest.approx(kl.sum().item() * 9, rel=1e-5)
    assert class_distill_loss(s, s, 3.0).item() == 0
    logits_s, logits_t = torch.randn(6, 4, 17, generator=g) * 40, torch.randn(6, 4, 17, generator=g) * 40
    kl = (logits_t.double() / 20).softmax(-1) * ((logits_t.double() / 20).log_softmax(-1)
                                                 - (logits_s.double() / 20).log_softmax(-1))
    assert dfl_distill_loss(logits_s, logits_t, 20.0).item() == pytest.approx(kl.sum(-1).mean().item() * 400, rel=1e-5)


def _teacher_checkpoint(path: Path, num_classes: int = 80) -> Path:
    """A step-1 checkpoint as training writes it (weights and config text), with trained-looking BN statistics."""
    cfg = load('yolov6n_qarep_fuseab.py')
    cfg.model.bbox_head.head_module.num_classes = num_classes
    torch.manual_seed(1)
    teacher = MODELS.build(cfg.model)
    teacher.init_weights()
    with torch.no_grad():
        for name, module in teacher.named_modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
            elif isinstance(module, torch.nn.Conv2d) and '_preds' in name:
                module.weight.normal_(0, 0.05)
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=teacher.state_dict()), path)
    return path


def _student(teacher: Path, **model):
    cfg = load('yolov6n_qarep_distill.py')
    cfg.model.update(teacher_ckpt=str(teacher), **model)
    torch.manual_seed(0)
    student = MODELS.build(cfg.model)
    student.init_weights()
    return student, cfg


def _batch(model):
    sample = DetDataSample(metainfo=dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1., 1.)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 20., 60., 90.], [70., 30., 120., 64.]]),
                                       labels=torch.tensor([0, 79]))
    images = [torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(i))
              for i in range(2)]
    return model.data_preprocessor(dict(inputs=images, data_samples=[sample, copy.deepcopy(sample)]), training=True)


def test_one_step_trains_the_student_only_with_the_teacher_as_the_official_trainer_runs_it(tmp_path) -> None:
    student, _ = _student(_teacher_checkpoint(tmp_path / 'teacher.pth'))
    student.train()
    data = _batch(student)
    losses = student(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_bbox_distill', 'loss_dfl', 'loss_cls_distill',
                           'loss_dfl_distill'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    loss, _ = student.parse_losses(losses)
    loss.backward()
    assert not [n for n, p in student.named_parameters() if p.grad is None]  # the DFL branch included
    teacher = student.teacher
    assert teacher.training and not any(p.requires_grad or p.grad is not None for p in teacher.parameters())
    assert not any(k.startswith('teacher') for k in student.state_dict())  # not saved, not optimized, not in DDP
    assert sum(p.numel() for p in student.parameters()) == OFFICIAL_STUDENT_PARAMS['yolov6n_qarep_distill.py']

    # batch statistics, running ones untouched: equal to the teacher trained-mode forward of a copy
    reference, _, _ = model_from_checkpoint(str(tmp_path / 'teacher.pth'))
    stats = [m.running_mean.clone() for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    outputs = student._teacher_outputs(data['inputs'])
    assert all(torch.equal(a, m.running_mean) for a, m in
               zip(stats, [m for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d)]))
    with torch.no_grad():  # eval first: the train-mode forward updates the copy's running statistics
        running_stats = reference.eval().bbox_head.head_module(reference.extract_feat(data['inputs']))
        batch_stats = reference.train().bbox_head.head_module(reference.extract_feat(data['inputs']))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outputs[0], batch_stats[0]))
    assert not all(torch.allclose(a, b, atol=1e-3) for a, b in zip(outputs[0], running_stats[0]))

    # eval_teacher=True: the running statistics instead
    student, _ = _student(tmp_path / 'teacher.pth', eval_teacher=True)
    outputs = student._teacher_outputs(data['inputs'])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(outputs[0], running_stats[0]))


def test_a_distilled_checkpoint_is_tested_and_deployed_without_its_teacher(tmp_path) -> None:
    student, cfg = _student(tmp_path / 'no_such_teacher.pth')
    path = tmp_path / 'epoch_300.pth'
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=student.state_dict()), path)
    loaded, _, _ = model_from_checkpoint(str(path))
    calls = []
    for conv in loaded.bbox_head.head_module.reg_preds_distill:
        conv.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        cls_scores, bbox_preds = loaded(torch.rand(1, 3, 64, 64), mode='tensor')
    assert [t.shape[1] for t in bbox_preds] == [4, 4, 4] and not calls  # the deployed plain distances only
    assert loaded.teacher is None


@pytest.mark.parametrize('case', ['missing', 'other classes'])
def test_train_refuses_a_teacher_that_is_missing_or_does_not_fit(tmp_path, capsys, monkeypatch, case) -> None:
    train_tool = load_tool('train')
    teacher = tmp_path / 'missing.pth' if case == 'missing' else _teacher_checkpoint(tmp_path / 't.pth', 3)
    monkeypatch.chdir(REPO_ROOT)
    argv = ['configs/yolov6n_qarep_distill.py', '--work-dir', str(tmp_path / 'work'),
            '--cfg-options', f'model.teacher_ckpt={teacher}']
    assert train_tool.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1, err
    if case == 'missing':
        assert f'train.py: error: the distillation teacher (model.teacher_ckpt): checkpoint not found: {teacher}' in err
    else:
        assert f'the teacher {teacher} does not fit the student: it needs 80 classes' in err
    assert not (tmp_path / 'work').exists()


def test_bad_distillation_settings_are_refused() -> None:
    head = load('yolov6n_qarep_distill.py').model.bbox_head
    with pytest.raises(ValueError, match='distill takes temperature, cls_weight and dfl_weight'):
        MODELS.build(dict(head, distill=dict(temperature=20, weight=1.0)))
    with pytest.raises(ValueError, match='either the anchor-aided branch'):
        MODELS.build(dict(head, head_module=dict(head.head_module, num_anchors=3)))
    plain = load('yolov6n_qarep.py').model
    with pytest.raises(ValueError, match='teacher_ckpt needs a head with distill settings'):
        MODELS.build(dict(plain, teacher_ckpt='t.pth'))
