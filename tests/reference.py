"""Where the reference material beside the repository lives (`../shared/reference`), found relative
to this checkout; tests that read it carry `needs_reference(path)`."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"
CAFFE = REFERENCE / "caffe"
SPLITS = REFERENCE / "splits"


def needs_reference(path: Path) -> pytest.MarkDecorator:
    """Mark a test (or a module, via `pytestmark`) that reads `path`.

    conftest.py skips it when `path` is missing, except in CI (`CI=true`), where it fails loudly.
    """
    return pytest.mark.reference(Path(path))
