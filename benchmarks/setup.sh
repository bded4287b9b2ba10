#!/usr/bin/env bash
# Creates benchmarks/.venv, the Python environment of the side-by-side benchmark (docs/PERFORMANCE.md), from
# PyPI. The versions are pinned so that two runs of the benchmark compare the same PyTorch. PyPI serves no
# CPU-only torch wheel; the default one (with CUDA libraries, about 4 GB installed) runs on the CPU as well.
#
#   bash benchmarks/setup.sh            # once; re-running it only checks the pins
#   PYTHON=python3.12 bash benchmarks/setup.sh
set -euo pipefail

TORCH_VERSION=2.15.0
NUMPY_VERSION=2.4.6

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==$TORCH_VERSION" "numpy==$NUMPY_VERSION"
"$venv/bin/python" - <<'PY'
import numpy, torch
print(f"torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), numpy {numpy.__version__}")
PY
echo "ready: $venv/bin/python benchmarks/run.py --quick"
