"""Rendering of the toy dataset's videos: class cues, textured backgrounds, trajectories, MJPG.

Pure functions of a `VideoPlan` and a `ToySpec`; `tsncli.acquire.toy` plans and writes the dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tsncli.errors import DataError

# (class name, object hue in degrees, motion pattern); classes differ in BOTH cues. Motions are
# mirror-invariant (left/right or clockwise/anticlockwise drawn at random per video) because TSN
# trains and tests with horizontal flips.
TOY_CLASSES: tuple[tuple[str, float, str], ...] = (
    ("RedSlide", 0.0, "slide"),  # horizontal
    ("OrangeRise", 30.0, "rise"),  # straight up
    ("YellowFall", 60.0, "fall"),  # straight down
    ("GreenCircle", 120.0, "circle"),
    ("CyanShake", 180.0, "shake"),  # horizontal oscillation
    ("BlueBob", 225.0, "bob"),  # vertical oscillation
    ("PurpleClimb", 270.0, "climb"),  # diagonal up
    ("MagentaDrop", 315.0, "drop"),  # diagonal down
)


@dataclass(frozen=True)
class ToySpec:
    """Generation settings; together with the seed they fully determine every output byte."""

    videos_per_class: int = 40
    seed: int = 0
    width: int = 128
    height: int = 96
    min_frames: int = 24
    max_frames: int = 32
    clips_per_group: int = 4
    test_fraction: float = 0.3  # fraction of groups (rounded, at least 1) held out for testing
    grey_fraction: float = 0.2  # videos whose object has no colour (appearance cue missing)
    still_fraction: float = 0.2  # videos whose object does not move (motion cue missing)
    fps: float = 25.0


@dataclass(frozen=True)
class VideoPlan:
    """Everything random about one video, drawn up front so generation order cannot matter."""

    name: str  # v_<Class>_gXX_cYY
    class_name: str
    label: int  # 0-based
    group: int
    clip: int
    subset: str  # train | test
    grey: bool
    still: bool
    motion: str
    num_frames: int
    speed: float
    quality: int  # MJPG quality, 40..90 (compression nuisance)
    seed: int


def _background(spec: ToySpec, group: int, rng: np.random.Generator, margin: int) -> np.ndarray:
    """A textured, low-saturation background; its palette is shared by the group's videos."""
    grng = np.random.default_rng([spec.seed, 7919, group])
    palette = grng.uniform(60, 200, size=(3, 3))  # 3 colours, BGR
    palette = palette.mean(axis=1, keepdims=True) * 0.6 + palette * 0.4  # tame saturation
    h, w = spec.height + 2 * margin, spec.width + 2 * margin
    # Two smooth noise fields blend the palette; fine noise and clutter add texture.
    a = cv2.resize(rng.random((6, 8), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    b = cv2.resize(rng.random((12, 16), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    a, b = np.clip(a, 0, 1)[..., None], np.clip(b, 0, 1)[..., None]
    img = palette[0] * (1 - a) + palette[1] * a
    img = img * (1 - 0.5 * b) + palette[2] * 0.5 * b
    img += rng.normal(0, 10, size=(h, w, 1))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(4, 9))):  # static greyish clutter (never class-coloured)
        tone = float(rng.uniform(40, 220))
        colour = tuple(float(np.clip(tone + rng.normal(0, 12), 0, 255)) for _ in range(3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.circle(img, centre, int(rng.integers(4, 14)), colour, -1, cv2.LINE_AA)
        else:
            half = int(rng.integers(3, 12))
            cv2.rectangle(
                img,
                (centre[0] - half, centre[1] - half),
                (centre[0] + half, centre[1] + half),
                colour,
                -1,
            )
    return img


def _object_colour(
    hue: float, grey: bool, rng: np.random.Generator, background_luma: float
) -> tuple[float, float, float]:
    """BGR colour: the class hue (jittered) with high saturation, or a grey that stands out from
    the background's brightness (so a grey object still shows its motion to optical flow)."""
    if grey:
        v = float(rng.uniform(175, 235) if background_luma < 128 else rng.uniform(25, 80))
        return (v, v, v)
    h = (hue + rng.uniform(-8, 8)) % 360
    hsv = np.array([[[h / 2.0, rng.uniform(190, 255), rng.uniform(170, 255)]]], dtype=np.float32)
    bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(float(c) for c in bgr)


def _trajectory(
    plan: VideoPlan, spec: ToySpec, radius: int, rng: np.random.Generator
) -> np.ndarray:
    """Object centre per frame [T, 2] (x, y), kept inside the frame."""
    t = np.arange(plan.num_frames, dtype=np.float64)
    # The centre stays >= `edge` px inside the frame: a fast object may be half out at its ends.
    edge = 4
    room_x = spec.width - 2 * edge - 1  # 1 px slack against rounding
    room_y = spec.height - 2 * edge - 1
    span = max(plan.num_frames - 1, 1)
    s = plan.speed
    side = 1.0 if rng.random() < 0.5 else -1.0  # mirror: left or right, cw or anticlockwise
    direction = {
        "slide": (side, 0.0),
        "rise": (0.0, -1.0),
        "fall": (0.0, 1.0),
        "climb": (side * 0.7071, -0.7071),
        "drop": (side * 0.7071, 0.7071),
    }
    if plan.motion in direction:
        dx, dy = direction[plan.motion]
        # Long videos move slower so the object never leaves the frame.
        limit = min(room_x / max(abs(dx), 1e-6), room_y / max(abs(dy), 1e-6)) / span
        s = min(s, limit)
        offsets = np.stack([dx * s * t, dy * s * t], axis=1)
    elif plan.motion == "circle":
        low = radius + 6.0
        r = float(rng.uniform(low, max(low, min(room_x, room_y) / 2 - radius)))
        phase = float(rng.uniform(0, 2 * math.pi))
        angle = phase + side * t * (s * 1.3 / r)
        offsets = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    elif plan.motion in ("shake", "bob"):
        period = float(rng.uniform(6, 10))
        amp = s * 1.3 * period / (2 * math.pi)  # peak speed ~1.3x the nominal speed
        wave = amp * np.sin(float(rng.uniform(0, 2 * math.pi)) + 2 * math.pi * t / period)
        offsets = np.stack([wave, 0 * t] if plan.motion == "shake" else [0 * t, wave], axis=1)
    else:  # still
        offsets = np.zeros((plan.num_frames, 2))
    lo, hi = offsets.min(axis=0), offsets.max(axis=0)
    # Keep the path's midpoint in the central square (what a centre crop sees), as a camera
    # operator would, unless the path is too long for that; never closer than `edge` to a side.
    side = min(spec.width, spec.height)
    start = []
    for axis, size in ((0, spec.width), (1, spec.height)):
        low, high = edge - lo[axis], size - edge - hi[axis]
        mid = (lo[axis] + hi[axis]) / 2
        centre_low = (size - side) / 2 + radius - mid
        centre_high = (size + side) / 2 - radius - mid
        a, b = max(low, centre_low), min(high, centre_high)
        start.append(rng.uniform(a, b) if a <= b else rng.uniform(low, high))
    return offsets + np.array(start)


def render_video(plan: VideoPlan, spec: ToySpec) -> list[np.ndarray]:
    """All frames of one video (BGR uint8 [H, W, 3]), a pure function of the plan and spec."""
    return render_video_with_track(plan, spec)[0]


def render_video_with_track(
    plan: VideoPlan, spec: ToySpec
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Frames plus the ground truth: object centre in the world [T, 2] and camera offset [T, 2]."""
    rng = np.random.default_rng(plan.seed)
    margin = 8
    background = _background(spec, plan.group, rng, margin)
    hue = TOY_CLASSES[plan.label][1]
    luma = float(cv2.cvtColor(background, cv2.COLOR_BGR2GRAY).mean())
    colour = _object_colour(hue, plan.grey, rng, luma)
    # An achromatic outline that contrasts with the background: every object, whatever its
    # colour, has luminance edges for optical flow, and the outline carries no class colour.
    outline = (20.0, 20.0, 20.0) if luma >= 110 else (235.0, 235.0, 235.0)
    radius = int(rng.integers(spec.height // 9, spec.height // 6 + 1))  # 10..16 px at 96
    shape = ("disc", "square", "triangle")[int(rng.integers(0, 3))]
    spin = float(rng.uniform(-0.1, 0.1))
    brightness = float(rng.uniform(0.8, 1.15))
    centres = _trajectory(plan, spec, radius, rng)
    cam = np.zeros(2)
    frames: list[np.ndarray] = []
    cameras = np.zeros((plan.num_frames, 2))
    for i in range(plan.num_frames):
        step = rng.integers(-1, 2, size=2) * (rng.random(2) < 0.2)  # occasional 1 px shake
        cam = np.clip(cam + step, -margin + 1, margin - 1)
        cameras[i] = cam
        ox, oy = int(margin + cam[0]), int(margin + cam[1])
        frame = background[oy : oy + spec.height, ox : ox + spec.width].copy()
        cx, cy = centres[i] - cam  # the object lives in world coordinates; the camera shakes
        _draw(frame, shape, cx, cy, radius, i * spin, colour, outline)
        frame = np.clip(frame.astype(np.float32) * brightness, 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames, centres, cameras


def _draw(img: np.ndarray, shape: str, cx: float, cy: float, r: int, angle: float, colour, outline):
    sub = 16  # sub-pixel drawing (shift=4) so slow motion is smooth
    if shape == "disc":
        centre = (round(cx * sub), round(cy * sub))
        cv2.circle(img, centre, r * sub, colour, -1, cv2.LINE_AA, 4)
        cv2.circle(img, centre, r * sub, outline, 2, cv2.LINE_AA, 4)
        return
    corners = 4 if shape == "square" else 3
    a = angle + np.arange(corners) * 2 * math.pi / corners
    pts = np.stack([cx + r * 1.15 * np.cos(a), cy + r * 1.15 * np.sin(a)], axis=1)
    poly = [np.round(pts * sub).astype(np.int32)]
    cv2.fillPoly(img, poly, colour, cv2.LINE_AA, 4)
    cv2.polylines(img, poly, True, outline, 2, cv2.LINE_AA, 4)


def write_video(path: Path, frames: list[np.ndarray], fps: float, quality: int) -> None:
    """MJPG AVI through OpenCV's own encoder (deterministic, readable by OpenCV/FFmpeg)."""
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, fourcc, fps, (w, h))
    if not writer.isOpened():
        raise DataError(f"OpenCV cannot write MJPG video {path}; reinstall opencv-python")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
    for frame in frames:
        writer.write(frame)
    writer.release()
