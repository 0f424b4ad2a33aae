"""A URL given where a local video is read (`predict`, `flow`, `probe`) is one line pointing at
`tsn fetch`, not "does not exist" about a path with one slash folded away."""

from __future__ import annotations

import pytest

from tsncli.errors import UsageError
from tsncli.video.files import list_videos, refuse_url

URL = "https://example.com/clips/a.mp4"


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


@pytest.mark.parametrize(
    "args",
    [
        ["predict", URL, "--checkpoint", "missing.pt"],
        ["flow", URL, "frames_out"],
        ["probe", URL],
    ],
    ids=["predict", "flow", "probe"],
)
def test_a_url_names_tsn_fetch_with_the_url_intact(runner, cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, args)
    text = _text(result.output)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "URLs are not supported here" in text and f"`tsn fetch {URL}`" in text
    assert "https:/example" not in text and "does not exist" not in text
    assert not (tmp_path / "frames_out").exists()


def test_what_path_makes_of_a_url_is_still_recognised():
    from pathlib import Path

    with pytest.raises(UsageError, match="http://host/v.avi"):
        list_videos(Path("http://host/v.avi"))  # Path folds it to http:/host/v.avi


def test_a_local_folder_spelled_like_a_scheme_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:" / "x").mkdir(parents=True)
    refuse_url("http:/x")  # it exists: a path, not a URL
