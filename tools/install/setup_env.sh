#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment in ./.venv.
#
# Two layers, so that a new clone on a machine that has been set up before is ready in seconds:
#   1. the stack (torch, mmcv with ops, mmengine, mmdet, test tools): one venv per machine and
#      requirement set, in the user cache (QAREP_CACHE, else $XDG_CACHE_HOME/qarep_det, else
#      ~/.cache/qarep_det), built once (~25 min the very first time: mmcv is compiled) and shared;
#   2. ./.venv: a small venv of this checkout that sees the stack through a .pth file and holds
#      this package in editable mode.
# A checkout that is already set up is checked against a fingerprint in about a second.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP="$VENV/.qarep_det-setup"

command -v "$PYTHON" >/dev/null 2>&1 || { echo "[setup] $PYTHON not found: Python 3.11 is required" >&2; exit 2; }
stack_key=$( (cat requirements/*.txt tools/install/build_mmcv.sh; "$PYTHON" -VV) | sha256sum | cut -c1-16)
fingerprint=$( (echo "$stack_key"; cat setup.py tools/install/setup_env.sh) | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

cache_root=${QAREP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qarep_det}
stack="$cache_root/stack-$stack_key"
if [ ! -f "$stack/.complete" ]; then
  echo "[setup] building the shared stack in $stack"
  mkdir -p "$cache_root"
  partial="$stack.partial-$$"
  trap 'rm -rf "$partial"' EXIT
  "$PYTHON" -m venv "$partial"
  pip_stack() { "$partial/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
  pip_stack -r requirements/runtime.txt -r requirements/build.txt
  bash tools/install/build_mmcv.sh "$partial/bin/python"
  pip_stack -r requirements/tests.txt
  "$partial/bin/python" -c 'import mmdet, torch; from mmcv.ops import nms'
  touch "$partial/.complete"
  # Publish atomically; if another set-up won the race, keep its stack.
  mv -T "$partial" "$stack" 2>/dev/null || rm -rf "$partial"
  trap - EXIT
fi

echo "[setup] creating $VENV on top of $stack"
rm -rf "$VENV"
"$PYTHON" -m venv --without-pip "$VENV"
site_packages=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
stack_site=$("$stack/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$stack_site')" > "$site_packages/_qarep_det_stack.pth"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c 'import mmdet, qarep_det; from mmcv.ops import nms'
echo "$fingerprint" > "$STAMP"
echo "[setup] ready: $VENV"
