#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment in ./.venv.
#
# On a fresh machine that has only Python 3.11 and the package registries: creates the venv,
# installs the pinned stack, builds mmcv 2.1.0 with its ops (cached per machine, see
# build_mmcv.sh), installs the test tools and this package in editable mode. Already set up, it
# checks a stamp of the requirement files and returns in a second.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
PY="$VENV/bin/python"
STAMP="$VENV/.qarep_det-setup"

fingerprint=$(cat requirements/*.txt setup.py tools/install/build_mmcv.sh tools/install/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] && [ -x "$PY" ]; then
  exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || { echo "[setup] $PYTHON not found: Python 3.11 is required" >&2; exit 2; }
if [ ! -x "$PY" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

echo "[setup] installing the pinned stack (torch, mmengine, mmdet, ...)"
pip_install -r requirements/runtime.txt -r requirements/build.txt
bash tools/install/build_mmcv.sh "$PY"
pip_install -r requirements/tests.txt
pip_install --no-deps --no-build-isolation -e .
"$PY" -c 'import mmdet, qarep_det; from mmcv.ops import nms'
echo "$fingerprint" > "$STAMP"
echo "[setup] ready: $VENV"
