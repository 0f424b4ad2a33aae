"""`tsn probe`: check that videos decode: codec, frame counts, rate, keyframes, and chosen frames
written as PNG exactly as the video loader returns them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tsncli.commands import SUMMARIES
from tsncli.commands._common import DecodeThreads, example
from tsncli.commands._report import console, print_json

SUMMARY = SUMMARIES["probe"]


def probe_command(
    videos: Annotated[
        list[str], typer.Argument(help="Video files, folders of videos or list files.")
    ],
    frames: Annotated[
        str | None,
        typer.Option(help="Frames to write as PNG, 0-based in display order, e.g. 0,120,399."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for --frames (one subfolder per video).")
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="Resize written frames to WxH, like the loader.")
    ] = None,
    short_side: Annotated[
        int | None, typer.Option(help="Resize written frames to this shorter side instead.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Videos probed in parallel.")] = 1,
    decode_threads: DecodeThreads = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON object to stdout.")
    ] = False,
) -> None:
    """Probe videos; exits 1 when any of them does not decode to the end."""
    from tsncli.frame_settings import parse_size
    from tsncli.video.backend import set_decode_threads
    from tsncli.video.files import check_size_options
    from tsncli.video.probe import parse_frame_list, probe_requests, probe_videos

    check_size_options(size, short_side)
    set_decode_threads(decode_threads)
    wanted = parse_frame_list(frames)
    target = str(out) if out is not None else None
    requests = probe_requests(videos, wanted, target, size and parse_size(size), short_side)
    reports = list(probe_videos(requests, workers))
    bad = [r for r in reports if not r.ok]
    if json_output:
        print_json({"videos": [r.to_json() for r in reports], "bad": [r.path for r in bad]})
    else:
        _print_reports(reports)
        if bad:
            _print_bad(bad, [r.path for r in reports])
    if bad:
        raise typer.Exit(1)


def _print_reports(reports: list) -> None:
    table = Table(title="videos", header_style="bold")
    for name in ("video", "codec", "frames", "fps", "keyframes", "to end"):
        table.add_column(name, justify="right" if name in ("frames", "fps") else "left")
    for r in reports:
        if r.error is not None and not r.codec:
            continue
        frames = str(r.decoded_frames)
        if r.decoded_frames != r.packets or r.container_frames not in (0, r.packets):
            frames += f" ({r.packets} listed, header {r.container_frames or '-'})"
        rate = f"{r.fps:.2f}" + (" VFR" if r.variable_rate else "")
        keys = " ".join(map(str, r.keyframes[:5])) + (" ..." if len(r.keyframes) > 5 else "")
        codec = f"{r.codec} ({r.container.split(',')[0]})"
        table.add_row(Path(r.path).name, codec, frames, rate, f"{keys} (GOP {r.longest_gop})",
                      _to_end(r))  # fmt: skip
    console.print(table)
    for r in reports:
        for path in r.written:
            console.print(f"wrote {path}", markup=False, highlight=False)
        if r.past_end:
            past = ", ".join(map(str, r.past_end))
            console.print(f"{Path(r.path).name}: no frame {past} (it has {r.decoded_frames})")
        if r.rotation:
            console.print(_rotation_note(r), markup=False, highlight=False)


def _rotation_note(r: object) -> str:
    """A rotated video's display size: frames are decoded turned, as players show them."""
    w, h = (r.height, r.width) if r.rotation in (90, 270) else (r.width, r.height)
    return (
        f"{Path(r.path).name}: rotated {r.rotation} degrees: frames decode as {w}x{h} "
        f"(stored {r.width}x{r.height}; --ignore-rotation keeps that)"
    )


def _to_end(r: object) -> str:
    if r.decodes_to_end:
        return "yes"
    if r.partial is not None:  # short of the header's count or duration: a cut file
        return f"no ({r.partial})"
    return "NO"


def _print_bad(bad: list, paths: list[str]) -> None:
    root = os.path.commonpath([os.path.abspath(p) for p in paths])
    root = root if len(paths) > 1 else os.path.dirname(root)
    table = Table(title=f"{len(bad)} bad video(s) under {root}", header_style="bold red")
    table.add_column("video", no_wrap=True)
    table.add_column("problem")
    for r in bad:
        problem = r.error or r.partial or f"decodes {r.decoded_frames} of {r.packets} frames"
        if r.error and r.partial:
            problem = f"ends early, {r.partial}: {r.error}"
        table.add_row(os.path.relpath(os.path.abspath(r.path), root), problem.replace(r.path, "…"))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command(
        name="probe",
        help=SUMMARY,
        epilog=example(
            "tsn probe data/ucf101/videos --workers 8",
            "tsn probe v.avi --frames 0,120,399 --out frames_check --size 340x256",
            "tsn probe clip.mp4 --json",
        ),
    )(probe_command)
