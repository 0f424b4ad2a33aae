"""Heatmap overlays for `tsn explain`: each segment's frame beside the same frame under its
Grad-CAM map (OpenCV colormap, alpha blend) with the class and scores written above, and the
panels written as an MP4 (`tsncli.video.encode`: H.264 where the wheel has an encoder, MPEG-4
otherwise) or an animated GIF (PyAV's GIF encoder with a palette fitted to the panels). Writes
are atomic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tsncli.engine.explain import Explanation, short_layer_name
from tsncli.errors import UsageError
from tsncli.fsutil import atomic_path
from tsncli.video.encode import open_video_encoder

OUTPUT_FORMATS = {".mp4": "mp4", ".gif": "gif"}  # suffix -> container
PANEL_SIDE = 224  # frames are scaled up to at least this side, so a 32-pixel crop is visible
HEAT_ALPHA = 0.45  # the heatmap's share of the blended pixel
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def check_overlay_path(path: str | os.PathLike[str]) -> str:
    """The container for `path` by its suffix; another suffix is a UsageError naming them."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UsageError(
            f"--out {path}: unknown suffix {suffix or '(none)'!r}; "
            f"use {' or '.join(OUTPUT_FORMATS)} (e.g. {Path(path).with_suffix('.mp4').name})"
        )
    return OUTPUT_FORMATS[suffix]


def blend_heatmap(frame: np.ndarray, cam: np.ndarray, alpha: float = HEAT_ALPHA) -> np.ndarray:
    """uint8 RGB frame [H, W, 3] under a map [H, W] in [0, 1] coloured by OpenCV's JET (blue
    low, red high): (1 - alpha) * frame + alpha * heat, as uint8 RGB."""
    if cam.shape != frame.shape[:2]:
        raise ValueError(f"map {cam.shape} and frame {frame.shape[:2]} differ in size")
    levels = np.clip(np.rint(255 * np.asarray(cam, dtype=np.float32)), 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(frame, 1.0 - alpha, heat, alpha, 0.0)


def render_panel(frame: np.ndarray, cam: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """One segment as an RGB image: text `lines` on a dark band, then the frame and the frame
    under its heatmap side by side, scaled up by a whole factor to at least `PANEL_SIDE`."""
    height, width = frame.shape[:2]
    factor = max(1, -(-PANEL_SIDE // min(height, width)))  # ceil
    size = (width * factor, height * factor)
    plain = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    heat = cv2.resize(blend_heatmap(frame, cam), size, interpolation=cv2.INTER_LINEAR)
    gap = 4
    body = np.full((size[1], 2 * size[0] + gap, 3), 32, np.uint8)
    body[:, : size[0]] = plain
    body[:, size[0] + gap :] = heat
    scale = 0.5
    line_height = 20
    band = np.full((line_height * len(lines) + 8, body.shape[1], 3), 32, np.uint8)
    for i, text in enumerate(lines):
        y = line_height * (i + 1)
        cv2.putText(band, text, (6, y), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    panel = np.concatenate([band, body])
    # even sides: H.264 and MPEG-4 store 4:2:0 chroma at half resolution
    pad_h, pad_w = panel.shape[0] % 2, panel.shape[1] % 2
    return np.pad(panel, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=32)


def explanation_panels(explanation: Explanation) -> list[np.ndarray]:
    """One panel per segment: the class, its fused probability and the segment's own, the
    segment's frame number and time, and the layer the map comes from."""
    exp = explanation
    layer = short_layer_name(exp.layer)
    panels = []
    for s, (frame, cam) in enumerate(zip(exp.frames, exp.maps, strict=True)):
        number = exp.frame_numbers[s]
        when = f", {(number - 1) / exp.fps:.2f} s" if exp.fps > 0 else ""
        own = float(exp.snippet_probabilities[s])
        lines = [
            f"{exp.class_name}  {exp.probability:.3f}  (this segment {own:.3f})",
            f"segment {s + 1}/{len(exp.maps)}, frame {number}{when}",
            f"Grad-CAM of the {exp.modality} model at {layer}",
        ]
        panels.append(render_panel(frame, cam, lines))
    return panels


def fit_palette(images: Sequence[np.ndarray], colours: int = 256, seed: int = 0) -> np.ndarray:
    """[colours, 3] uint8 RGB: k-means centres of a pixel sample of `images` (fixed seed, so
    one input gives one palette)."""
    pixels = np.concatenate([im.reshape(-1, 3) for im in images])
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), min(len(pixels), 20_000), replace=False)]
    sample = sample.astype(np.float32)
    k = min(colours, len(np.unique(sample, axis=0)))
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    palette = np.zeros((colours, 3), np.uint8)
    palette[:k] = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
    palette[k:] = palette[0]
    return palette


def palette_indices(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """[H, W] uint8: the nearest palette colour of each pixel, through a 32-level-per-channel
    lookup table (32768 entries x 256 colours once, instead of every pixel x 256)."""
    levels = (np.arange(32, dtype=np.float32) * 8 + 4)[:, None]
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    pal = palette.astype(np.float32)
    # |g - p|^2 = |g|^2 - 2 g.p + |p|^2; |g|^2 is the same for every p
    distance = (pal**2).sum(axis=1)[None] - 2 * grid @ pal.T  # (32768, 256)
    table = distance.argmin(axis=1).astype(np.uint8)
    q = image >> 3  # 0..31 per channel
    return table[(q[..., 0].astype(np.int32) << 10) | (q[..., 1].astype(np.int32) << 5) | q[..., 2]]


def save_overlay(
    path: str | os.PathLike[str], images: Sequence[np.ndarray], seconds_per_image: float = 1.0
) -> Path:
    """Write RGB `images` (one size) as an MP4 or GIF by `path`'s suffix, each shown
    `seconds_per_image`; atomically (a temporary name, renamed when complete). The MP4 goes
    through the one video writer (`tsncli.video.encode`: H.264 where the wheel has it, MPEG-4
    otherwise, even dimensions, the index first so a browser plays it before it has all of it).
    """
    container = check_overlay_path(path)
    if not images:
        raise ValueError("no images to write")
    height, width = images[0].shape[:2]
    rate = Fraction(1) / Fraction(seconds_per_image).limit_denominator(1000)
    if container == "mp4":
        with open_video_encoder(path, rate, width, height) as encoder:
            for image in images:
                encoder.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return Path(path)
    palette = fit_palette(images)
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), palette], axis=1)
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="gif") as out:
        stream = out.add_stream("gif", rate=rate)
        stream.pix_fmt = "pal8"
        stream.width, stream.height = width, height
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray((palette_indices(image, palette), argb), "pal8")
            frame.pts, frame.time_base = index, 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)
