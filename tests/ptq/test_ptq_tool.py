"""tools/ptq.py: the FP32 -> INT8 round trip on a tiny model, the report, and every bad input."""
import json
from pathlib import Path

import pytest
import mmdet
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from testing_utils import tiny_synthetic_config as tiny_config
from testing_utils import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
MMDET_CONFIGS = Path(mmdet.__file__).parent / '.mim' / 'configs'
ptq = load_tool('ptq')


@pytest.fixture(scope='module')
def checkpoint(synthetic_checkpoint: Path) -> Path:
    return synthetic_checkpoint


def run(capsys, *argv) -> tuple:
    code = ptq.main([str(a) for a in argv] + ['--no-progress'])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, message: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('ptq.py: error: ') and message in lines[0], err


def test_int8_round_trip_report_and_reevaluation(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / 'report'
    code, stdout, err = run(capsys, checkpoint, '--int8', '--calib-images', 4, '--sensitivity', '--out', out)
    assert code == 0, err
    report = json.loads((out / 'report.json').read_text())
    assert set(report['models']) == {'fp32', 'fp32_fused', 'int8'}
    for metrics in report['models'].values():
        assert len([k for k in metrics if k.startswith('coco/bbox_')]) == 12  # all COCO statistics
    assert report['models']['fp32'] == report['models']['fp32_fused']  # fusion changes no prediction
    assert report['fusion_max_abs_diff'] < 1e-3
    assert set(report['latency_ms']) == {'fp32', 'fp32_fused', 'int8'} and min(report['latency_ms'].values()) > 0
    settings = report['latency_settings']  # the deployed models run NHWC, the training model as trained
    assert settings['memory_format'] == {'fp32': 'contiguous', 'fp32_fused': 'channels_last', 'int8': 'channels_last'}
    assert settings['input_shape'][:2] == [1, 3] and settings['threads'] >= 1
    assert 'memory format: fp32 contiguous, fp32_fused channels_last, int8 channels_last' in (
        out / 'report.md').read_text()
    assert report['calibration']['images'] == 4 and report['calibration']['split'] == 'train'
    assert report['skipped_layers'] == []
    assert report['output_sqnr_db']['all'] > 10  # INT8 head outputs track FP32
    assert len(report['sensitivity']) == len(report['prepared']['quantized_layers'])
    stages = {'load', 'fuse_and_check', 'calibrate', 'sensitivity', 'convert_and_save', 'diagnostics', 'evaluate',
              'latency'}
    assert set(report['timings_s']) == stages and all(v > 0 for v in report['timings_s'].values())
    assert report['deployed_files'] == {'fp32_fused': 'model_fp32.pt', 'int8': 'model_int8.pt'}
    for name in ('report.md', 'model_fp32.pt', 'model_int8.pt', 'quant_params.json', 'config.py', 'sensitivity.png',
                 'weight_stats.png', 'activation_ranges.png', 'layer_sqnr.png'):
        assert (out / name).is_file(), name
    assert '| int8 |' in stdout and '| int8 |' in (out / 'report.md').read_text()
    assert 'PTQ time without evaluation and latency: ' in (out / 'report.md').read_text()
    assert not list(tmp_path.glob('.report.partial-*'))
    # The saved INT8 model runs without the training code path and gives the same mAP.
    code, stdout, err = run(capsys, '--eval-int8', out / 'model_int8.pt')
    assert code == 0, err
    mAP = f'{report["models"]["int8"]["coco/bbox_mAP"]:.3f}'
    assert f'| int8 | {mAP} |' in stdout
    code, stdout, err = run(capsys, '--eval-int8', out / 'model_fp32.pt')  # the fused FP32 file, likewise
    assert code == 0, err
    assert f'| fp32_fused | {report["models"]["fp32_fused"]["coco/bbox_mAP"]:.3f} |' in stdout
    # A folder that holds a report is refused and left as it was.
    before = (out / 'report.json').read_bytes()
    code, _, err = run(capsys, checkpoint, '--out', out)
    assert_one_line_error(code, err, 'already holds report.json')
    assert (out / 'report.json').read_bytes() == before


def test_narrower_widths_are_simulated_and_reported_so(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / 'w4a8'
    code, stdout, err = run(capsys, checkpoint, '--wbits', 4, '--calib-images', 4, '--sensitivity', '--out', out)
    assert code == 0, err  # --wbits alone quantizes
    report = json.loads((out / 'report.json').read_text())
    assert set(report['models']) == {'fp32', 'fp32_fused', 'w4a8'}
    assert report['bits'] == dict(name='w4a8', weights=4, activations=8, simulated=True)
    assert set(report['latency_ms']) == {'fp32', 'fp32_fused'}  # a simulation has no latency to speak of
    assert report['deployed_files'] == {'fp32_fused': 'model_fp32.pt'} and not (out / 'model_int8.pt').exists()
    assert report['prepared']['config']['weights']['quant_range'] == [-7, 7]
    assert len(report['sensitivity']) == len(report['prepared']['quantized_layers']) > 0
    # (this untrained fixture predicts its biases: its outputs carry no quantization noise; see test_bit_widths.py)
    assert report['output_sqnr_db']['all'] > 0 and len(report['layer_sqnr_db']) == report['prepared']['num_layers']
    markdown = (out / 'report.md').read_text()
    assert 'quantized: weights 4 bits, activations 8 bits, simulated (fake quantization in float' in markdown
    assert '| w4a8 |' in stdout and 'w4a8 output SQNR: ' in markdown


def test_repapq_reconstructs_before_it_converts(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / 'repapq'
    code, stdout, err = run(capsys, checkpoint, '--method', 'repapq', '--loss', 'mse', '--iters', 3, '--groups', 5,
                            '--calib-images', 4, '--out', out)
    assert code == 0, err  # --method repapq alone quantizes (INT8 here: a real model file)
    report = json.loads((out / 'report.json').read_text())
    assert set(report['models']) == {'fp32', 'fp32_fused', 'int8'} and (out / 'model_int8.pt').is_file()
    assert report['calibration']['method'] == 'repapq' and report['timings_s']['reconstruct'] > 0
    reconstruction = report['reconstruction']
    assert reconstruction['config']['loss'] == 'mse' and reconstruction['config']['iters'] == 3
    assert reconstruction['images'] == 4 and reconstruction['config']['seed'] == 0
    layers = report['prepared']['quantized_layers']
    assert [layer for g in reconstruction['groups'] for layer in g['layers']] == layers
    assert all(len(g['layers']) <= 5 and g['error_after'] >= 0 for g in reconstruction['groups'])
    assert f'reconstruction (repapq): {len(reconstruction["groups"])} groups (5), 3 iterations of 4 images each' in (
        out / 'report.md').read_text()
    code, stdout, err = run(capsys, '--eval-int8', out / 'model_int8.pt')  # the tuned model ships as any INT8 one
    assert code == 0, err
    assert f'| int8 | {report["models"]["int8"]["coco/bbox_mAP"]:.3f} |' in stdout


def test_bad_checkpoints(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, tmp_path / 'missing.pth', '--out', tmp_path / 'o1')
    assert_one_line_error(code, err, 'checkpoint not found')
    (tmp_path / 'notes.pth').write_text('not a checkpoint')
    code, _, err = run(capsys, tmp_path / 'notes.pth', '--out', tmp_path / 'o2')
    assert_one_line_error(code, err, 'not a PyTorch checkpoint')
    torch.save(dict(state_dict={'w': torch.zeros(1)}), tmp_path / 'no_cfg.pth')
    code, _, err = run(capsys, tmp_path / 'no_cfg.pth', '--out', tmp_path / 'o3')
    assert_one_line_error(code, err, 'stores no config: pass the config file with --config')
    assert not (tmp_path / 'o1').exists() and not (tmp_path / 'o3').exists()
    code, _, err = run(capsys, '--eval-int8', tmp_path / 'none.pt')
    assert_one_line_error(code, err, 'model not found')
    code, _, err = run(capsys, '--eval-int8', tmp_path / 'notes.pth')
    assert_one_line_error(code, err, 'is not a model_int8.pt / model_fp32.pt written by tools/ptq.py')


def test_bad_configs_and_options(checkpoint: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, checkpoint, '--cfg-options', 'model.bbox_head.head_module.num_classes=5',
                       '--out', tmp_path / 'o1')
    assert_one_line_error(code, err, "(the config's number of classes differs from the weights')")
    code, _, err = run(capsys, checkpoint, '--int8', '--backend', 'tpu', '--out', tmp_path / 'o2')
    assert_one_line_error(code, err, 'tpu')
    code, _, err = run(capsys, checkpoint, '--config', tmp_path / 'nope.py', '--out', tmp_path / 'o3')
    assert_one_line_error(code, err, 'no such config file')
    with pytest.raises(SystemExit) as exit_info:  # argparse: one line, exit 2
        run(capsys, checkpoint, '--int8', '--calib-images', 0, '--out', tmp_path / 'o4')
    assert exit_info.value.code == 2
    assert "argument --calib-images: must be at least 1, got 0" in capsys.readouterr().err
    code, _, err = run(capsys, checkpoint, '--int8', '--skip-layers', 'auto:x', '--out', tmp_path / 'o5')
    assert_one_line_error(code, err, '--skip-layers takes layer names or a single auto:K')
    code, _, err = run(capsys, checkpoint, '--int8', '--calib-images', 4, '--skip-layers', 'no.such.layer',
                       '--out', tmp_path / 'o6')
    assert_one_line_error(code, err, '--skip-layers: ')
    assert not any((tmp_path / f'o{i}').exists() for i in range(1, 7))


def test_missing_calibration_set(checkpoint: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, checkpoint, '--int8', '--out', tmp_path / 'o',
                       '--cfg-options', f'train_dataloader.dataset.ann_file={tmp_path}/none.json')
    assert_one_line_error(code, err, 'the calibration (training) set is missing')


@pytest.fixture(scope='module')
def two_stage_checkpoint(checkpoint: Path) -> Path:
    """A Faster R-CNN (ResNet-18 FPN) on the same synthetic data: a detector ``--int8`` does not cover."""
    cfg = tiny_config(checkpoint.parent / 'data')
    model_cfg = Config.fromfile(str(MMDET_CONFIGS / '_base_/models/faster-rcnn_r50_fpn.py')).model
    model_cfg.backbone.update(depth=18, init_cfg=None)
    model_cfg.neck.in_channels = [64, 128, 256, 512]
    model_cfg.roi_head.bbox_head.update(num_classes=cfg.model.bbox_head.head_module.num_classes, fc_out_channels=64)
    model_cfg.test_cfg.rpn.update(nms_pre=100, max_per_img=20)  # an untrained RPN's proposals are all kept
    model_cfg.data_preprocessor = cfg.model.data_preprocessor
    cfg.model = model_cfg
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = checkpoint.parent / 'faster_rcnn.pth'
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)
    return path


def test_detectors_without_a_deployable_tensor_path(two_stage_checkpoint: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, two_stage_checkpoint, '--int8', '--out', tmp_path / 'int8')
    assert_one_line_error(code, err, '--int8 quantizes mmdet single-stage detectors with a neck and mmseg '
                                     'EncoderDecoder segmentors; FasterRCNN is neither')
    assert not (tmp_path / 'int8').exists()
    code, stdout, err = run(capsys, two_stage_checkpoint, '--out', tmp_path / 'fp32')
    assert code == 0, err
    report = json.loads((tmp_path / 'fp32' / 'report.json').read_text())
    assert set(report['models']) == {'fp32', 'fp32_fused'} and report['deployed_files'] == {}
    assert report['models']['fp32'] == report['models']['fp32_fused']  # evaluated in memory, the same network
    assert report['latency_settings']['memory_format'] == {'fp32': 'contiguous', 'fp32_fused': 'contiguous'}
    assert not (tmp_path / 'fp32' / 'model_fp32.pt').exists()
