#!/usr/bin/env bash
# Install mmcv 2.1.0 *with its compiled ops* into the environment of the given python.
#
# mmcv 2.1.0 ships no wheel for torch 2.14, so it is built from the PyPI sdist. Two patches are
# needed: its setup.py imports pkg_resources (setuptools<70, --no-build-isolation) and forces
# -std=c++14/17, while torch 2.14's headers need C++20. CPU ops here; CUDA ops when nvcc and a GPU
# are present. The wheel is cached per (torch version, flavour, python) in a user cache directory
# (QAREP_CACHE, else $XDG_CACHE_HOME/qarep_det, else ~/.cache/qarep_det) so that only the first
# set-up on a machine pays for the ~20 minute build.
#
# Usage: build_mmcv.sh PYTHON
set -euo pipefail

PY=${1:?usage: build_mmcv.sh PYTHON}
MMCV_VERSION=2.1.0

if "$PY" - <<PYEOF 2>/dev/null; then
import importlib.metadata as md, sys
sys.exit(0 if md.version('mmcv') == '$MMCV_VERSION' else 1)
PYEOF
  if "$PY" -c 'from mmcv.ops import nms' 2>/dev/null; then
    exit 0
  fi
fi

torch_ver=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
py_tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
if command -v nvcc >/dev/null 2>&1 && \
   "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  flavour=cuda
  export FORCE_CUDA=1
else
  flavour=cpu
  export FORCE_CUDA=0
fi
cache_root=${QAREP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qarep_det}
cache="$cache_root/mmcv-$MMCV_VERSION-torch$torch_ver-$flavour-$py_tag"

wheel=$(ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo "[setup] building mmcv $MMCV_VERSION ($flavour ops, torch $torch_ver); the first time takes ~20 min on 2 cores"
  work=$(mktemp -d)
  # mmcv 2.1.0's setup.py builds only with setuptools<70; the environment's own setuptools is put
  # back afterwards, whatever happens.
  runtime_setuptools=$("$PY" -c 'import importlib.metadata as md; print(md.version("setuptools"))')
  trap '"$PY" -m pip install --quiet "setuptools==$runtime_setuptools"; rm -rf "$work"' EXIT
  "$PY" -m pip install --quiet 'setuptools<70' 2>/dev/null
  "$PY" -m pip download --quiet --no-deps --no-binary mmcv --no-build-isolation \
    "mmcv==$MMCV_VERSION" -d "$work"
  tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
  src="$work/mmcv-$MMCV_VERSION"
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  grep -q -- '-std=c++20' "$src/setup.py" || { echo "[setup] could not patch mmcv's C++ standard" >&2; exit 1; }
  MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 \
    "$PY" -m pip wheel --no-deps --no-build-isolation -w "$work/dist" "$src"
  mkdir -p "$cache"
  built=$(ls "$work"/dist/mmcv-*.whl | head -n 1)
  # Atomic publish: a half-copied wheel is never seen by a concurrent or later set-up.
  cp "$built" "$cache/.partial-$$"
  mv "$cache/.partial-$$" "$cache/$(basename "$built")"
  wheel="$cache/$(basename "$built")"
fi
"$PY" -m pip install --quiet --no-deps --force-reinstall "$wheel"
"$PY" -c 'from mmcv.ops import nms' || { echo "[setup] mmcv installed but its ops do not import" >&2; exit 1; }
