"""The README's main command in its quick form: train, quantize, compare (a few minutes on 2 cores)."""
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_quick_demo_trains_quantizes_and_reports(tmp_path: Path) -> None:
    out = tmp_path / 'demo'
    result = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--out', str(out), '--data',
                             str(tmp_path / 'synthetic')], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'train qarep: 100%' in result.stderr and 'train repvgg: 100%' in result.stderr  # a bar per model
    summary = (out / 'summary.md').read_text()
    for row in ('| qarep fp32 |', '| qarep fp32_fused |', '| qarep int8 |', '| repvgg int8 |'):
        assert row in summary
    for name in ('qarep', 'repvgg'):
        assert (out / f'ptq_{name}' / 'report.json').is_file() and (out / f'ptq_{name}' / 'model_int8.pt').is_file()
    # Refuses to write into a folder that already holds a demo.
    again = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--out', str(out)], cwd=REPO_ROOT,
                           capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip().endswith('nothing was overwritten')
