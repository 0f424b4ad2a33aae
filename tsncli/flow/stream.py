"""The one frame loop of `tsn flow` and `tsn predict`: decoded frames in; each frame with the
encoded flow that ends at it out, as numbered streams (`sinks.Part`) or under the dense_flow
file names (`tsncli.layout`), and their JPEG encoding.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.flow.algorithms import FlowFn
from tsncli.flow.encoding import encode_flow
from tsncli.flow.sinks import FILE_NAMES, FLOW_PARTS, Part
from tsncli.frame_settings import DEFAULT_BOUND

JPEG_QUALITY = 95  # OpenCV's (and dense_flow's) default


@dataclass(frozen=True)
class FlowStep:
    """One kept frame of a video and the flow that ends at it."""

    index: int  # 1-based frame number: the frame is img_{index}
    image: np.ndarray  # BGR uint8 [H, W, 3]
    # uint8 [H, W, 2] (x, y): encoded flow_{index - 1}, from frame index - 1 to this frame;
    # None on the first frame, without a flow function, or when that flow was not wanted
    flow: np.ndarray | None = None

    def parts(self, rgb: bool = True) -> Iterator[tuple[Part, int, np.ndarray]]:
        """(stream, 1-based number, image) of this step: img {index} (when `rgb`), then
        flow_x/flow_y {index - 1} (when there is flow)."""
        if rgb:
            yield Part.RGB, self.index, self.image
        if self.flow is not None:
            for axis, part in enumerate(FLOW_PARTS):
                yield part, self.index - 1, np.ascontiguousarray(self.flow[..., axis])

    def images(self, rgb: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """(dense_flow file name, image) of this step, as `parts` orders them."""
        for part, number, image in self.parts(rgb):
            yield FILE_NAMES[part].format(number), image


def stream_flow(
    frames: Iterable[np.ndarray],
    flow_fn: FlowFn | None = None,
    bound: float = DEFAULT_BOUND,
    wanted: Container[int] | None = None,
) -> Iterator[FlowStep]:
    """Yield a FlowStep per BGR frame of `frames`, with `flow_fn`'s flow from the previous
    frame encoded at `bound`. `wanted` (1-based flow numbers) limits which flows are computed;
    None computes all. At most one previous greyscale frame is kept (memory flat in length)."""
    previous: np.ndarray | None = None  # [H, W] uint8
    for index, frame in enumerate(frames, start=1):  # frame: [H, W, 3] BGR uint8
        if flow_fn is None:
            yield FlowStep(index, frame)
            continue
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        flow = None
        if previous is not None and (wanted is None or index - 1 in wanted):
            flow = encode_flow(flow_fn(previous, grey), bound)  # [H, W, 2] float32 px -> uint8
        previous = grey
        yield FlowStep(index, frame, flow)


def encode_jpeg(image: np.ndarray) -> bytes:
    """The bytes `tsn flow` writes for `image` (BGR or greyscale uint8): JPEG, quality 95."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise DataError(f"could not encode a {image.shape} image as JPEG")
    return data.tobytes()
