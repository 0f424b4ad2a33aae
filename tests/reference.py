"""What some tests need from outside the repository: the reference material beside it
(`../shared/reference`, found relative to this checkout) and dev-extra files. Missing ones skip
locally and fail in CI (`CI=true`); tests/conftest.py enforces the two marks below."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference"
CAFFE = REFERENCE / "caffe"
SPLITS = REFERENCE / "splits"


def needs_reference(path: Path) -> pytest.MarkDecorator:
    """Mark a test (or a module, via `pytestmark`) that reads `path`."""
    return pytest.mark.reference(Path(path))


def needs(present: object, what: str) -> pytest.MarkDecorator:
    """Mark a test that needs `what` (e.g. a dev-extra package); `present` says if it is here."""
    return pytest.mark.needs(bool(present), what)
