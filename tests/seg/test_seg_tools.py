"""tools/train.py, tools/test.py and tools/ptq.py on segmentation configs, end to end on the tiny CamVid-like set."""
import json
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from seg_testing import REPO_ROOT, TINY_CONFIG, tiny_run_options

from qarep_det.datasets.camvid import CamVidDataset
from testing_utils import load_tool, measure_bn

ptq = load_tool('ptq')
CLASSES = CamVidDataset.METAINFO['classes']
SUMMARY = re.compile(r'^aAcc: (\d+\.\d{4}) mIoU: (\d+\.\d{4}) mAcc: (\d+\.\d{4})$')


def run(tool: str, *args: str, launcher=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')  # stderr: the tool's own lines only
    command = launcher or [sys.executable]
    return subprocess.run([*command, str(REPO_ROOT / 'tools' / tool), *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=600)


@pytest.fixture(scope='module')
def trained(tiny_camvid, tmp_path_factory) -> Path:
    """A 4-iteration FCN-QARepVGG-A0 run on the tiny set; its checkpoint."""
    work_dir = tmp_path_factory.mktemp('seg_train')
    result = run('train.py', str(TINY_CONFIG), '--work-dir', str(work_dir), '--cfg-options',
                 *tiny_run_options(tiny_camvid))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: \d+\.\d+', result.stdout + result.stderr)
    return work_dir / 'iter_4.pth'


def test_train_writes_the_checkpoint_with_the_config(trained):
    import torch
    checkpoint = torch.load(trained, map_location='cpu')
    assert checkpoint['meta']['iter'] == 4
    assert "default_scope = 'mmseg'" in checkpoint['meta']['cfg']
    assert any(k.startswith('backbone.stages.2.') for k in checkpoint['state_dict'])


def test_test_fused_and_unfused_agree_and_out_dumps_label_maps(trained, tiny_camvid, tmp_path):
    data = [o for o in tiny_run_options(tiny_camvid) if o.startswith('test_dataloader')]
    plain = run('test.py', str(TINY_CONFIG), str(trained), '--work-dir', str(tmp_path / 'plain'),
                '--cfg-options', *data)
    out = tmp_path / 'preds.pkl'
    fused = run('test.py', str(TINY_CONFIG), str(trained), '--fused', '--out', str(out),
                '--work-dir', str(tmp_path / 'fused'), '--cfg-options', *data)
    assert plain.returncode == 0 and fused.returncode == 0, (plain.stderr[-2000:], fused.stderr[-2000:])
    assert 'evaluating the re-parameterized (fused) model' in fused.stdout + fused.stderr
    plain_metrics = SUMMARY.match(plain.stdout.strip().splitlines()[-1])
    fused_metrics = SUMMARY.match(fused.stdout.strip().splitlines()[-1])
    assert plain_metrics and fused_metrics, (plain.stdout[-500:], fused.stdout[-500:])
    assert plain_metrics.groups() == fused_metrics.groups()
    assert 0 < float(plain_metrics[1]) <= 100
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert [Path(p['img_path']).name for p in predictions] == ['val_000.jpg', 'val_001.jpg']
    for prediction in predictions:
        label = prediction['pred_sem_seg']
        assert label.dtype == np.uint8 and label.shape == (48, 64) and label.max() <= 10


def test_a_bad_label_file_is_one_line_naming_it_before_any_work_dir(trained, tiny_camvid, tmp_path):
    root = tmp_path / 'camvid'
    for path in tiny_camvid.rglob('*.*'):
        (root / path.relative_to(tiny_camvid)).parent.mkdir(parents=True, exist_ok=True)
        (root / path.relative_to(tiny_camvid)).write_bytes(path.read_bytes())
    bad = root / 'labels' / 'val' / 'val_001.png'
    label = np.array(Image.open(bad))
    label[:2, :2] = 40
    Image.fromarray(label).save(bad)
    result = run('train.py', str(TINY_CONFIG), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                 *tiny_run_options(root))
    assert result.returncode == 2
    assert result.stderr == (f'train.py: error: label map {bad} holds values [40] outside the classes 0..10 '
                             'and void (11)\n')
    assert not (tmp_path / 'work').exists()
    Image.fromarray(label[:, :-1]).save(bad)
    result = run('test.py', str(TINY_CONFIG), str(trained), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                 *tiny_run_options(root))
    assert result.returncode == 2 and not (tmp_path / 'work').exists()
    assert result.stderr == (f'test.py: error: label map {bad} is 63x48 but its image {root}/images/val/val_001.jpg '
                             'is 64x48\n')


def test_missing_camvid_is_refused_before_any_work_dir(tmp_path):
    result = run('train.py', str(TINY_CONFIG), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                 *tiny_run_options(tmp_path / 'nowhere'))
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert f'train_dataloader: image folder {tmp_path}/nowhere/images/train not found' in result.stderr
    assert not (tmp_path / 'work').exists()


def test_torchrun_two_cpu_processes(tiny_camvid, tmp_path):
    work_dir = tmp_path / 'work'
    with socket.socket() as probe:  # a free port
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', str(port)]
    result = run('train.py', str(TINY_CONFIG), '--launcher', 'pytorch', '--work-dir', str(work_dir),
                 '--cfg-options', *tiny_run_options(tiny_camvid), launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'iter_4.pth').is_file()
    assert 'distributed run over gloo, rank 0 of 2' in result.stdout + result.stderr


def ptq_data_options(root: Path) -> list:
    return [o for o in tiny_run_options(root) if o.startswith(('train_dataloader.dataset.data_root',
                                                               'val_dataloader.dataset.data_root'))]


@pytest.fixture(scope='module')
def measured_bn_checkpoint(tiny_camvid: Path, tmp_path_factory) -> Path:
    """The tiny config's FCN-QARepVGG-A0 with BatchNorm statistics measured on the tiny set (a 4-iteration run's
    statistics make activations of 1e8 and more, which INT8 refuses), saved as training saves it."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(str(TINY_CONFIG))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(p))).permute(2, 0, 1).float()
                          for p in sorted((tiny_camvid / 'images' / 'train').glob('*.jpg'))])
    with torch.no_grad():
        measure_bn(model, [model.data_preprocessor(dict(inputs=list(images.to(torch.uint8))), False)['inputs']])
    path = tmp_path_factory.mktemp('seg_bn') / 'measured_bn.pth'
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)
    return path


def test_ptq_int8_segmentor_report_files_and_reevaluation(measured_bn_checkpoint: Path, tiny_camvid: Path,
                                                          tmp_path: Path, capsys) -> None:
    """tools/ptq.py on a segmentor: the one pipeline, the evaluator's mIoU, the deployed files, the diagnostics,
    and --eval-int8 on the file it wrote."""
    out = tmp_path / 'ptq'
    code = ptq.main([str(measured_bn_checkpoint), '--config', str(TINY_CONFIG), '--int8', '--calib-images', '4',
                     '--observer', 'mae', '--skip-layers', 'auto:2', '--out', str(out), '--no-progress',
                     '--cfg-options', *ptq_data_options(tiny_camvid)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    report = json.loads((out / 'report.json').read_text())
    assert set(report['models']) == {'fp32', 'fp32_fused', 'int8'}
    for metrics in report['models'].values():  # the evaluator's own names, the per-class IoU added
        assert {'mIoU', 'mAcc', 'aAcc'} | {f'IoU.{c}' for c in CLASSES} == set(metrics)
        assert 0 < metrics['mIoU'] <= 100
    fp32, fused = report['models']['fp32'], report['models']['fp32_fused']
    assert fused == pytest.approx(fp32, abs=0.02)  # the fused file predicts what the training model predicts
    assert report['fusion_max_abs_diff'] < 1e-3
    assert report['deployed_files'] == {'fp32_fused': 'model_fp32.pt', 'int8': 'model_int8.pt'}
    assert report['prepared']['graph'] == 'backbone+decode_head' and report['prepared']['task'] == 'segmentation'
    assert len(report['skipped_layers']) == 2 and report['calibration']['observer'] == 'mae'
    assert {s['layer'] for s in report['sensitivity']} >= {'backbone.stem.reparam_conv', 'decode_head.conv_seg'}
    for plot in ('weight_stats.png', 'activation_ranges.png', 'layer_sqnr.png', 'sensitivity.png'):
        assert (out / plot).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and (out / plot).stat().st_size > 10_000
    table = (out / 'report.md').read_text()
    assert '| model | mIoU | mAcc | aAcc | latency (ms) |' in table and '| int8 | ' in table

    code = ptq.main(['--eval-int8', str(out / 'model_int8.pt'), '--no-progress', '--cfg-options',
                     *ptq_data_options(tiny_camvid)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    assert f"| int8 | {report['models']['int8']['mIoU']:.2f} |" in captured.out
