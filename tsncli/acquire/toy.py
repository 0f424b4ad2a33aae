"""The built-in toy action dataset: deterministic synthetic videos laid out exactly like UCF101.

Every class pairs one object colour (appearance cue) with one motion pattern (motion cue). Each cue
is independently missing in some videos (a grey object; an object that stands still), so the RGB
and flow streams make different mistakes and fusing them wins. Nuisances: textured backgrounds
shared within a group (like UCF101's groups), camera jitter, varying lengths, speeds, sizes,
shapes, brightness and MJPG compression.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tsncli.acquire.toy_render import TOY_CLASSES, ToySpec, VideoPlan, render_video, write_video
from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_write_text
from tsncli.progress import ProgressFn, Tracker

log = logging.getLogger("tsncli.acquire.toy")

FORMAT_VERSION = 1
META_FILE = "toy_meta.json"


def _plan(spec: ToySpec) -> list[VideoPlan]:
    """Deterministic per-video plan: names, split, and which cues are missing (exact fractions)."""
    if spec.videos_per_class < 2:
        raise UsageError("--videos-per-class must be at least 2 (one train and one test video)")
    rng = np.random.default_rng(spec.seed)
    # At least 2 groups (one for testing, like UCF101's held-out groups); clips fill groups evenly.
    groups = max(2, math.ceil(spec.videos_per_class / spec.clips_per_group))
    per_group = math.ceil(spec.videos_per_class / groups)
    test_groups = max(1, round(groups * spec.test_fraction))
    if test_groups >= groups:  # keep at least one training group
        test_groups = max(1, groups - 1)
    plans: list[VideoPlan] = []
    for label, (cls, _hue, motion) in enumerate(TOY_CLASSES):
        slots = [(1 + i // per_group, 1 + i % per_group) for i in range(spec.videos_per_class)]
        flags: dict[tuple[int, int], tuple[bool, bool]] = {}
        for subset_is_test in (True, False):
            members = [s for s in slots if (s[0] <= test_groups) == subset_is_test]
            n = len(members)
            grey_idx = set(rng.permutation(n)[: round(n * spec.grey_fraction)].tolist())
            still_idx = set(rng.permutation(n)[: round(n * spec.still_fraction)].tolist())
            for i, s in enumerate(members):
                flags[s] = (i in grey_idx, i in still_idx)
        for group, clip in slots:
            grey, still = flags[(group, clip)]
            plans.append(
                VideoPlan(
                    name=f"v_{cls}_g{group:02d}_c{clip:02d}",
                    class_name=cls,
                    label=label,
                    group=group,
                    clip=clip,
                    subset="test" if group <= test_groups else "train",
                    grey=grey,
                    still=still,
                    motion="still" if still else motion,
                    num_frames=int(rng.integers(spec.min_frames, spec.max_frames + 1)),
                    speed=float(rng.uniform(2.5, 4.0)),
                    quality=int(rng.integers(40, 91)),
                    seed=int(rng.integers(0, 2**31 - 1)),
                )
            )
    return plans


def _split_texts(plans: list[VideoPlan]) -> dict[str, str]:
    """classInd.txt, trainlist01.txt, testlist01.txt exactly as UCF101 ships them (CRLF)."""
    class_ind = "".join(f"{i + 1} {name}\r\n" for i, (name, _, _) in enumerate(TOY_CLASSES))
    ordered = sorted(plans, key=lambda p: (p.label, p.name))
    train = "".join(
        f"{p.class_name}/{p.name}.avi {p.label + 1}\r\n" for p in ordered if p.subset == "train"
    )
    test = "".join(f"{p.class_name}/{p.name}.avi\r\n" for p in ordered if p.subset == "test")
    return {"classInd.txt": class_ind, "trainlist01.txt": train, "testlist01.txt": test}


def _spec_record(spec: ToySpec) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "spec": asdict(spec)}


def generate_toy_dataset(
    dest: str | os.PathLike[str] = "data/toy",
    videos_per_class: int = 40,
    seed: int = 0,
    *,
    force: bool = False,
    on_progress: ProgressFn | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Generate the toy dataset under `dest` (`videos/<Class>/*.avi`, `splits/`); return a summary.

    Deterministic for (videos_per_class, seed, settings). Each video is written to a temporary
    name and renamed, so a killed run resumes where it stopped; a finished dataset is a no-op.
    `settings` overrides other `ToySpec` fields (width, height, grey_fraction, ...).
    Progress: the task `toy videos`, reported after every video.
    """
    try:
        spec = ToySpec(videos_per_class=videos_per_class, seed=seed, **settings)
    except TypeError as exc:
        raise UsageError(f"unknown toy dataset setting: {exc}") from None
    root = Path(dest)
    record = _spec_record(spec)
    in_progress = root / ".toy-spec.json"
    meta_path = root / META_FILE
    if force:
        for sub in ("videos", "splits", ".tmp"):
            shutil.rmtree(root / sub, ignore_errors=True)
        meta_path.unlink(missing_ok=True)
        in_progress.unlink(missing_ok=True)
    for marker in (meta_path, in_progress):
        if marker.is_file():
            old = json.loads(marker.read_text(encoding="utf-8"))
            if {k: old.get(k) for k in record} != record:
                raise UsageError(
                    f"{root} already holds a toy dataset made with other settings "
                    f"({old.get('spec')}); pass --force to regenerate it or choose another --dest"
                )
    plans = _plan(spec)
    tracker = Tracker(on_progress, "toy videos", len(plans))
    if meta_path.is_file() and all(_video_path(root, p).is_file() for p in plans):
        tracker.update(len(plans))
        return _summary(root, plans, generated=0)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(in_progress, json.dumps(record, indent=1))
    tmp_dir = root / ".tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)  # partial videos of a killed run
    tmp_dir.mkdir(parents=True)
    generated = 0
    for done, plan in enumerate(plans, start=1):
        target = _video_path(root, plan)
        if not target.is_file():
            tmp = tmp_dir / f"{plan.name}.avi"
            write_video(tmp, render_video(plan, spec), spec.fps, plan.quality)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            generated += 1
        tracker.update(done)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    for name, text in _split_texts(plans).items():
        atomic_write_text(root / "splits" / name, text)
    meta = dict(record, classes=[c[0] for c in TOY_CLASSES], videos=[asdict(p) for p in plans])
    atomic_write_text(meta_path, json.dumps(meta, indent=1))  # written last: marks completion
    in_progress.unlink(missing_ok=True)
    log.info("toy dataset: %d videos generated under %s", generated, root)
    return _summary(root, plans, generated=generated)


def _video_path(root: Path, plan: VideoPlan) -> Path:
    return root / "videos" / plan.class_name / f"{plan.name}.avi"


def _summary(root: Path, plans: list[VideoPlan], *, generated: int) -> dict[str, Any]:
    n = len(plans)
    return {
        "dest": str(root),
        "classes": len(TOY_CLASSES),
        "videos": n,
        "train": sum(p.subset == "train" for p in plans),
        "test": sum(p.subset == "test" for p in plans),
        "generated": generated,
        "skipped": n - generated,
        "grey_fraction": sum(p.grey for p in plans) / n,
        "still_fraction": sum(p.still for p in plans) / n,
        "splits": str(root / "splits"),
    }


def load_toy_meta(dest: str | os.PathLike[str]) -> dict[str, Any]:
    """The per-video cue record (`toy_meta.json`) of a generated toy dataset."""
    path = Path(dest) / META_FILE
    if not path.is_file():
        raise DataError(f"{path} does not exist; generate the dataset with `tsn fetch toy`")
    return json.loads(path.read_text(encoding="utf-8"))
