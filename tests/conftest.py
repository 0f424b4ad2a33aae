"""Shared fixtures: a fixed terminal width so Rich output is stable, and a CLI runner."""

from __future__ import annotations

import os

import pytest

os.environ["COLUMNS"] = "120"
os.environ["TERM"] = "dumb"
os.environ.setdefault("NO_COLOR", "1")


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli():
    from tsncli.cli import app

    return app
