"""`tsn predict --stream SRC`: checks the options that go with a live source, runs
`tsncli.engine.live.predict_stream`, and prints a line (or a JSON line) per labelled window."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tsncli.commands._report import console
from tsncli.errors import UsageError

if TYPE_CHECKING:
    from tsncli.engine.live import LiveWindow

log = logging.getLogger("tsncli.commands.predict")

STREAM_WINDOW = 2.0  # seconds; the stride defaults to half the window


def predict_stream_command(
    source: str,
    paths: list[str],
    checkpoints: list[Path],
    weights: list[float] | None,
    *,
    segments: int,
    crops: int | None,
    gpu: bool,
    ignore_rotation: bool,
    window: float | None,
    stride: float | None,
    timeline: Path | None,
    max_seconds: float | None,
    top_k: int,
    json_output: bool,
    file_only: dict[str, bool],
) -> None:
    """Label the windows of `source` live until it ends, `max_seconds` pass or Ctrl-C (exit 0,
    the timeline written). `file_only`: options given that need a video file (--plot, ...)."""
    from tsncli.engine.live import StreamSettings, predict_stream
    from tsncli.engine.timeline import check_timeline_path
    from tsncli.engine.windows import WindowScorer

    if paths:
        raise UsageError(
            f"--stream reads a live source, not video files; drop {' '.join(paths)} or drop "
            "--stream"
        )
    given = [name for name, on in file_only.items() if on]
    if given:
        raise UsageError(f"{given[0]} needs a video file; it does not apply to --stream")
    window = STREAM_WINDOW if window is None else window
    stride = window / 2 if stride is None else stride
    settings = StreamSettings(window, stride, top_k, max_seconds)  # checked before loading
    if timeline is not None:
        check_timeline_path(timeline)
    device = "cpu"
    if gpu:
        from tsncli.launch import resolve_devices

        device = resolve_devices(1)[0]
    scorer = WindowScorer.load(checkpoints, weights, segments, crops, device, ignore_rotation)
    meta = {"checkpoints": [str(c) for c in checkpoints], "segments": segments}

    def show(labelled: LiveWindow) -> None:
        if json_output:
            typer.echo(json.dumps(labelled.to_json(), allow_nan=False))  # flushed per line
            return
        row = labelled.row
        console.print(
            f"{row.start:9.2f}s-{row.end:.2f}s  {row.label}  {row.score:.3f}  "
            f"lag {labelled.lag:.2f}s  dropped {labelled.dropped}",
            markup=False,
            highlight=False,
        )

    result = predict_stream(source, scorer, settings, show, timeline, meta)
    if result.error is not None:
        log.warning("%s broke off: %s", result.source, result.error)
    saved = f"; timeline in {result.timeline}" if result.timeline is not None else ""
    log.info(
        "%s: %d windows, %d frames decoded, %d dropped, lag mean %.2f s, max %.2f s; "
        "stopped: %s%s",
        result.source, len(result.windows), result.decoded, result.dropped, result.mean_lag,
        result.max_lag, result.stopped, saved,
    )  # fmt: skip
