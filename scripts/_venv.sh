# Sourced by demo.sh and test.sh: create .venv if missing and install the project into it.
# Idempotent: a stamp records the hash of pyproject.toml, so reruns skip the install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setting up .venv (first run only)" >&2
    "$PY" -m venv .venv
fi
STAMP=".venv/.tsn-installed"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip >&2 || true
    # torch/torchvision first, pinned to the builds this project is tested with.
    .venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1" >&2
    .venv/bin/python -m pip install --quiet -e ".[dev]" >&2
    echo "$WANT" > "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
