#!/usr/bin/env bash
# Set up .venv if needed, then lint (ruff, import layers) and run the whole test suite. Extra args go to pytest.
source "$(dirname "$0")/_venv.sh"
ruff check .
ruff format --check .
lint-imports  # the layer order and no cycles: [tool.importlinter] in pyproject.toml
python -m pytest "$@"
