"""What a `tsn flow` job is, apart from the per-video work: its settings (`FlowConfig`, saved as
OUT/flow_config.yaml), the tasks a worker gets (a video to extract, or to measure for
`--estimate`) and the results it returns, and the clean-up of folders an interrupted run left.

Nothing here decodes or computes flow, so the parent process of `tsn flow` (which plans the
work and runs the pool) imports neither OpenCV nor PyAV nor NumPy; the workers import
`tsncli.flow.extract`.
"""

from __future__ import annotations

import glob
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsncli import __version__
from tsncli.errors import UsageError
from tsncli.flow.algorithms import (
    DEFAULT_BATCH_PAIRS,
    require_cached_weights,
    resolve_implementation,
)
from tsncli.flow.sinks import frame_format
from tsncli.frame_settings import (
    DEFAULT_ALGORITHM,
    DEFAULT_BOUND,
    FrameSettings,
    format_size,
    load_frame_settings,
    parse_size,
    read_settings_file,
    save_frame_settings,
)
from tsncli.frame_settings import DEFAULT_SIZE as FRAME_SIZE
from tsncli.fsutil import stale_temp_paths
from tsncli.layout import FLOW_CONFIG_FILE, FRAME_FORMATS, check_frames_finished
from tsncli.modality import LIST_MODALITIES, Modality
from tsncli.parallel import available_cpus
from tsncli.video.files import VIDEO_EXTENSIONS, check_size_options

# what `tsn flow --modality` writes: rgb images, flow_x/flow_y pairs, or both
_WRITES: dict[str, tuple[Modality, ...]] = {
    Modality.RGB: (Modality.RGB,),
    Modality.FLOW: (Modality.FLOW,),
    "both": LIST_MODALITIES,
}
EXTRACT_OUTPUTS: tuple[str, ...] = tuple(str(name) for name in _WRITES)
DEFAULT_SIZE = format_size(FRAME_SIZE)
# The settings that change the files; a frames folder must not mix two sets of them.
SETTING_KEYS = (*FrameSettings().to_dict(), "modality")


@dataclass(frozen=True)
class FlowConfig:
    """Settings of `tsn flow` (YAML `--config` and CLI flags layer over these defaults).

    `size` ("WxH") and `short_side` are exclusive; when both are None frames are 340x256 (TSN).
    """

    algo: str = DEFAULT_ALGORITHM
    modality: str = "both"
    size: str | None = None
    short_side: int | None = None
    bound: float = DEFAULT_BOUND
    step: int = 1
    ext: tuple[str, ...] = VIDEO_EXTENSIONS
    # flow implementation ("opencv" | "torch"; None: torch for RAFT and on CUDA, else OpenCV),
    # the device kind torch runs on, and how many consecutive pairs one torch call gets
    impl: str | None = None
    device: str = "cpu"
    batch_pairs: int = DEFAULT_BATCH_PAIRS
    ignore_rotation: bool = False  # keep rotated videos' stored orientation (FrameSettings)
    format: str = FRAME_FORMATS[0]  # how frames are stored: files or zips (`flow.sinks`)

    def __post_init__(self) -> None:
        frame_format(self.format)  # an unknown name lists the valid ones
        if self.modality not in EXTRACT_OUTPUTS:
            valid = ", ".join(EXTRACT_OUTPUTS)
            raise UsageError(f"unknown modality {self.modality!r}; use one of: {valid}")
        object.__setattr__(self, "modality", str(self.modality))  # plain, for flow_config.yaml
        if self.device not in ("cpu", "cuda"):
            raise UsageError(f"--device {self.device!r}: use cpu or cuda")
        if self.batch_pairs < 1:
            raise UsageError(f"--batch-pairs must be >= 1, got {self.batch_pairs}")
        # unknown names list the valid ones; record the implementation actually used
        object.__setattr__(self, "impl", resolve_implementation(self.algo, self.impl, self.device))
        check_size_options(self.size, self.short_side)
        if self.bound <= 0:
            raise UsageError(f"--bound must be positive, got {self.bound}")
        if self.step < 1:
            raise UsageError(f"--step must be >= 1, got {self.step}")

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) to resize to, or None when `short_side` decides."""
        if self.short_side is not None:
            return None
        return parse_size(self.size or DEFAULT_SIZE)

    @property
    def frame_settings(self) -> FrameSettings:
        """The record of how these frames are made (checkpoints and eval read it back)."""
        return FrameSettings(
            size=self.frame_size,
            short_side=self.short_side,
            step=self.step,
            flow_algorithm=self.algo,
            flow_implementation=self.impl or "opencv",
            bound=self.bound,
            source="frames",
            ignore_rotation=self.ignore_rotation,
            format=self.format,
        )

    @property
    def batched(self) -> bool:
        """Whether flow is computed in torch, `batch_pairs` pairs per call (else per pair)."""
        return self.impl == "torch" and self.writes_flow

    @property
    def writes_rgb(self) -> bool:
        """Whether the job writes rgb images (`--modality rgb` or both)."""
        return Modality.RGB in _WRITES[self.modality]

    @property
    def writes_flow(self) -> bool:
        """Whether the job writes flow_x/flow_y pairs (`--modality flow` or both)."""
        return Modality.FLOW in _WRITES[self.modality]

    def settings(self) -> dict[str, Any]:
        """The resolved settings saved as OUT/flow_config.yaml: the frame settings + modality."""
        return {**self.frame_settings.to_dict(), "modality": self.modality}


def worker_threads(config: FlowConfig, workers: int) -> int:
    """The threads each of `workers` workers gets (0: the pool leaves threads alone); missing
    flow weights are one error here, not one per video."""
    if not config.batched:
        # OpenCV: the pool does not import torch (~2-6 s per spawned worker) just to set its
        # threads; the worker sets OpenCV to one thread itself.
        return 0
    # Batched torch flow: the worker's cores are shared by torch (CPU flow) or by its
    # decode/JPEG threads (GPU flow).
    require_cached_weights(config.algo)
    return max(1, available_cpus() // max(1, workers))


def save_flow_settings(frames_dir: str | Path, config: FlowConfig) -> Path:
    """Write OUT/flow_config.yaml (settings plus a note on the layout), atomically."""
    extra = {
        "modality": config.modality,
        "layout": frame_format(config.format).note,
        "counts": "N frames -> (N-1)//step+1 images, (N-1)//step flows",
        "tsn_version": __version__,
    }
    return save_frame_settings(Path(frames_dir) / FLOW_CONFIG_FILE, config.frame_settings, extra)


def load_flow_settings(frames_dir: str | Path) -> dict[str, Any] | None:
    """`<frames_dir>/flow_config.yaml` in the current shape (`FlowConfig.settings()`), whichever
    tsn wrote it; None if there is none."""
    frames = load_frame_settings(Path(frames_dir) / FLOW_CONFIG_FILE)
    if frames is None:
        return None
    data = read_settings_file(Path(frames_dir) / FLOW_CONFIG_FILE) or {}
    return {**frames.to_dict(), "modality": data.get("modality", "both")}


def load_frames_settings(frames_dir: str | Path) -> FrameSettings | None:
    """The FrameSettings a frames folder was made with (its flow_config.yaml); None if unknown.
    A folder an interrupted `tsn flow --force` left half redone is a DataError."""
    check_frames_finished(frames_dir)
    return load_frame_settings(Path(frames_dir) / FLOW_CONFIG_FILE)


@dataclass(frozen=True)
class VideoTask:
    """One video to extract (picklable, sent to a worker)."""

    video_id: str
    path: str
    out_root: str
    config: FlowConfig


@dataclass
class VideoResult:
    """What a worker did with one video; `error` is set when it failed, `partial` when it is
    done but ended early (fewer frames than its header's count or duration: a cut download)."""

    video_id: str
    path: str
    status: str  # "done" | "skipped" | "failed" | "cancelled"
    frames: int = 0
    images: int = 0
    flows: int = 0
    seconds: float = 0.0
    error: str | None = None
    partial: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleRequest:
    """A video to extract in memory for `tsn flow --estimate`: its first `frames` kept frames."""

    task: VideoTask
    frames: int


@dataclass
class SampleResult:
    """What measuring a video's first frames found: kept frames decoded, and per stream
    (`sinks.Part` value) the JPEGs made and their bytes; `error` when it could not be read."""

    video_id: str
    frames: int = 0
    entries: dict[int, int] = field(default_factory=dict)
    data: dict[int, int] = field(default_factory=dict)
    error: str | None = None


def remove_stale_temp_dirs(out_root: Path, video_id: str) -> int:
    """Delete temporary folders a killed run left for `video_id`; returns how many."""
    legacy = out_root.glob(f".{glob.escape(video_id)}.*.tmp")  # the names tsn <= 0.1 used
    stale = [p for p in (*stale_temp_paths(out_root / video_id), *legacy) if p.is_dir()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)
