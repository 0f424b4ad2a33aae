#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the whole test suite. Extra args go to pytest.
source "$(dirname "$0")/_venv.sh"
ruff check .
ruff format --check .
python -m pytest "$@"
