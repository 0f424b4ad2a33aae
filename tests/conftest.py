"""Shared fixtures: a fixed terminal width so Rich output is stable, a CLI runner, and a file
server on 127.0.0.1 (tests/fetch_server.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fetch_server import FileServer

os.environ["COLUMNS"] = "120"
os.environ["TERM"] = "dumb"
os.environ.setdefault("NO_COLOR", "1")


def pytest_runtest_setup(item):
    """Marks from tests/reference.py: what a test needs skips it when missing, fails it in CI."""
    missing = [
        f"reference material {path} (clone ../shared beside the repository)"
        for path in (Path(mark.args[0]) for mark in item.iter_markers("reference"))
        if not path.exists()
    ]
    missing += [mark.args[1] for mark in item.iter_markers("needs") if not mark.args[0]]
    if not missing:
        return
    message = "missing: " + "; ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli():
    from tsncli.cli import app

    return app


# Session-scoped toy data for any test that needs a realistic, UCF101-shaped dataset.
TOY_FIXTURE_SETTINGS = {"videos_per_class": 4, "seed": 0, "min_frames": 16, "max_frames": 24}


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """A tiny toy dataset (8 classes x 4 videos, 128x96, 16-24 frames): `videos/`, `splits/`.

    Laid out exactly as `tsn unpack ucf101` leaves UCF101; `toy_meta.json` records every video's
    cues. Read-only: copy it before changing anything.
    """
    from tsncli.acquire.toy import generate_toy_dataset

    root = tmp_path_factory.mktemp("toy") / "toy"
    generate_toy_dataset(root, **TOY_FIXTURE_SETTINGS)
    return root


@pytest.fixture(scope="session")
def toy_frames(toy_dataset, tmp_path_factory):
    """`tsn flow` output for `toy_dataset` (DIS flow, 128x96): `<root>/<video_id>/img_*.jpg`,
    `flow_x_*.jpg`, `flow_y_*.jpg`. Read-only."""
    from typer.testing import CliRunner

    from tsncli.cli import app

    out = tmp_path_factory.mktemp("toy_frames") / "frames"
    args = ["flow", str(toy_dataset / "videos"), str(out), "--algo", "dis", "--size", "128x96"]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def server():
    """A file server on 127.0.0.1 (Range, HEAD, faults on demand), closed after the test."""
    srv = FileServer()
    yield srv
    srv.close()
