#!/usr/bin/env bash
# On a machine with a CUDA GPU: run the test suite there (models default to CUDA when it is available) and time
# the main steps on the GPU. Usage: bash scripts/device_check.sh OUTDIR [PYTEST_WORKERS]
# Writes OUTDIR/tests.log, OUTDIR/cuda_peaks.log (tests over 1 GiB of GPU memory) and OUTDIR/timings_cuda.json (compare: python scripts/device_timings.py F.json cpu).
set -uo pipefail
out=${1:?usage: device_check.sh OUTDIR [PYTEST_WORKERS]}
workers=${2:-8}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg NEURALIGN_CUDA_PEAK_LOG="$out/cuda_peaks.log"
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
# wheels carried beside the tree (.wheels/, e.g. POT, pynwb, torchcfm for a machine without PyPI): installed with the
# same python3 that runs the tests, and the install's errors shown rather than swallowed
if compgen -G ".wheels/*.whl" >/dev/null; then
  python3 -m pip install --no-deps .wheels/*.whl >"$out/wheels.log" 2>&1 || { echo "wheel install failed:"; tail -20 "$out/wheels.log"; }
fi
python3 -c "import ot, pynwb, torchcfm" 2>"$out/imports.log" || { echo "WARNING: an optional dependency does not import (tests that need it fail):"; tail -3 "$out/imports.log"; }
# the timings first: a test suite that runs long must not cost them
timeout 200 python3 scripts/device_timings.py "$out/timings_cuda.json" cuda >"$out/timings.log" 2>&1 || { echo "cuda timings failed"; tail -20 "$out/timings.log"; }
started=$(date +%s)
timeout 240 python3 -m pytest -q -m "not slow" -p no:cacheprovider -n "$workers" tests >"$out/tests.log" 2>&1
echo "tests: exit $? in $(( $(date +%s) - started )) s"; tail -25 "$out/tests.log"
for f in "$out"/timings_*.json; do echo "== $f"; grep -v '^    "\(python\|platform\|machine\|numpy\)' "$f"; done
if [ -f "$out/cuda_peaks.log" ]; then sort -rn "$out/cuda_peaks.log" | head -20; else echo "no test used over 1 GiB of GPU memory"; fi
