"""The README's main command in its quick form: train, quantize, compare (about 2.5 minutes on 2 cores),
and its one-line errors (in-process, seconds)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from testing_utils import load_tool, run_failing

REPO_ROOT = Path(__file__).resolve().parents[1]
# bbox mAP@0.5 of the quick demo (16 epochs, seed 0) on the 40 validation images, measured: qarep 0.077,
# repvgg 0.142 (FP32; the fused model equal, INT8 0.081 / 0.144). The floors leave room for another CPU's
# floating point; the quick demo used to report 0.000 for both.
QUICK_MAP50_FLOOR = dict(qarep=0.03, repvgg=0.03)

demo = load_tool('demo')


def test_quick_demo_trains_quantizes_and_reports(tmp_path: Path) -> None:
    out = tmp_path / 'demo'
    result = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--out', str(out), '--data',
                             str(tmp_path / 'synthetic')], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'train qarep: 100%' in result.stderr and 'train repvgg: 100%' in result.stderr  # a bar per model
    summary = (out / 'summary.md').read_text()
    for row in ('| qarep fp32 |', '| qarep fp32_fused |', '| qarep int8 |', '| repvgg fp32 |', '| repvgg int8 |'):
        assert row in summary
    assert summary.count('fused == unfused') == 2 and summary.count('faster than fused FP32') == 2
    results = json.loads((out / 'summary.json').read_text())
    assert (results['quick'], results['epochs'], results['seed']) == (True, demo.QUICK_EPOCHS, 0)
    for name, floor in QUICK_MAP50_FLOOR.items():
        metrics = results['models'][name]['metrics']
        fp32 = metrics['fp32']['coco/bbox_mAP_50']
        assert fp32 >= floor, f'{name}: mAP@0.5 {fp32:.3f} below the floor {floor}'
        assert metrics['fp32_fused']['coco/bbox_mAP_50'] == pytest.approx(fp32, abs=0.005)  # fused == unfused
        assert results['models'][name]['fusion_max_abs_diff'] < 1e-3
        assert metrics['int8']['coco/bbox_mAP_50'] >= floor / 2
        assert (out / f'ptq_{name}' / 'report.json').is_file() and (out / f'ptq_{name}' / 'model_int8.pt').is_file()
    # Refuses to write into a folder that already holds a demo (before any work).
    again = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--out', str(out)], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip().endswith('nothing was overwritten')


def test_bad_input_is_one_line_and_creates_nothing(tmp_path: Path, capsys) -> None:
    taken = tmp_path / 'taken'
    taken.mkdir()
    (taken / 'notes.txt').write_text('mine')
    line = run_failing(demo, ['--out', str(taken)], capsys, 'demo.py')
    assert line.endswith('nothing was overwritten') and (taken / 'notes.txt').read_text() == 'mine'
    assert 'must be at least 1' in run_failing(demo, ['--epochs', '0'], capsys, 'demo.py')
    line = run_failing(demo, ['--epochs', '8', '--out', str(tmp_path / 'short')], capsys, 'demo.py')
    assert line.endswith("--epochs must be more than the recipe's 8 warm-up epochs, got 8")
    assert 'must be at least 0' in run_failing(demo, ['--seed', '-1'], capsys, 'demo.py')
    foreign = tmp_path / 'photos'  # not a synthetic set: never replaced
    foreign.mkdir()
    (foreign / 'a.jpg').write_bytes(b'jpeg')
    out = tmp_path / 'out'
    line = run_failing(demo, ['--out', str(out), '--data', str(foreign)], capsys, 'demo.py')
    assert line.startswith('demo.py: error: --data: ') and 'refusing to replace' in line
    assert (foreign / 'a.jpg').read_bytes() == b'jpeg' and not out.exists()
