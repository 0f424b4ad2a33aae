"""Windows over a long video or a live stream: the window plan, the ring that cuts a forward
frame stream into windows, and scoring one window from frames held in memory (the timeline of
scored windows and its files are `tsncli.engine.timeline`).

Shared by `tsn predict --window` (a file, decoded once) and `tsn predict --stream` (a live
source). A window is scored as `tsn predict` scores a whole clip: `segments` evenly spaced
snippets (`tsncli.data.sampling.test_offsets`) and `crops` crops, through the checkpoint's
test dataset, so a window that covers a whole video gives `tsn predict`'s scores for it.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tsncli.data.crops import resolve_test_crops
from tsncli.data.memory_source import read_extracted_frames
from tsncli.engine.aggregate import aggregate_video
from tsncli.engine.eval.inference import Scorer, load_scorer
from tsncli.errors import DataError, UsageError
from tsncli.flow.backends import create_pair_flow_fn, flow_device, shared_pair_flow_fn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.stream import FlowStep, encode_jpeg
from tsncli.frame_settings import DEFAULT_ALGORITHM, FrameSettings, resolve_frame_settings
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow
from tsncli.models.checkpoint import read_meta
from tsncli.specs.flow_algorithms import on_the_fly_choices
from tsncli.video.decode import resize_frame


# --- the window plan ------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One window: frames `start_frame` (inclusive) to `end_frame` (exclusive), 0-based in the
    video's own frame numbering, and the same span in seconds (`start_frame / fps`)."""

    index: int
    start_frame: int
    end_frame: int
    start: float
    end: float

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame


def check_window(window: float, stride: float) -> None:
    """UsageError naming the option when the window or the stride is not a positive number of
    seconds. A stride longer than the window is allowed: the frames between are not scored."""
    if not math.isfinite(window) or window <= 0:
        raise UsageError(f"--window must be a positive number of seconds, got {window:g}")
    if not math.isfinite(stride) or stride <= 0:
        raise UsageError(f"--stride must be a positive number of seconds, got {stride:g}")


def window_frames(fps: float, window: float, stride: float) -> int:
    """Frames per window at `fps`; UsageError naming the fix when the window or the stride is
    not positive or is shorter than one frame."""
    check_window(window, stride)
    if not fps or fps <= 0 or not math.isfinite(fps):
        raise DataError("the video has no frame rate, so windows in seconds cannot be placed")
    length, step = round(window * fps), stride * fps
    if length < 1 or step < 1:
        shortest = "--window" if length < 1 else "--stride"
        raise UsageError(
            f"{shortest} is shorter than one frame at {fps:g} fps; use at least {1 / fps:.3f} s"
        )
    return length


def _start(index: int, fps: float, stride: float) -> int:
    """First frame of window `index`: round(index * stride * fps), so strides that are not a
    whole number of frames do not drift."""
    return round(index * stride * fps)


def plan_windows(
    num_frames: int, fps: float, window: float, stride: float, min_frames: int = 1
) -> list[Window]:
    """The windows of a `num_frames`-frame video at `fps`, `window` seconds long, one every
    `stride` seconds.

    Window k starts at frame round(k * stride * fps) and holds round(window * fps) frames.
    Windows start until one reaches the video's end; that last one is cut at the end (a
    partial window, shorter than the others), and dropped when it holds fewer than
    `min_frames` frames (a flow model needs 2). A stride longer than the window leaves the
    frames between windows unscored. A video shorter than one window gives one window over
    all of it.
    """
    length = window_frames(fps, window, stride)
    if num_frames < 1:
        return []
    windows: list[Window] = []
    k = 0
    while True:
        start = _start(k, fps, stride)
        if start >= num_frames:
            break
        end = min(start + length, num_frames)
        if end - start < min_frames and windows:
            break
        windows.append(Window(k, start, end, start / fps, end / fps))
        if end >= num_frames:
            break
        k += 1
    return windows


class WindowCutter:
    """Cut a forward stream of frames into the windows `plan_windows` gives, holding only the
    frames of windows not yet complete (at most one window's frames, so memory does not grow
    with the video's length).

    `push(frame)` returns the windows that frame completes, each with its frames (a list of
    what was pushed); `finish()` returns the last, partial window at the end of the stream.
    """

    def __init__(self, fps: float, window: float, stride: float, min_frames: int = 1) -> None:
        self.length = window_frames(fps, window, stride)
        self.fps, self.window, self.stride, self.min_frames = fps, window, stride, min_frames
        self.count = 0  # frames pushed so far
        self.next_index = 0  # the next window to complete
        self.ring: deque[np.ndarray] = deque()  # frames ring_start .. count - 1
        self.ring_start = 0
        self.emitted_end = 0  # end frame of the last window returned

    def _window(self, index: int, end: int | None = None) -> Window:
        start = _start(index, self.fps, self.stride)
        end = start + self.length if end is None else end
        return Window(index, start, end, start / self.fps, end / self.fps)

    def _drop_before(self, frame: int) -> None:
        while self.ring and self.ring_start < frame:
            self.ring.popleft()
            self.ring_start += 1
        if not self.ring:
            self.ring_start = max(self.ring_start, frame)

    def _cut(self, window: Window) -> list[np.ndarray]:
        first = window.start_frame - self.ring_start
        return [self.ring[i] for i in range(first, first + window.num_frames)]

    def push(self, frame: np.ndarray) -> list[tuple[Window, list[np.ndarray]]]:
        index = self.count
        self.count += 1
        if index >= _start(self.next_index, self.fps, self.stride):
            self.ring.append(frame)  # a frame between windows (stride > window) is skipped
        else:
            self.ring_start = index + 1
        done = []
        while True:
            window = self._window(self.next_index)
            if window.end_frame > self.count:
                break
            done.append((window, self._cut(window)))
            self.emitted_end = window.end_frame
            self.next_index += 1
            self._drop_before(_start(self.next_index, self.fps, self.stride))
        return done

    def finish(self) -> list[tuple[Window, list[np.ndarray]]]:
        """The last, partial window (none when the windows already reached the end, or when it
        holds fewer than `min_frames` frames after a full one)."""
        start = _start(self.next_index, self.fps, self.stride)
        if self.count == 0 or start >= self.count or self.emitted_end >= self.count:
            return []
        if self.count - start < self.min_frames and self.next_index > 0:
            return []
        window = self._window(self.next_index, end=self.count)
        cut = self._cut(window)
        self.next_index += 1
        self.emitted_end = self.count
        self.ring.clear()
        self.ring_start = self.count
        return [(window, cut)]


# --- scoring one window ---------------------------------------------------------------------
class _WindowSource:
    """A `SnippetSource` over one window's frames in memory (RGB uint8 at the decoded size),
    made the way the checkpoint's frames were: resized with `resize_frame`, every `step`-th
    frame, flow by the recorded algorithm and implementation; a frames-trained model gets the
    JPEG files `tsn flow` writes (as `MemoryFrameSource`), a video-list model the raw arrays
    (as `VideoFileSource`). Only the frames the snippets read are resized and encoded."""

    kind = "window"

    def __init__(
        self, settings: FrameSettings, frames: Sequence[np.ndarray], device: str = "cpu"
    ) -> None:
        self.settings, self.frames, self.device = settings, frames, device
        self._resized: dict[int, np.ndarray] = {}

    def frame(self, number: int) -> np.ndarray:
        """Kept frame `number` (1-based), RGB uint8 resized like `tsn flow`."""
        if number not in self._resized:
            st = self.settings
            self._resized[number] = resize_frame(
                self.frames[number - 1], size=st.size, short_side=st.short_side
            )
        return self._resized[number]

    def _flow_fn(self):
        st = self.settings
        if st.source == "videos":
            if st.flow_algorithm is None:
                raise DataError(
                    "this flow model was trained on a video list without flow on the fly; "
                    f"it needs flow computed by one of {on_the_fly_choices()}"
                )
            algorithm = st.flow_algorithm
        else:
            algorithm = st.flow_algorithm or DEFAULT_ALGORITHM
        impl = st.flow_implementation
        device = flow_device(impl, self.device)
        if impl == "torch":  # stateless: built once per process (RAFT loads its weights once)
            return shared_pair_flow_fn(algorithm, impl, device)
        # a fresh OpenCV function per window: DIS keeps state between calls (see VideoFileSource)
        return create_pair_flow_fn(algorithm, impl, device)

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]:
        """uint8 frames for `indices` [S, L] (1-based): RGB (H, W, 3) or flow (H, W, 2)."""
        flat = np.asarray(indices, dtype=np.int64).reshape(-1).tolist()
        needed = sorted(set(flat))
        flow = reads_flow(modality)
        frames_trained = self.settings.source != "videos"
        arrays: dict[int, np.ndarray] = {}
        files: dict[str, bytes] = {}
        flow_fn = self._flow_fn() if flow else None
        greys: dict[int, np.ndarray] = {}  # a frame both ends one flow and starts the next

        def grey(j: int) -> np.ndarray:
            if j not in greys:
                greys[j] = cv2.cvtColor(self.frame(j), cv2.COLOR_RGB2GRAY)
            return greys[j]

        for i in needed:
            if flow:  # flow i goes from kept frame i to i + 1, as `tsn flow`'s flow_x_i
                encoded = encode_flow(flow_fn(grey(i), grey(i + 1)), self.settings.bound)
                # the step's image is not written (rgb=False): only its flow planes are
                step = FlowStep(i + 1, self.frame(i + 1), encoded)
            else:
                encoded = self.frame(i)
                step = FlowStep(i, cv2.cvtColor(encoded, cv2.COLOR_RGB2BGR))
            if not frames_trained:
                arrays[i] = encoded
                continue
            for name, image in step.images(rgb=not flow):  # `tsn flow`'s files and names
                files[os.path.join(record.path, name)] = encode_jpeg(image)
        if frames_trained:
            return read_extracted_frames(files, record, indices, modality)
        return [arrays[i] for i in flat]


@dataclass
class WindowScores:
    """One scored window: fused logits and each checkpoint's aggregated logits."""

    window: Window
    fused: np.ndarray  # [C] weighted sum of the checkpoints' video-level logits
    per_model: dict[str, np.ndarray] = field(default_factory=dict)  # {modality: [C]}


def load_checkpoints(
    checkpoints: Sequence[str | os.PathLike[str]],
    weights: Sequence[float] | None = None,
    crops: int | None = None,
    device: str = "cpu",
) -> tuple[list[Scorer], list[float], list[int]]:
    """The scorers, weights and test crops of `tsn predict`'s checkpoints; UsageError when
    none is given, the weights do not match or the class lists differ."""
    if not checkpoints:
        raise UsageError("give at least one --checkpoint")
    weights = list(weights) if weights else [1.0] * len(checkpoints)
    if len(weights) != len(checkpoints):
        raise UsageError(f"{len(weights)} weights given for {len(checkpoints)} checkpoints")
    scorers = [load_scorer(c, device) for c in checkpoints]
    test_crops = [
        resolve_test_crops(crops, read_meta(s.meta).flip, model=Path(c).name)
        for s, c in zip(scorers, checkpoints, strict=True)
    ]
    classes = scorers[0].class_names
    for scorer, ckpt in zip(scorers[1:], checkpoints[1:], strict=True):
        if scorer.class_names != classes:
            raise UsageError(
                f"{ckpt} predicts other classes than {checkpoints[0]}; fuse checkpoints "
                "trained on the same class list"
            )
    return scorers, weights, test_crops


def _model_names(scorers: Sequence[Scorer]) -> list[str]:
    """A key per checkpoint: its modality, numbered when two share one (rgb, rgb#2)."""
    names: list[str] = []
    for scorer in scorers:
        base = scorer.modality.value
        name, n = base, 2
        while name in names:
            name, n = f"{base}#{n}", n + 1
        names.append(name)
    return names


class WindowScorer:
    """Scores windows of decoded frames with one or more checkpoints, fused with weights, as
    `tsn predict` scores a whole clip (`segments` snippets x each checkpoint's crops).

    Scores one video's (or stream's) windows in order: snippets that overlapping windows share
    are scored once (cached by video frame number); `reset()` before another video."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        weights: Sequence[float] | None = None,
        crops: Sequence[int] | None = None,
        segments: int = 25,
        ignore_rotation: bool = False,
    ) -> None:
        if segments < 1:
            raise UsageError(f"--segments must be at least 1, got {segments}")
        self.scorers = list(scorers)
        self.weights = list(weights) if weights else [1.0] * len(self.scorers)
        self.crops = list(crops) if crops else [10] * len(self.scorers)
        self.segments = segments
        self.names = _model_names(self.scorers)
        # (checkpoint, video frames a snippet reads) -> its logits (N, C), for overlapping windows
        self._cache: dict[tuple[int, ...], np.ndarray] = {}
        self.settings = []
        for scorer in self.scorers:
            st = resolve_frame_settings(scorer.meta.get("frames"))
            if ignore_rotation and not st.ignore_rotation:
                st = resolve_frame_settings(st, overrides={"ignore_rotation": True})
            self.settings.append(st)

    @classmethod
    def load(
        cls,
        checkpoints: Sequence[str | os.PathLike[str]],
        weights: Sequence[float] | None = None,
        segments: int = 25,
        crops: int | None = None,
        device: str = "cpu",
        ignore_rotation: bool = False,
    ) -> WindowScorer:
        """Load `checkpoints` (cached per process) with `tsn predict`'s checks and defaults."""
        scorers, weights, test_crops = load_checkpoints(checkpoints, weights, crops, device)
        return cls(scorers, weights, test_crops, segments, ignore_rotation)

    @property
    def classes(self) -> list[str]:
        return self.scorers[0].class_names

    def reset(self) -> None:
        """Forget cached snippets: call it before the windows of another video or stream (a
        new stream's frame numbers would name the old one's snippets)."""
        self._cache.clear()

    @property
    def ignore_rotation(self) -> bool:
        """Whether frames should be decoded in their stored orientation (any checkpoint's
        frames were made so)."""
        return any(st.ignore_rotation for st in self.settings)

    @property
    def min_frames(self) -> int:
        """The fewest decoded frames a window needs: 2 kept frames for a flow model."""
        need = 1
        for scorer, st in zip(self.scorers, self.settings, strict=True):
            if reads_flow(scorer.modality):
                need = max(need, 1 + (st.step if st.source != "videos" else 1))
        return need

    def score_frames(
        self,
        frames: Sequence[np.ndarray],
        first_frame: int = 0,
        frame_numbers: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fused logits [C] and {modality: logits [C]} of one window: `frames` are RGB uint8
        [H, W, 3] at the decoded size, the first being frame `first_frame` (0-based) of the
        video and the rest the frames after it. A live source that dropped frames passes each
        frame's number in `frame_numbers` instead, so cached snippets are matched by the frames
        they really read. A frames-trained model with a frame step keeps the frames whose
        number `tsn flow` kept (multiples of the step)."""
        if not frames:
            raise DataError("a window with no frames cannot be scored")
        if frame_numbers is None:
            frame_numbers = range(first_frame, first_frame + len(frames))
        elif len(frame_numbers) != len(frames):
            raise ValueError(f"{len(frame_numbers)} frame numbers for {len(frames)} frames")
        first_frame = int(frame_numbers[0])
        fused: np.ndarray | None = None
        per_model: dict[str, np.ndarray] = {}
        for m, (scorer, st, weight, crops, name) in enumerate(
            zip(self.scorers, self.settings, self.weights, self.crops, self.names, strict=True)
        ):
            step = st.step if st.source != "videos" else 1  # a video list's loader takes all
            chosen = [i for i, n in enumerate(frame_numbers) if n % step == 0]
            kept = [frames[i] for i in chosen]
            numbers = [int(frame_numbers[i]) for i in chosen]
            flow = reads_flow(scorer.modality)
            available = len(kept) - (1 if flow else 0)
            if available < 1:
                what = "flow needs at least 2" if flow else "nothing to score"
                raise DataError(
                    f"the window at frame {first_frame} has {len(kept)} frame(s); {what}; "
                    "use a longer --window"
                )
            source = _WindowSource(st, kept, str(scorer.device))
            record = VideoRecord(f"window_{first_frame}", available, 0)
            raw = self._snippet_logits(m, scorer, source, record, crops, numbers, flow)
            logits = aggregate_video(raw)  # [C]
            per_model[name] = logits
            part = logits * np.float32(weight)
            fused = part if fused is None else fused + part
        # later windows start later: snippets before this window's first frame never recur
        for key in [k for k in self._cache if k[1] < first_frame]:
            del self._cache[key]
        assert fused is not None
        return fused, per_model

    def _snippet_logits(
        self,
        model: int,
        scorer: Scorer,
        source: _WindowSource,
        record: VideoRecord,
        crops: int,
        numbers: Sequence[int],
        flow: bool,
    ) -> np.ndarray:
        """Logits (S, N, C) of the window's snippets. A snippet is named by the numbers of
        the video frames it reads (a flow stack also reads the frame after its last); one an
        earlier window already scored (overlapping windows whose snippet grids line up) comes
        from the cache, so only new snippets go through the model."""
        dataset = scorer.test_dataset([record], source, self.segments, crops)
        indices = dataset.frame_indices(0)  # [S, L] 1-based among the window's kept frames
        keys = []
        for row in indices.tolist():
            read = list(row) + ([row[-1] + 1] if flow else [])  # flow i: frames i and i + 1
            keys.append((model, *(numbers[i - 1] for i in read)))
        cache = self._cache
        missing = [s for s, key in enumerate(keys) if key not in cache]
        if missing:
            # the same test dataset over only the missing snippets: crops do not depend on
            # the snippet count, so each snippet's input is what the full clip would hold
            subset = scorer.test_dataset([record], source, len(missing), crops)
            chosen = indices[missing]
            subset.frame_indices = lambda index, rng=None: chosen  # type: ignore[method-assign]
            fresh = scorer.score(subset.load_clip(0)[None])[0]  # (missing, N, C)
            for s, logits in zip(missing, fresh, strict=True):
                cache[keys[s]] = logits
        return np.stack([cache[key] for key in keys])

    def score_window(self, window: Window, frames: Sequence[np.ndarray]) -> WindowScores:
        """`score_frames` for a `WindowCutter` window."""
        fused, per_model = self.score_frames(frames, window.start_frame)
        return WindowScores(window, fused, per_model)


def iter_scored_windows(
    frames: Iterator[np.ndarray] | Sequence[np.ndarray],
    scorer: WindowScorer,
    fps: float,
    window: float,
    stride: float,
) -> Iterator[WindowScores]:
    """Score the windows of a forward stream of RGB frames as each completes (a cutter holds
    the frames; nothing else is kept)."""
    cutter = WindowCutter(fps, window, stride, scorer.min_frames)
    scorer.reset()
    for frame in frames:
        for w, cut in cutter.push(frame):
            yield scorer.score_window(w, cut)
    for w, cut in cutter.finish():
        yield scorer.score_window(w, cut)
