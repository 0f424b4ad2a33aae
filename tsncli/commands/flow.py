"""`tsn flow`: Extract frames and optical flow (TV-L1, warped TV-L1, Farneback, DIS) in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tsncli.commands import SUMMARIES
from tsncli.commands._common import IgnoreRotation, cli_overrides, example, finite, output_folder
from tsncli.commands._progress import ProgressView
from tsncli.commands._report import console
from tsncli.config import resolve_config
from tsncli.errors import DataError, UsageError
from tsncli.flow.algorithms import DEFAULT_BATCH_PAIRS
from tsncli.flow.batch import estimate_flow_extraction, run_flow_extraction
from tsncli.flow.estimate import ESTIMATE_SAMPLE, SAMPLE_FRAMES, FlowEstimate
from tsncli.flow.job import EXTRACT_OUTPUTS, FlowConfig
from tsncli.flow.sinks import FORMATS, describe_formats
from tsncli.frame_settings import DEFAULT_ALGORITHM
from tsncli.launch import resolve_devices, resolve_launch
from tsncli.logs import stderr_console
from tsncli.parallel import available_cpus
from tsncli.shards import parse_shard
from tsncli.specs.flow_algorithms import (
    IMPLEMENTATIONS,
    describe_algorithms,
    flow_algorithm_names,
    torch_algorithms,
)

SUMMARY = SUMMARIES["flow"]

_NOT_CONFIG = (
    "config", "src", "out", "workers", "gpus", "shard", "force", "allow_partial", "estimate",
    "estimate_sample",
)  # fmt: skip


def complete_algo(incomplete: str) -> list[str]:
    """Shell completion for --algo, read from the flow-algorithm registry."""
    return [name for name in flow_algorithm_names() if name.startswith(incomplete)]


def complete_modality(incomplete: str) -> list[str]:
    """Shell completion for --modality."""
    return [m for m in EXTRACT_OUTPUTS if m.startswith(incomplete)]


def complete_format(incomplete: str) -> list[str]:
    """Shell completion for --format, read from the frame-format registry."""
    return [name for name in FORMATS if name.startswith(incomplete)]


def flow_command(
    ctx: typer.Context,
    src: Annotated[
        Path,
        typer.Argument(help="A video, a folder (searched recursively) or a .txt list."),
    ],
    out: Annotated[
        Path,
        typer.Argument(
            help="Frames root: one OUT/<video_id>/ folder per video.", callback=output_folder
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Parallel worker processes (default: one per CPU)."
        ),
    ] = None,
    gpus: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="One worker per GPU (cuda:0..N-1) running torch flow, CPU threads decoding and "
            "writing JPEGs; implies --device cuda. Instead of --workers.",
        ),
    ] = None,
    device: Annotated[
        str,
        typer.Option(help="Where torch flow runs: cpu or cuda (cuda: one GPU, as --gpus 1)."),
    ] = "cpu",
    impl: Annotated[
        str | None,
        typer.Option(
            help=f"Flow implementation: {' or '.join(IMPLEMENTATIONS)} (default: opencv on CPU, "
            f"torch on CUDA). torch runs {', '.join(torch_algorithms())}; recorded in "
            "flow_config.yaml."
        ),
    ] = None,
    batch_pairs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Consecutive frame pairs per torch flow call (halved by itself on GPU "
            "out-of-memory).",
        ),
    ] = DEFAULT_BATCH_PAIRS,
    algo: Annotated[
        str,
        typer.Option(
            autocompletion=complete_algo,
            help=f"Flow algorithm: {describe_algorithms()}.",
        ),
    ] = DEFAULT_ALGORITHM,
    modality: Annotated[
        str,
        typer.Option(autocompletion=complete_modality, help="What to write: rgb, flow or both."),
    ] = "both",
    frame_format: Annotated[
        str,
        typer.Option(
            "--format",
            autocompletion=complete_format,
            help=f"How frames are stored: {describe_formats()}. Recorded in flow_config.yaml.",
        ),
    ] = FlowConfig.format,
    size: Annotated[
        str | None,
        typer.Option(help="Resize frames to WxH before flow (default: 340x256, as TSN)."),
    ] = None,
    short_side: Annotated[
        int | None, typer.Option(help="Instead of --size: scale the short side to S, keep aspect.")
    ] = None,
    bound: Annotated[
        float, typer.Option(help="Flow is clipped to [-bound, bound] pixels.", callback=finite)
    ] = 20.0,
    step: Annotated[int, typer.Option(help="Use every STEP-th frame (flow between them).")] = 1,
    ignore_rotation: IgnoreRotation = False,
    ext: Annotated[
        str, typer.Option(help="Video extensions to look for in a folder, comma-separated.")
    ] = ",".join(FlowConfig.ext),
    shard: Annotated[
        str | None,
        typer.Option(
            help="Do only shard K of N (1-based), e.g. 2/4 on machine 2 (default under srun or "
            "a SLURM array: this task's share)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Redo videos whose folder already exists.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            help="Exit 0 although some videos end early (fewer frames than their header says, "
            "e.g. cut downloads; listed in OUT/partial.tsv either way)."
        ),
    ] = False,
    estimate: Annotated[
        bool,
        typer.Option(
            help="Extract nothing: print the videos, frames, and the files and bytes each "
            "--format would take (from header frame counts and a few videos extracted in "
            "memory), then exit."
        ),
    ] = False,
    estimate_sample: Annotated[
        int,
        typer.Option(
            min=1,
            help=f"Videos --estimate extracts in memory (spread over the list; the first "
            f"{SAMPLE_FRAMES} frames of each).",
        ),
    ] = ESTIMATE_SAMPLE,
    config: Annotated[
        Path | None, typer.Option(help="YAML file of these options (flags override it).")
    ] = None,
) -> None:
    """Extract frames (img_%05d.jpg) and flow (flow_x/flow_y_%05d.jpg) in the dense_flow layout.

    A video of N frames gives N images and N-1 flows (step 1); --format zip stores the same
    JPEGs in OUT/<video_id>/img.zip, flow_x.zip, flow_y.zip (dense_flow's -o zip), 3 files per
    video instead of 3N. An existing OUT/<video_id>/ is done and skipped; failures go to
    OUT/failed.tsv and make the exit code 1, as do videos that end early (written, listed in
    OUT/partial.tsv) unless --allow-partial.
    """
    overrides = cli_overrides(ctx, exclude=_NOT_CONFIG)
    if "frame_format" in overrides:
        overrides["format"] = overrides.pop("frame_format")
    if "ext" in overrides:
        overrides["ext"] = tuple(e.strip().lstrip(".") for e in ext.split(",") if e.strip())
    # A size given on the command line replaces a short side from --config, and vice versa.
    if "size" in overrides and "short_side" not in overrides:
        overrides["short_side"] = None
    if "short_side" in overrides and "size" not in overrides:
        overrides["size"] = None
    if gpus and overrides.get("device", "cuda") != "cuda":
        raise UsageError("--gpus runs on CUDA; drop --device cpu, or use --workers on CPU")
    if gpus:
        overrides["device"] = "cuda"
    cfg = resolve_config(FlowConfig, section="flow", config_file=config, overrides=overrides)
    # --device cuda alone is one GPU; without CUDA both name the CPU alternative
    devices = (
        resolve_devices(gpus or 1, asked=None if gpus else "--device cuda")
        if cfg.device == "cuda"
        else None
    )
    shard_kn = parse_shard(shard) or resolve_launch().shard  # srun tasks, array tasks

    if estimate:
        with ProgressView() as show:
            found = estimate_flow_extraction(
                src,
                cfg,
                workers=workers or available_cpus(),
                devices=devices,
                shard=shard_kn,
                sample=estimate_sample,
                on_progress=show,
            )
        _print_estimate(found, cfg, shard_kn is not None)
        return
    with ProgressView() as show:
        summary = run_flow_extraction(
            src,
            out,
            cfg,
            workers=workers or available_cpus(),
            devices=devices,
            shard=shard_kn,
            force=force,
            on_progress=show,
        )
    partial = f", {len(summary.partial)} of them partial" if summary.partial else ""
    stderr_console.print(
        f"done {summary.done}, skipped {summary.skipped}, failed {len(summary.failed)} "
        f"of {summary.total} video(s){partial}; {summary.frames} frames in {summary.seconds:.1f} s "
        f"({summary.frames_per_second:.1f} frames/s) -> {out}",
        markup=False,
        highlight=False,
    )
    early = summary.partial and not allow_partial
    if summary.failed:
        names = ", ".join(r.video_id for r in summary.failed[:10])
        more = " ..." if len(summary.failed) > 10 else ""
        raise DataError(
            f"{len(summary.failed)} video(s) failed: {names}{more}; reasons are in "
            f"{summary.failed_file}; the other videos are done, fix or remove these and rerun"
            + (f" ({len(summary.partial)} more end early: {summary.partial_file})" if early else "")
        )
    if summary.partial and not allow_partial:
        names = ", ".join(r.video_id for r in summary.partial[:10])
        more = " ..." if len(summary.partial) > 10 else ""
        raise DataError(
            f"{len(summary.partial)} video(s) end early (fewer frames than their header says, "
            f"e.g. cut downloads): {names}{more}; their frames are written and listed in "
            f"{summary.partial_file}; replace the files, delete their folders and rerun, or "
            "accept them with --allow-partial"
        )


def _print_estimate(found: FlowEstimate, cfg: FlowConfig, sharded: bool) -> None:
    """The estimate on stdout: counts, a table of the layouts, and how it was made."""
    which = " (this shard)" if sharded else ""
    pairs = f", {found.flows:,} flow pairs" if cfg.writes_flow else ""
    images = f", {found.images:,} images" if cfg.writes_rgb else ""
    console.print(
        f"{found.videos:,} video(s){which}, {found.frames:,} frames (container headers)"
        f"{images}{pairs} at step {cfg.step}, --modality {cfg.modality}",
        markup=False,
        highlight=False,
    )
    table = Table(title="what each --format would take (estimate)", header_style="bold")
    for name in ("format", "files", "bytes", "per video"):
        table.add_column(name, justify="left" if name == "format" else "right")
    readable = found.videos - len(found.unreadable)
    for cost in found.layouts:
        chosen = " (chosen)" if cost.format == cfg.format else ""
        each = cost.files / readable if readable else 0
        table.add_row(cost.format + chosen, f"{cost.files:,}", _human(cost.bytes), f"{each:,.0f}")
    console.print(table)
    sampled = ", ".join(found.sampled[:5]) + (" ..." if len(found.sampled) > 5 else "")
    console.print(
        f"bytes: the first {found.sample_frames} frames of {len(found.sampled)} sampled "
        f"video(s) ({sampled}; {found.measured_frames} frames) extracted in memory with these "
        "settings, scaled by frame count; files do not count the one folder per video",
        markup=False,
        highlight=False,
    )
    if found.uncounted:
        console.print(
            f"{len(found.uncounted)} video(s) state no frame count in their header "
            f"(e.g. {found.uncounted[0]}); counted at the mean",
            markup=False,
            highlight=False,
        )
    if found.unreadable:
        vid, why = next(iter(found.unreadable.items()))
        console.print(
            f"{len(found.unreadable)} video(s) cannot be opened and would fail (e.g. {vid}: "
            f"{why}); left out of the totals",
            markup=False,
            highlight=False,
        )


def _human(n: int) -> str:
    """1234567 -> "1.2 MB" (decimal units, as `du --si` and `df -H`)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def register(app: typer.Typer) -> None:
    app.command(
        name="flow",
        help=SUMMARY,
        epilog=example(
            "tsn flow data/ucf101/videos data/ucf101/frames --workers 4",
            "tsn flow videos.txt frames --algo dis --short-side 256 --shard 2/4",
            "tsn flow data/ucf101/videos data/ucf101/frames --gpus 2 --batch-pairs 32",
            "tsn flow data/kinetics/videos frames --format zip --estimate",
        ),
    )(flow_command)
