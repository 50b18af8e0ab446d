#!/usr/bin/env bash
# Set up sgt-eval in a virtual environment:   bash scripts/install.sh [VENV_DIR]   (default: .venv)
#
# torch: an environment that already has torch keeps it (GPU users: install sgt-eval into your own
# environment with `pip install -e .`). Otherwise the CPU build torch==2.13.0 is installed from a local
# wheel folder when pip has one, else from the PyTorch CPU index, so a CPU machine never downloads the
# multi-GB CUDA build that plain `pip install torch` would bring.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
python="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade pip 2> >(grep -v "is ignored" >&2)

# TORCH="torch==2.14.1 torchvision==0.29.1" EXTRAS=dev,vlmeval: the VLMEvalKit venv (`make test-vlmeval`);
# VLMEVALKIT_REPO=<clone> then puts that VLMEvalKit in place of PyPI's ms-vlmeval (an older release).
extras="${EXTRAS:-dev}"
if [ -n "${TORCH:-}" ]; then
  # shellcheck disable=SC2086  # a list of requirement specifiers
  "${pip[@]}" install $TORCH
elif ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    "${pip[@]}" install torch
  elif "${pip[@]}" install --no-index --no-deps "torch==2.13.0" 2>/dev/null; then
    "${pip[@]}" install "torch==2.13.0"   # the local CPU wheel is in place; this adds its dependencies
  else
    "${pip[@]}" install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  fi
fi
"${pip[@]}" install -e ".[$extras]" 2> >(grep -v "is ignored" >&2)
if [ -n "${VLMEVALKIT_REPO:-}" ]; then
  "${pip[@]}" install -e "$VLMEVALKIT_REPO" 2> >(grep -v "is ignored" >&2)
  # VLMEvalKit @ e8e78f05 imports rouge_score at import time, but its requirements name only `rouge`
  "${pip[@]}" install rouge_score 2> >(grep -v "is ignored" >&2)
  "${pip[@]}" uninstall -y ms-vlmeval   # last: its vlmeval/ folder would shadow the clone
  (cd / && "$venv/bin/python" -c "import sys, vlmeval; sys.exit(not vlmeval.__file__.startswith('$VLMEVALKIT_REPO'))") \
    2>/dev/null || { echo "vlmeval does not import from $VLMEVALKIT_REPO" >&2; exit 1; }
fi
echo "sgt-eval installed in $venv ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
