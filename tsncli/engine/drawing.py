"""OpenCV drawing shared by the timeline plot and the annotated video: a colour per class and
text that stays readable on any background (a dark box behind it)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_colour(index: int) -> tuple[int, int, int]:
    """A BGR colour for class `index`: hues spread by the golden ratio, so neighbouring class
    indices get distinct colours, bright enough for white-on-dark labels beside them."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def text_size(text: str, scale: float, thickness: int = 1) -> tuple[int, int, int]:
    """(width, height above the baseline, baseline) of `text` in pixels."""
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    return width, height, baseline


def put_text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int] = (255, 255, 255),
    thickness: int = 1,
) -> None:
    """Draw `text` with its baseline's left end at `origin` (anti-aliased)."""
    cv2.putText(image, text, origin, FONT, scale, colour, thickness, cv2.LINE_AA)


def put_label(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    swatch: tuple[int, int, int] | None = None,
    thickness: int = 1,
) -> tuple[int, int]:
    """Draw white `text` on a dark box whose top-left corner is `origin`, with a square of
    `swatch` colour before it; returns the box's (width, height)."""
    width, height, baseline = text_size(text, scale, thickness)
    pad = max(2, int(round(height * 0.35)))
    square = height + 2 * pad if swatch is not None else 0
    x, y = origin
    box_w, box_h = square + width + 2 * pad, height + baseline + 2 * pad
    x2, y2 = min(image.shape[1], x + box_w), min(image.shape[0], y + box_h)
    region = image[y:y2, x:x2]
    # darken the box instead of painting it, so the video shows through a little
    region[...] = (region.astype(np.uint16) * 3 // 10).astype(np.uint8)
    if swatch is not None:
        cv2.rectangle(image, (x + pad, y + pad), (x + square - pad, y + box_h - pad), swatch, -1)
    put_text(image, text, (x + square + pad, y + pad + height), scale, thickness=thickness)
    return box_w, box_h
