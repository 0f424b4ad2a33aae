"""`tsn features`' core: per video, a feature row per snippet from one or more checkpoints (RGB
first for the CUHK layout), concatenated, optionally rescaled, written one file per video.

Snippets are dense testing's (`tsncli.engine.eval.dense.DenseClips`: centres `N//2 + kN`, as
MMAction2's `UntrimmedSampleFrames`), loaded 25 at a time while the previous chunk runs, so
memory stays flat in a video's length. Each stream is exactly what its checkpoint gives alone
(its class scores, `--layer logits`, or its backbone's pooled vector, `--layer pool`, averaged
over the crops); streams whose snippet counts differ (flow has one frame fewer) are truncated to
the shorter, as BSN does, and the meta says so.

A video is done when its file exists (written atomically); a rerun skips it. `--shard K/N`
takes every N-th video (`tsncli.shards`), and each shard writes its own meta and failure list
(`part_name`), so shards never share a file. Run settings are compared with any meta already in
the folder: other settings are refused unless `force`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tsncli.data.crops import get_test_crops
from tsncli.data.device_decode import check_decode_device
from tsncli.data.memory_source import MemoryFrameSource
from tsncli.data.sampling import dense_centres
from tsncli.engine.eval.dense import DenseClips
from tsncli.engine.eval.inference import (
    Scorer,
    device_clips,
    load_scorer,
    prefetched_clips,
    stack_clips,
)
from tsncli.engine.features.formats import FORMAT_SUFFIX, FORMATS, write_features
from tsncli.engine.features.inputs import (
    ExtractedVideo,
    FeatureVideo,
    StreamInput,
    find_videos,
    open_stream,
)
from tsncli.engine.features.rescale import RESCALE_METHODS, rescale
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_write_text, stale_temp_paths
from tsncli.launch import resolve_devices
from tsncli.modality import reads_flow
from tsncli.models.checkpoint import load_checkpoint
from tsncli.parallel import current_device, run_pool
from tsncli.progress import ProgressFn, Tracker
from tsncli.shards import Shard, part_name, take_share

log = logging.getLogger("tsncli.engine.features")

LAYERS = ("logits", "pool")
DEFAULT_STRIDE = 16
META_FILE = "features_meta.json"
FAILED_FILE = "failed.tsv"
META_VERSION = 1
META_FLUSH_SECONDS = 30.0  # the meta is rewritten at most this often while videos finish


@dataclass(frozen=True)
class FeatureSettings:
    """What each row is and how the rows are written: layer, snippets every `stride` frames
    (or `stride_seconds`), crops averaged per snippet, optional rescaling to `rescale` rows
    with `rescale_method`, and the file format."""

    layer: str = "logits"
    stride: int | None = None  # None without stride_seconds: DEFAULT_STRIDE
    stride_seconds: float | None = None
    crops: int = 1
    rescale: int | None = None
    rescale_method: str | None = None
    format: str = "npy"
    loader_threads: int = 2
    decode_device: str = "cpu"  # "cuda": JPEG frames decode in batches on the scorer's GPU

    def check(self) -> FeatureSettings:
        """The settings, checked (UsageError naming the fix otherwise)."""
        if self.layer not in LAYERS:
            raise UsageError(f"--layer {self.layer!r} is not one of: {', '.join(LAYERS)}")
        if self.stride is not None and self.stride_seconds is not None:
            raise UsageError("give either --stride N or --stride-seconds T, not both")
        if self.stride is None and self.stride_seconds is None:
            return replace(self, stride=DEFAULT_STRIDE).check()
        if self.stride is not None and self.stride < 1:
            raise UsageError(f"--stride must be at least 1 frame, got {self.stride}")
        if self.stride_seconds is not None and not self.stride_seconds > 0:
            raise UsageError(f"--stride-seconds must be positive, got {self.stride_seconds}")
        get_test_crops(self.crops)
        if self.format not in FORMATS:
            raise UsageError(f"--format {self.format!r} is not one of: {', '.join(FORMATS)}")
        if (self.rescale is None) != (self.rescale_method is None):
            raise UsageError(
                "--rescale L and --rescale-method "
                f"{'|'.join(RESCALE_METHODS)} go together (BSN/BMN: --rescale 100 "
                "--rescale-method bsn)"
            )
        if self.rescale is not None and self.rescale < 1:
            raise UsageError(f"--rescale must be at least 1 row, got {self.rescale}")
        if self.rescale_method is not None and self.rescale_method not in RESCALE_METHODS:
            raise UsageError(
                f"--rescale-method {self.rescale_method!r} is not one of: "
                f"{', '.join(RESCALE_METHODS)}"
            )
        return self


@dataclass(frozen=True)
class VideoTask:
    """One video for a worker (picklable)."""

    video: FeatureVideo
    checkpoints: tuple[str, ...]
    settings: FeatureSettings
    path: str  # the feature file to write


@dataclass
class FeaturesResult:
    """What `extract_features` did."""

    out: Path
    written: list[str] = field(default_factory=list)  # video names featurised now
    skipped: list[str] = field(default_factory=list)  # already done (resume)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (video name, error)
    snippets: int = 0
    seconds: float = 0.0


def stream_features(
    scorer: Scorer, stream: StreamInput, stride: int, settings: FeatureSettings
) -> np.ndarray:
    """float32 [S, D] of one stream: per dense snippet the crop mean of `settings.layer`,
    computed 25 snippets at a time (the next chunk loads while this one runs)."""
    source = stream.source
    clips = DenseClips(
        [stream.record], [stride], source, scorer.modality, scorer.frames_per_snippet,
        scorer.crop_size, settings.crops,
    )  # fmt: skip
    if isinstance(source, MemoryFrameSource):  # one decode for the video, not one per chunk
        clips.source = ExtractedVideo(source, stream.record, clips.indices[0], scorer.modality)
    parts: list[np.ndarray] = []
    loading = device_clips(clips, settings.decode_device)
    for _index, clip, error in prefetched_clips(loading, settings.loader_threads):
        if error is not None:
            raise DataError(error)
        out = scorer.score(stack_clips([clip], scorer.device), layer=settings.layer)[0]
        parts.append(out.mean(axis=1, dtype=np.float32))
    return np.concatenate(parts).astype(np.float32, copy=False)


def video_features(
    video: FeatureVideo, scorers: Sequence[Scorer], settings: FeatureSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """The rows of one video (raw [T, sum D], or rescaled [L, sum D]) and its meta entry."""
    streams = [open_stream(video, s) for s in scorers]
    fps = next((s.fps for s in streams if s.fps is not None), None)
    # the video's own frame count: an RGB stream's, or a flow stream's plus the one it lacks
    frames = max(
        s.record.num_frames + (1 if reads_flow(sc.modality) else 0)
        for s, sc in zip(streams, scorers, strict=True)
    )
    if settings.stride is not None:
        stride = settings.stride
    elif fps is None:
        raise DataError(
            f"{video.path}: --stride-seconds needs the frame rate, which is not recorded "
            f"(frame folders: the fps of {video.path}/../flow_config.yaml); use --stride N"
        )
    else:
        stride = max(1, math.floor(float(settings.stride_seconds) * fps + 0.5))
    rows = [
        stream_features(sc, s, stride, settings) for sc, s in zip(scorers, streams, strict=True)
    ]
    counts = [len(r) for r in rows]
    shortest = min(counts)
    duration = frames / fps if fps else None
    entry: dict[str, Any] = {
        "path": video.path,
        "fps": fps,
        "frames": frames,
        "duration": duration,
        "stride": stride,
        "step": streams[0].step,
        "snippets": shortest,
        "stream_snippets": counts,
        "truncated": len(set(counts)) > 1,
        # 0-based, in the decoded frames' numbering (times `step` for the file's own)
        "centres": dense_centres(
            streams[counts.index(shortest)].record.num_frames, stride
        ).tolist(),
    }
    if settings.rescale is None:
        features = np.concatenate([r[:shortest] for r in rows], axis=1)
    elif settings.rescale_method == "bsn":  # BSN truncates, concatenates, then pools
        features = np.concatenate(
            [
                rescale(
                    r[:shortest],
                    "bsn",
                    length=settings.rescale,
                    stride=stride,
                    num_frames=frames,
                    # unknown rate: 1 fps changes nothing, as BSN's bins and snippet times
                    # both scale with frames / fps
                    duration=duration if duration else float(frames),
                )
                for r in rows
            ],
            axis=1,
        )
    else:  # MMAction2's script pools each stream over its own length, then concatenates
        features = np.concatenate(
            [rescale(r, str(settings.rescale_method), length=settings.rescale) for r in rows],
            axis=1,
        )
    entry["rows"] = len(features)
    entry["dim"] = int(features.shape[1])
    return features.astype(np.float32, copy=False), entry


def run_video(task: VideoTask) -> dict[str, Any]:
    """Featurise one video and write its file atomically; a summary for the parent (its meta
    entry, or the error that stopped it)."""
    device = current_device()
    scorers = [load_scorer(c, device) for c in task.checkpoints]
    try:
        features, entry = video_features(task.video, scorers, task.settings)
    except (DataError, cv2.error, OSError, ValueError) as exc:  # as predict: the video's fault
        return {"name": task.video.name, "error": " ".join(str(exc).split()) or repr(exc)}
    write_features(task.path, features, task.settings.format)
    return {"name": task.video.name, "entry": entry}


def _dead_video(task: VideoTask, reason: str) -> dict[str, Any]:
    return {"name": task.video.name, "error": f"{reason} while featurising it"}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_settings(checkpoints: Sequence[str | os.PathLike[str]], st: FeatureSettings) -> dict:
    """What makes two runs' files comparable: the checkpoints (by content) and the settings."""
    from tsncli import __version__

    described = []
    for ckpt in checkpoints:
        meta = load_checkpoint(ckpt)["meta"]  # fails early, naming the file
        described.append(
            {
                "path": str(ckpt),
                "sha256": file_sha256(ckpt),
                "arch": meta.get("arch"),
                "modality": str(meta.get("modality")),
                "new_length": meta.get("new_length"),
                "num_classes": meta.get("num_classes"),
            }
        )
    settings = asdict(st)
    settings.pop("loader_threads")
    if settings["decode_device"] == "cpu":  # recorded only when not the default, so folders
        settings.pop("decode_device")  # made before the option still resume
    return {"checkpoints": described, **settings, "tsn_version": __version__}


def _comparable(run: dict) -> dict:
    """A run's record without what may change between identical runs (paths, tsn's version)."""
    return {
        **{k: v for k, v in run.items() if k != "tsn_version"},
        "checkpoints": [{k: v for k, v in c.items() if k != "path"} for c in run["checkpoints"]],
    }


def _existing_metas(out: Path) -> list[Path]:
    stem, _, suffix = META_FILE.rpartition(".")
    return sorted(out.glob(f"{stem}*.{suffix}"))


def check_settings(out: Path, run: dict, force: bool) -> None:
    """Refuse (UsageError) a folder whose features were made with other settings, unless
    `force`: mixing them would give a set whose rows mean different things."""
    if force:
        return
    for path in _existing_metas(out):
        try:
            other = json.loads(path.read_text())["run"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(
                f"{path} is not a tsn features meta; choose another --out or pass --force"
            ) from None
        if _comparable(other) != _comparable(run):
            changed = sorted(
                k for k in set(run) | set(other)
                if k != "tsn_version" and _comparable(other).get(k) != _comparable(run).get(k)
            )  # fmt: skip
            raise UsageError(
                f"{out} holds features made with other settings ({', '.join(changed)} differ, "
                f"see {path.name}); write to another --out, or pass --force to overwrite"
            )


def _read_entries(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()).get("videos", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def _write_meta(path: Path, run: dict, shard: Shard | None, videos: dict[str, Any]) -> None:
    body = {"version": META_VERSION, "run": run, "shard": list(shard) if shard else None,
            "videos": dict(sorted(videos.items()))}  # fmt: skip
    atomic_write_text(path, json.dumps(body, indent=1) + "\n")


def _write_failed(path: Path, failures: list[tuple[str, str]], videos: dict[str, str]) -> None:
    if not failures:
        path.unlink(missing_ok=True)
        return
    lines = ["video\tpath\terror"] + [
        f"{name}\t{videos.get(name, '')}\t{' '.join(error.split())}" for name, error in failures
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


def extract_features(
    source: str | os.PathLike[str],
    checkpoints: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    settings: FeatureSettings = FeatureSettings(),
    *,
    workers: int = 1,
    gpus: int = 0,
    shard: Shard | None = None,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> FeaturesResult:
    """Featurise every video of `source` (this shard's share) into `out`; see the module doc.

    Progress: the task `videos` (advanced per finished video, its message the snippets per
    second so far). A video that cannot be read is listed in `failed.tsv` and the others finish.
    """
    if not checkpoints:
        raise UsageError("give at least one --checkpoint")
    settings = settings.check()
    check_decode_device(settings.decode_device, "cuda" if gpus else "cpu")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file; give a folder")
    run = run_settings(checkpoints, settings)
    check_settings(out_dir, run, force)
    videos = find_videos(source)
    share = set(take_share([v.name for v in videos], shard))
    mine = [v for v in videos if v.name in share]
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path = out_dir / part_name(META_FILE, shard)
    failed_path = out_dir / part_name(FAILED_FILE, shard)
    entries = _read_entries(meta_path) if not force else {}
    suffix = FORMAT_SUFFIX[settings.format]
    result = FeaturesResult(out_dir)
    tasks = []
    for video in mine:
        target = out_dir / f"{video.name}{suffix}"
        if target.exists() and not force:
            result.skipped.append(video.name)
            entries.setdefault(video.name, {"path": video.path, "note": "made before the meta "
                                            "was last written"})  # fmt: skip
            continue
        for stale in stale_temp_paths(target):  # a write a kill interrupted: never a result
            stale.unlink(missing_ok=True)
        tasks.append(VideoTask(video, tuple(map(str, checkpoints)), settings, str(target)))
    if result.skipped:
        log.info("resuming: %d video(s) already featurised in %s", len(result.skipped), out_dir)
    tracker = Tracker(on_progress, "videos", len(mine))
    tracker.update(len(result.skipped))
    devices = resolve_devices(gpus) if gpus else None
    n_workers = len(devices) if devices else max(1, workers)
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    started = last_flush = time.monotonic()
    pool = {"workers": n_workers, "devices": devices, "on_worker_death": _dead_video}
    for _, summary in run_pool(run_video, tasks, threads_per_worker=threads, **pool):
        name = summary["name"]
        if "error" in summary:
            result.failures.append((name, summary["error"]))
        else:
            entries[name] = summary["entry"]
            result.written.append(name)
            result.snippets += int(summary["entry"]["snippets"])
        seconds = max(time.monotonic() - started, 1e-9)
        tracker.advance(1, f"{len(result.written) / seconds:.2f} videos/s, "
                           f"{result.snippets / seconds:.1f} snippets/s")  # fmt: skip
        if time.monotonic() - last_flush > META_FLUSH_SECONDS:
            _write_meta(meta_path, run, shard, entries)
            last_flush = time.monotonic()
    result.seconds = time.monotonic() - started
    _write_meta(meta_path, run, shard, entries)
    _write_failed(failed_path, result.failures, {v.name: v.path for v in mine})
    return result
