"""A video file extracted like `tsn flow` into an in-memory frame folder, for `tsn predict` on
a model trained on frames: the same decode, flow, encoding and JPEG files, read by `frames.py`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from tsncli.data import frames
from tsncli.errors import DataError
from tsncli.flow.backends import create_pair_flow_fn, flow_device
from tsncli.flow.stream import encode_jpeg, stream_flow
from tsncli.frame_settings import DEFAULT_ALGORITHM, FrameSettings
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow
from tsncli.video.decode import iter_video_frames


@dataclass(frozen=True)
class MemoryFrameSource:
    """Snippets of video files decoded with `settings` (the checkpoint's `tsn flow` settings).

    Only the images and flows the snippets read are kept, as the JPEG bytes `tsn flow` would
    write, so a clip equals one read from that video's extracted frames.
    """

    settings: FrameSettings
    kind: str = "frames"
    device: str = "cpu"  # where a torch flow implementation runs (OpenCV: always the CPU)

    def _frames(self, path: str):
        st = self.settings
        return iter_video_frames(
            path, size=st.size, short_side=st.short_side, step=st.step,
            ignore_rotation=st.ignore_rotation,
        )  # fmt: skip

    def count(self, path: str, modality: str) -> int:
        """Frames (flow: flow fields, one fewer) a video yields with these settings; decodes
        it once, since a container's frame count is only a guess."""
        flow = reads_flow(modality)
        decoded = sum(1 for _ in self._frames(path))
        available = decoded - 1 if flow else decoded
        if available < 1:
            what = "flow needs at least 2" if flow else "nothing to score"
            raise DataError(f"{path} has {decoded} frame(s); {what}")
        return available

    def extract(self, path: str, indices: np.ndarray, modality: str) -> dict[str, bytes]:
        """{file path under `path`: JPEG bytes} of the frames `indices` [S, L] (1-based) read."""
        flow = reads_flow(modality)
        needed = set(np.asarray(indices).reshape(-1).tolist())
        st = self.settings
        algorithm, impl = st.flow_algorithm or DEFAULT_ALGORITHM, st.flow_implementation
        # the recorded implementation (`tsn flow --impl/--gpus`), so the flow is the same
        flow_fn = (
            create_pair_flow_fn(algorithm, impl, flow_device(impl, self.device)) if flow else None
        )
        files: dict[str, bytes] = {}
        for step in stream_flow(self._frames(path), flow_fn, self.settings.bound, needed):
            if not flow and step.index not in needed:
                continue
            for name, image in step.images(rgb=not flow):
                files[os.path.join(path, name)] = encode_jpeg(image)
        return files

    def read_frames(
        self, record: VideoRecord, indices: np.ndarray, modality: str
    ) -> list[np.ndarray]:
        """uint8 frames for `indices` [S, L] (1-based): RGB (H, W, 3) or flow (H, W, 2)."""
        files = self.extract(record.path, indices, modality)
        return read_extracted_frames(files, record, indices, modality)

    def validate(self, records: Sequence[VideoRecord], modality: str, list_file: Any = "") -> None:
        """Every video file exists (DataError naming the first that does not)."""
        for record in records:
            if not os.path.isfile(record.path):
                raise DataError(f"{record.path} does not exist; pass a video file")


def read_extracted_frames(
    files: dict[str, bytes], record: VideoRecord, indices: np.ndarray, modality: str
) -> list[np.ndarray]:
    """uint8 frames for `indices` [S, L] (1-based) from `MemoryFrameSource.extract`'s JPEG bytes:
    RGB (H, W, 3) or flow (H, W, 2), as a frames folder reads."""

    def read(name: str, grayscale: bool) -> np.ndarray:
        data = files.get(name)
        if data is None:
            raise DataError(f"{record.path} has no frame {os.path.basename(name)}")
        flags = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR_RGB
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)

    return frames.read_frames(record.path, indices, modality, read)
