"""`tsn eval`'s core: score every video of a list with S snippets x N crops, or densely (a
snippet every N frames, `dense.py`), in shards over a GPU/CPU worker pool, streaming (memory flat
in the number of videos, and in a video's length), resumable from shards.

Shards are contiguous slices of the list, written atomically to `OUT.npz.shards/` (a name that
would pass 255 bytes is hashed short: `layout.score_shard_dir`) and merged in
list order into OUT.npz at the end. A video that cannot be read is reported and skipped; the
others still run, and a rerun retries only the shards that had failures.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tsncli.data.crops import DEFAULT_TEST_CROPS, resolve_test_crops
from tsncli.data.device_decode import check_decode_device
from tsncli.data.snippet_source import FRAME_FOLDERS, SnippetSource, create_snippet_source
from tsncli.engine.aggregate import parse_snippet_agg
from tsncli.engine.eval.dense import SNIPPETS_PER_CHUNK, DenseClips, DensePlan, plan_dense
from tsncli.engine.eval.inference import (
    Scorer,
    device_clips,
    load_scorer,
    prefetched_clips,
    stack_clips,
)
from tsncli.engine.eval.ranks import (
    clear_mark,
    lock_name,
    mark_done,
    wait_for_ranks,
    wait_for_shard_dir,
)
from tsncli.engine.eval.shards import (
    finished_output,
    prepare_shard_dir,
    run_fingerprint,
    shard_tasks,
)
from tsncli.engine.fusion import SNIPPET_RATE_KEY, aggregate_video, video_scores
from tsncli.engine.metrics import Metrics, compute_metrics
from tsncli.engine.scores import ScoreFile, load_scores, save_scores
from tsncli.errors import DataError, UsageError
from tsncli.frame_settings import log_frames_mismatch, resolve_frame_settings
from tsncli.fsutil import sweep_stale_temps
from tsncli.launch import LaunchInfo, resolve_devices
from tsncli.layout import score_shard_dir, score_shards
from tsncli.lists.listfile import (
    UNTRIMMED_KEY,
    VideoRecord,
    read_classes,
    read_list,
    read_list_header,
)
from tsncli.locks import hold_lock
from tsncli.models.checkpoint import load_checkpoint, read_meta
from tsncli.parallel import current_device, run_pool
from tsncli.progress import ProgressFn, Tracker

log = logging.getLogger("tsncli.engine.evaluate")


@dataclass(frozen=True)
class EvalSettings:
    """How to test: snippets (S evenly spaced, or one every `stride` frames or `stride_seconds`),
    crops, videos per forward pass (dense: chunks of 25 snippets), raw scores kept, prefetch
    threads, and the snippet aggregation the printed metrics use (None: the stored scores)."""

    segments: int = 25
    crops: int | None = None  # None: 10, or 5 for a model trained without flips
    batch: int = 1
    keep_raw: bool = False
    loader_threads: int = 2
    stride: int | None = None
    stride_seconds: float | None = None
    snippet_agg: str | None = None
    decode_device: str = "cpu"  # "cuda": JPEG frames decode in batches on the scorer's GPU

    @property
    def dense(self) -> bool:
        """Dense testing (`--stride` or `--stride-seconds`) instead of `segments` snippets."""
        return self.stride is not None or self.stride_seconds is not None


@dataclass(frozen=True)
class ShardTask:
    """A contiguous slice of the list for one worker (picklable)."""

    start: int
    records: tuple[VideoRecord, ...]
    checkpoint: str
    settings: EvalSettings
    path: str  # the shard file to write
    source: SnippetSource = FRAME_FOLDERS  # frame folders, or a list's video files
    strides: tuple[int, ...] = ()  # dense testing: each record's stride in frames


@dataclass
class EvalResult:
    """What `evaluate` did."""

    metrics: Metrics
    scores_path: Path
    classes: list[str]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (video id, error)
    resumed_shards: int = 0
    crops: int = DEFAULT_TEST_CROPS  # the crops per snippet it tested


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Score one shard and write it atomically; returns a small summary (no scores)."""
    scorer = load_scorer(task.checkpoint, current_device())
    st = task.settings
    if st.dense:
        return _run_dense_shard(task, scorer)
    dataset = device_clips(
        scorer.test_dataset(task.records, task.source, st.segments, st.crops), st.decode_device
    )
    done: list[int] = []
    scores: list[np.ndarray] = []  # [C] per video
    raws: list[np.ndarray] = []  # [S, N, C] float16 per video, only with keep_raw
    failures: list[tuple[str, str]] = []
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        raw = scorer.score(stack_clips([clip for _, clip in pending], scorer.device))
        for (index, _), video_raw in zip(pending, raw, strict=True):
            done.append(index)
            scores.append(aggregate_video(video_raw))
            if st.keep_raw:
                raws.append(video_raw.astype(np.float16))
        pending.clear()

    for index, clip, error in prefetched_clips(dataset, st.loader_threads):
        if error is not None:
            failures.append((task.records[index].video_id, error))
            continue
        pending.append((index, clip))
        if len(pending) >= st.batch:
            flush()
    if pending:
        flush()
    return _save_shard(task, scorer, done, scores, raws if st.keep_raw else None, failures)


def _run_dense_shard(task: ShardTask, scorer: Scorer) -> dict[str, Any]:
    """`run_shard` for dense testing: each video's snippets arrive in chunks (memory flat in its
    length); a video is scored once its last chunk is, and fails as a whole if any chunk does."""
    st = task.settings
    dense = DenseClips(
        task.records, task.strides, task.source, scorer.modality, scorer.frames_per_snippet,
        scorer.crop_size, st.crops, per_chunk=SNIPPETS_PER_CHUNK * st.batch,
    )  # fmt: skip
    clips = device_clips(dense, st.decode_device)
    done: list[int] = []
    scores: list[np.ndarray] = []
    raws: list[np.ndarray] = []  # [S_v, N, C] float16 per video
    failures: list[tuple[str, str]] = []
    failed: set[int] = set()
    parts: list[np.ndarray] = []  # the current video's chunks, [s, N, C] float32
    for index, clip, error in prefetched_clips(clips, st.loader_threads):
        chunk = dense.chunks[index]
        if chunk.video in failed:
            continue
        if error is not None:
            failed.add(chunk.video)
            failures.append((task.records[chunk.video].video_id, error))
            parts.clear()
            continue
        parts.append(scorer.score(stack_clips([clip], scorer.device))[0])  # (s, N, C)
        if chunk.last:
            video_raw = np.concatenate(parts)
            parts.clear()
            done.append(chunk.video)
            scores.append(aggregate_video(video_raw))
            raws.append(video_raw.astype(np.float16))
    return _save_shard(task, scorer, done, scores, raws, failures)


def _save_shard(
    task: ShardTask, scorer: Scorer, done: list[int], scores: list[np.ndarray],
    raws: list[np.ndarray] | None, failures: list[tuple[str, str]],
) -> dict[str, Any]:  # fmt: skip
    """Write one shard's scores atomically; the summary the pool returns (no scores)."""
    records = [task.records[i] for i in done]
    c = scorer.meta["num_classes"]
    shard = ScoreFile(
        np.stack(scores) if scores else np.zeros((0, c), np.float32),
        np.array([r.label for r in records], dtype=np.int64),
        [r.video_id for r in records],
        scorer.class_names,
        {"start": task.start, "count": len(task.records), "failures": failures},
        raws or None,
    )
    save_scores(task.path, shard)
    return {"start": task.start, "count": len(task.records), "failures": failures}


def _warn_on_flow_mismatch(meta: dict, list_file: Path, frames_dir: Path) -> None:
    """Frames made with other settings than the model was trained on hurt silently: compare
    the checkpoint's record with the frames folder's flow_config.yaml (or a video list's
    header, decoded with the model's own flow algorithm)."""
    from tsncli.flow.job import load_frames_settings

    trained = read_meta(meta).frames
    header = read_list_header(list_file)
    if header.get("kind") == "videos":
        actual = resolve_frame_settings(trained, list_header=header) if trained else None
    else:
        actual = load_frames_settings(frames_dir)
    log_frames_mismatch(log, frames_dir, trained, actual, meta["modality"])


def evaluate(
    checkpoint: str | os.PathLike[str],
    list_file: str | os.PathLike[str],
    save_path: str | os.PathLike[str],
    settings: EvalSettings = EvalSettings(),
    frames_root: str | os.PathLike[str] | None = None,
    gpus: int = 0,
    workers: int = 1,
    on_progress: ProgressFn | None = None,
    force: bool = False,
    launch: LaunchInfo = LaunchInfo(),
) -> EvalResult | None:
    """Test `checkpoint` on every video of `list_file`; save the score file; return metrics.

    Under srun or a SLURM array (`launch`), each rank scores every N-th shard and rank 0 merges
    them once all ranks are done; the other ranks return None.

    Progress: the task `testing`, in videos, advanced as each shard finishes. An
    existing score file made by the same run (checkpoint, list, settings) is reused unless
    `force`.
    """
    if settings.segments < 1 or settings.batch < 1:
        raise UsageError("--segments and --batch must be at least 1")
    if settings.stride is not None and settings.stride_seconds is not None:
        raise UsageError("give either --stride N or --stride-seconds T, not both")
    if (settings.stride is not None and settings.stride < 1) or not (
        settings.stride_seconds is None or settings.stride_seconds > 0
    ):
        raise UsageError("--stride must be at least 1 frame and --stride-seconds positive")
    if settings.snippet_agg is not None:
        parse_snippet_agg(settings.snippet_agg)  # a typo fails before anything loads
    check_decode_device(settings.decode_device, "cuda" if gpus else "cpu")
    if settings.dense or settings.snippet_agg is not None:
        settings = replace(settings, keep_raw=True)  # the snippet aggregations need them
    ckpt_path, list_path, out = Path(checkpoint), Path(list_file), Path(save_path)
    meta = load_checkpoint(ckpt_path)["meta"]  # fails early with a clear message
    crops = resolve_test_crops(settings.crops, read_meta(meta).flip, model=ckpt_path.name)
    settings = replace(settings, crops=crops)
    records = _read_checked_list(list_path, frames_root, int(meta["num_classes"]))
    _check_class_order(list(meta["class_names"]), list_path)
    if not settings.dense and read_list_header(list_path).get(UNTRIMMED_KEY) == "1":
        log.warning(
            "%s lists untrimmed videos: --segments %d spreads %d snippets over each whole video; "
            "test them densely with --stride 16 (or --stride-seconds 1), as the original",
            list_path, settings.segments, settings.segments,
        )  # fmt: skip
    num_classes = int(meta["num_classes"])
    tracker = Tracker(on_progress, "testing", len(records))
    tracker.start()
    _warn_on_flow_mismatch(meta, list_path, Path(records[0].path).parent)
    devices = resolve_devices(gpus)
    n_workers = len(devices) if devices else max(1, workers)
    trained = read_meta(meta).frames
    source = create_snippet_source(list_path, records, meta["modality"], None, n_workers, trained)
    st = settings
    plan = None
    if st.dense:
        plan = plan_dense(list_path, records, st.stride, st.stride_seconds, n_workers)
    fingerprint = run_fingerprint(
        ckpt_path, list_path, frames_root, st.segments, st.crops, st.keep_raw,
        dense={"stride": st.stride, "stride_seconds": st.stride_seconds} if st.dense else None,
    )  # fmt: skip
    with hold_lock(lock_name(out, launch), str(out)):  # one run (or rank) per output
        if launch.is_main:  # under the lock: no other run writes OUT now
            sweep_stale_temps(out)
        done = None if force else finished_output(out, fingerprint)
        if done is not None:
            log.info("%s is up to date (same checkpoint, list and settings); --force reruns", out)
            tracker.update(len(records))
            metrics = compute_metrics(_judged(done, st), done.labels, num_classes)
            return EvalResult(metrics, out, list(meta["class_names"]), [], len(records), st.crops)
        shard_dir = score_shard_dir(out)  # hashed short for a 252-byte OUT
        size = max(1, min(50, -(-len(records) // (n_workers * 4 * launch.shard_count))))
        shard_run = {**fingerprint, "shard_size": size}  # shards of another size are not ours
        if launch.is_main:
            prepare_shard_dir(shard_dir, shard_run)
        else:
            wait_for_shard_dir(shard_dir, launch, shard_run)
        clear_mark(shard_dir, launch)
        job = ShardTask(0, (), str(ckpt_path), settings, "", source)  # what every shard shares
        tasks, resumed = shard_tasks(records, size, shard_dir, launch, job, tracker)
        if plan is not None:  # each task carries its own videos' strides
            tasks = [
                replace(t, strides=plan.strides[t.start : t.start + len(t.records)]) for t in tasks
            ]
        if resumed:
            log.info("resuming: %d finished shard(s) found in %s", resumed, shard_dir)
        lost: list[tuple[str, str]] = []  # the videos of shards whose worker died
        pool = {"workers": n_workers, "devices": devices, "on_worker_death": _dead_shard}
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        for _, summary in run_pool(run_shard, tasks, threads_per_worker=threads, **pool):
            tracker.advance(summary["count"])
            lost += summary.get("lost", [])
        if launch.shard is not None:  # rank 0 merges once every rank is done
            mark_done(shard_dir, launch, lost)
            if not launch.is_main:
                return None
            lost = wait_for_ranks(shard_dir, launch)
        ids = [r.video_id for r in records]
        merged = _merge(shard_dir, out, meta, fingerprint, settings, ids, lost, plan)
        return EvalResult(*merged, resumed, crops=st.crops)


def _judged(sf: ScoreFile, st: EvalSettings) -> np.ndarray:
    """The video scores the printed metrics use: the stored ones, or `--snippet-agg`'s."""
    if st.snippet_agg is None or sf.raw is None or not len(sf):
        return sf.scores
    return video_scores(sf, snippet_agg=st.snippet_agg)


def _check_class_order(checkpoint_classes: list[str], list_path: Path) -> None:
    """The checkpoint's classes in another order than the list's classes file would permute
    every label silently (ActivityNet: the original's sorted order vs BSN's action_name.csv)."""
    candidates = sorted(
        (p for p in list_path.parent.glob("*_classes.txt")
         if list_path.name.startswith(p.name[: -len("classes.txt")])),
        key=lambda p: -len(p.name),
    )  # fmt: skip
    if not candidates:
        return
    listed = read_classes(candidates[0])
    if listed == checkpoint_classes or sorted(listed) != sorted(checkpoint_classes):
        return  # same order, or another class set (its labels are checked against the model)
    i = next(i for i, (a, b) in enumerate(zip(listed, checkpoint_classes, strict=True)) if a != b)
    raise DataError(
        f"class {i} is {checkpoint_classes[i]!r} in the checkpoint but {listed[i]!r} in "
        f"{candidates[0]}: the same classes in another order; rebuild the lists in the model's "
        f"order with `tsn lists ... --classes FILE`"
    )


def _read_checked_list(
    list_path: Path, frames_root: str | os.PathLike[str] | None, num_classes: int
) -> list[VideoRecord]:
    """The list's records; a label outside the checkpoint's classes is a DataError."""
    records = read_list(list_path, frames_root)
    bad = [r for r in records if not 0 <= r.label < num_classes]
    if bad:
        raise DataError(
            f"{list_path}: label {bad[0].label} of {bad[0].path} is outside the checkpoint's "
            f"{num_classes} classes; was the list made for another dataset?"
        )
    return records


def _dead_shard(task: ShardTask, reason: str) -> dict[str, Any]:
    """A shard whose worker died (OOM kill, crash): all its videos are reported failed."""
    lost = [(r.video_id, f"{reason} while scoring its shard") for r in task.records]
    return {"start": task.start, "count": len(task.records), "lost": lost}


def _merge(
    shard_dir: Path, out: Path, meta: dict, run: dict, st: EvalSettings, ids: list, lost: list,
    plan: DensePlan | None = None,
) -> tuple[Metrics, Path, list[str], list[tuple[str, str]]]:  # fmt: skip
    """Merge the shards into `out`, checking that they account for every video of the list."""
    shards = [load_scores(p) for p in score_shards(shard_dir)]
    failures = [tuple(f) for s in shards for f in s.meta.get("failures", [])] + lost
    merged = [v for s in shards for v in s.videos] + [v for v, _ in failures]
    if sorted(merged) != sorted(ids):
        what = f"{shard_dir} accounts for {len(merged)} videos but the list has {len(ids)}"
        raise DataError(f"{what} (another run changed it?); rerun with --force to score all again")
    c = int(meta["num_classes"])
    scores = np.concatenate([s.scores for s in shards]) if shards else np.zeros((0, c))
    labels = np.concatenate([s.labels for s in shards]) if shards else np.zeros(0, np.int64)
    raw = None
    if st.keep_raw and shards and all(s.raw is not None for s in shards if len(s)):
        raw = [r for s in shards if len(s) for r in s.raw]  # save_scores stacks equal shapes
    score_meta = {
        "checkpoint": run["checkpoint"],
        "arch": meta.get("arch"),
        "modality": meta.get("modality"),
        "new_length": meta.get("new_length"),
        "segments": None if st.dense else st.segments,
        "stride": st.stride,
        "stride_seconds": st.stride_seconds,
        "crops": st.crops,
        "crop_size": meta.get("crop_size"),
        "frames": meta.get("frames"),
        "failed_videos": [v for v, _ in failures],
        "snippet_agg": st.snippet_agg or "mean",
        "run": run,
    }
    if plan is not None and plan.snippets_per_second is not None:
        score_meta[SNIPPET_RATE_KEY] = plan.snippets_per_second  # M-TWI's windows in seconds
    classes = list(meta["class_names"])
    videos = [v for s in shards for v in s.videos]
    merged = ScoreFile(scores.astype(np.float32), labels, videos, classes, score_meta, raw)
    save_scores(out, merged)
    if not failures:
        shutil.rmtree(shard_dir, ignore_errors=True)
    metrics = compute_metrics(_judged(merged, st), labels, c)
    return metrics, out, classes, failures
