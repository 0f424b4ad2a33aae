"""What a `tsn flow` run would make, before it makes any of it: videos, frames, and the files and
bytes of each frame layout (`tsn flow --estimate`), and the file count behind the warning before
a `--format dir` run that would pass a cluster's file quota.

Frame counts come from container headers (no decoding). Bytes per frame come from a seeded
sample of videos spread over the list, each extracted in memory through `tsn flow`'s own writer
with the run's settings, but only its first frames (a prefix: cost does not grow with video
length); they are scaled by frame counts. Header reads and samples run on the worker pool, so
this process, like `tsn flow`'s parent, imports neither OpenCV nor PyAV.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tsncli.errors import DataError, UsageError
from tsncli.flow.job import FlowConfig, SampleRequest, SampleResult, VideoTask, worker_threads
from tsncli.flow.sinks import FORMATS, Part, parts_written
from tsncli.parallel import ByName, run_pool
from tsncli.progress import ProgressFn, Tracker

T = TypeVar("T")

ESTIMATE_SAMPLE = 3  # videos extracted in memory by default (`--estimate-sample`)
SAMPLE_FRAMES = 32  # kept frames extracted per sampled video (flow pairs: one fewer)
SAMPLE_SEED = 0
# The file-count warning reads the headers of at most this many videos, spread over the list,
# and scales their mean to the rest: a warning needs the order of magnitude, not every header.
COUNT_SAMPLE = 200
FILE_QUOTA = 1_000_000  # a common default per-user file limit on cluster file systems


def spread_sample(items: Sequence[T], n: int, seed: int = SAMPLE_SEED) -> list[T]:
    """`n` of `items` spread over the whole list: one at a seeded random place in each of `n`
    equal stretches (all of them when `n` >= their number)."""
    if n >= len(items):
        return list(items)
    rng = random.Random(seed)
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    return [items[rng.randrange(bounds[i], bounds[i + 1])] for i in range(n)]


def kept_frames(frames: int, step: int) -> int:
    """Frames `tsn flow` keeps of a video of `frames` at `step`: 1, 1+step, 1+2*step, ..."""
    return (frames - 1) // step + 1 if frames > 0 else 0


def entries_per_video(frames: int, config: FlowConfig) -> dict[Part, int]:
    """The JPEGs each stream of one video of `frames` decoded frames gets under `config`."""
    kept = kept_frames(frames, config.step)
    counts = {Part.RGB: kept, Part.FLOW_X: max(0, kept - 1), Part.FLOW_Y: max(0, kept - 1)}
    return {part: counts[part] for part in parts_written(config.writes_rgb, config.writes_flow)}


@dataclass(frozen=True)
class LayoutCost:
    """Files and bytes one frame layout would take (bytes: file contents, not disk blocks)."""

    format: str
    files: int
    bytes: int


@dataclass
class FlowEstimate:
    """What extracting `videos` videos would make; frames and bytes are extrapolated."""

    videos: int
    frames: int = 0  # decoded frames, from the headers
    images: int = 0
    flows: int = 0  # flow pairs (a flow_x and a flow_y image each)
    layouts: list[LayoutCost] = field(default_factory=list)
    sampled: list[str] = field(default_factory=list)  # video ids extracted in memory
    sample_frames: int = SAMPLE_FRAMES  # the prefix of each (kept frames)
    measured_frames: int = 0  # kept frames extracted over the sample
    uncounted: list[str] = field(default_factory=list)  # headers without a count: at the mean
    unreadable: dict[str, str] = field(default_factory=dict)  # video id -> why (would fail)


def read_header_counts(
    videos: dict[str, Path], workers: int, on_progress: ProgressFn | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """({video id: header frame count (0: not stated)}, {video id: why it cannot be opened})."""
    ids = list(videos)
    tracker = Tracker(on_progress, "headers", len(ids))
    counts: dict[str, int] = {}
    errors: dict[str, str] = {}
    count = ByName("tsncli.flow.extract", "count_header_frames")
    tasks = [str(videos[vid]) for vid in ids]
    for index, (frames, error) in run_pool(count, tasks, workers=min(workers, len(ids))):
        if error is None:
            counts[ids[index]] = frames
        else:
            errors[ids[index]] = error
        tracker.advance()
    return counts, errors


def _fill_uncounted(counts: dict[str, int]) -> list[str]:
    """Give videos whose header states no count the mean of the others; returns their ids."""
    missing = [vid for vid, n in counts.items() if n <= 0]
    known = [n for n in counts.values() if n > 0]
    mean = round(sum(known) / len(known)) if known else 0
    for vid in missing:
        counts[vid] = mean
    return missing


def count_files(videos: dict[str, Path], config: FlowConfig, workers: int) -> tuple[int, int]:
    """(files a `--format dir` extraction of `videos` would write, videos whose headers were
    read): every video when they are at most `COUNT_SAMPLE`, else a spread sample scaled up.
    At most two workers read them: a few hundred headers take well under a second, less than
    starting more workers would (each imports PyAV and OpenCV)."""
    chosen = spread_sample(list(videos), COUNT_SAMPLE)
    counts, _ = read_header_counts({vid: videos[vid] for vid in chosen}, min(workers, 2))
    _fill_uncounted(counts)
    if not counts:
        return 0, 0
    files = sum(sum(entries_per_video(n, config).values()) for n in counts.values())
    return round(files * len(videos) / len(counts)), len(counts)


def estimate_videos(
    videos: dict[str, Path],
    config: FlowConfig,
    *,
    workers: int = 1,
    devices: list[str] | None = None,
    sample: int = ESTIMATE_SAMPLE,
    sample_frames: int = SAMPLE_FRAMES,
    seed: int = SAMPLE_SEED,
    on_progress: ProgressFn | None = None,
) -> FlowEstimate:
    """Estimate extracting `videos` (video id -> path) with `config`; writes nothing.

    Every header is read; `sample` videos (spread over the list, seeded) are extracted in memory,
    their first `sample_frames` kept frames each; the JPEG bytes per image and per flow pair
    they give are scaled by the frame counts of all videos. A sampled video that cannot be read
    is replaced by the next one of the list that can, so the sample stays `sample` strong.
    """
    if sample < 1 or sample_frames < 2:
        raise UsageError(f"--estimate-sample must be >= 1 (got {sample}), spans >= 2 frames")
    estimate = FlowEstimate(videos=len(videos), sample_frames=sample_frames)
    counts, estimate.unreadable = read_header_counts(videos, workers, on_progress)
    if not counts:
        vid, why = next(iter(estimate.unreadable.items()))
        raise DataError(
            f"none of the {len(videos)} video(s) can be opened (e.g. {vid}: {why}); check them "
            "with `tsn probe`"
        )
    estimate.uncounted = _fill_uncounted(counts)
    entries = {part: 0 for part in parts_written(config.writes_rgb, config.writes_flow)}
    per_video = [entries_per_video(n, config) for n in counts.values()]
    for video in per_video:
        for part, n in video.items():
            entries[part] += n
    estimate.frames = sum(counts.values())
    estimate.images = entries.get(Part.RGB, 0)
    estimate.flows = entries.get(Part.FLOW_X, 0)
    measured = _measure_sample(
        videos, counts, config, (workers, devices), (sample, sample_frames, seed), on_progress
    )
    estimate.sampled = [r.video_id for r in measured]
    estimate.measured_frames = sum(r.frames for r in measured)
    made = {part: sum(r.entries.get(part, 0) for r in measured) for part in entries}
    made_bytes = {part: sum(r.data.get(part, 0) for r in measured) for part in entries}
    # bytes per JPEG of each stream, from the sample; every video gets the same per-JPEG size
    mean_bytes = {part: made_bytes[part] / made[part] if made[part] else 0.0 for part in entries}
    for layout in FORMATS.values():
        files = sum(layout.files(video) for video in per_video if any(video.values()))
        size = sum(
            layout.bytes(video, {part: round(n * mean_bytes[part]) for part, n in video.items()})
            for video in per_video
            if any(video.values())
        )
        estimate.layouts.append(LayoutCost(layout.name, files, size))
    return estimate


def _measure_sample(
    videos: dict[str, Path],
    counts: dict[str, int],
    config: FlowConfig,
    pool_size: tuple[int, list[str] | None],
    plan: tuple[int, int, int],
    on_progress: ProgressFn | None,
) -> list[SampleResult]:
    """Extract the sample's first frames in memory (`plan`: videos, frames each, seed); a video
    that fails gives way to the next readable one (a DataError when none can be measured)."""
    workers, devices = pool_size
    sample, sample_frames, seed = plan
    readable = [vid for vid in videos if vid in counts]
    chosen = spread_sample(readable, sample, seed)
    spare = [vid for vid in readable if vid not in set(chosen)]
    tracker = Tracker(on_progress, "sample", len(chosen))
    measure = ByName("tsncli.flow.extract", "measure_video")
    threads = worker_threads(config, len(devices) if devices else workers)
    done: list[SampleResult] = []
    failures: dict[str, str] = {}
    while chosen:
        requests = [
            SampleRequest(VideoTask(vid, str(videos[vid]), "", config), sample_frames)
            for vid in chosen
        ]
        pool = run_pool(
            measure,
            requests,
            workers=min(workers, len(requests)),
            devices=devices,
            threads_per_worker=threads,
        )
        retry = 0
        for _, result in pool:
            if result.error is None and result.frames > 0:
                done.append(result)
                tracker.advance()
            else:
                failures[result.video_id] = result.error or "no frames"
                retry += 1
        chosen, spare = spare[:retry], spare[retry:]
    if not done:
        shown = "; ".join(f"{vid}: {why}" for vid, why in list(failures.items())[:3])
        raise DataError(
            f"none of the sampled videos could be extracted ({shown}); check SRC with "
            "`tsn probe` or the flow settings"
        )
    return done
