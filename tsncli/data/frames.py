"""Reading frames from dense_flow folders (`img_%05d.jpg`, `flow_x_%05d.jpg`, `flow_y_%05d.jpg`)
or dense_flow zips (`img.zip`, `flow_x.zip`, `flow_y.zip`), detected per video and modality.

Decoding is OpenCV (libjpeg-turbo); colour frames come out RGB, flow frames greyscale. A clip is
returned as one uint8 array (H, W, S*L*C), the layout `tsncli.data.transforms` works on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from tsncli.errors import DataError
from tsncli.framezip import ZipFrameReader, open_frame_zip
from tsncli.fsutil import needs_bytes_path
from tsncli.layout import FLOW_TEMPLATES, RGB_TEMPLATE, is_zipped, zip_entry
from tsncli.lists.listfile import VideoRecord
from tsncli.modality import reads_flow

ImageReader = Callable[[str, bool], np.ndarray]  # (path, greyscale) -> decoded image


def frame_templates(modality: str) -> tuple[str, ...]:
    """File-name templates read per frame: ("img_...",) or ("flow_x_...", "flow_y_...")."""
    return FLOW_TEMPLATES if reads_flow(modality) else (RGB_TEMPLATE,)


class UnreadableFrameError(DataError):
    """A frame file of one video cannot be read (missing mid-folder, unreadable or corrupt):
    training skips that video as evaluation does, instead of stopping at whichever epoch first
    samples the frame. `path` is the frame's file; `index` its 1-based frame number. (Both are
    optional: a DataLoader re-raises a worker's error as `type(error)(message)`.)"""

    def __init__(self, message: str, path: str = "", index: int = 0) -> None:
        super().__init__(message)
        self.path, self.index = path, index


class CorruptFrameError(UnreadableFrameError):
    """A frame file exists but does not decode (a neighbouring frame is tried first)."""


def read_image(path: str, grayscale: bool) -> np.ndarray:
    """Decode one JPEG: (H, W) for greyscale, (H, W, 3) RGB otherwise; UnreadableFrameError
    when missing or unreadable, CorruptFrameError when it does not decode."""
    flags = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR_RGB
    if needs_bytes_path(path):  # cv2.imread segfaults on a name that is not UTF-8
        data = np.fromfile(path, np.uint8) if os.path.isfile(path) else np.zeros(0, np.uint8)
        image = cv2.imdecode(data, flags) if data.size else None
    else:
        image = cv2.imread(path, flags)
    if image is None:
        unreadable = _unreadable_file(path)
        if unreadable is not None:
            raise unreadable
        raise CorruptFrameError(
            f"frame {path} cannot be decoded (corrupt JPEG?); re-extract with `tsn flow`", path
        )
    return image


def read_frame_file(path: str) -> np.ndarray:
    """The bytes of one frame file of a frame folder as uint8 [n], not decoded (what
    `--decode-device cuda` hands over), with `read_image`'s errors for a file that is missing,
    unreadable or a folder. Zipped videos read through `zipped_frame_reader` instead."""
    try:
        return np.fromfile(path, np.uint8)
    except OSError:
        unreadable = _unreadable_file(path)
        if unreadable is None:  # there and readable, yet not a file
            unreadable = UnreadableFrameError(
                f"frame {path} is a folder, not a JPEG; re-extract with `tsn flow`", path
            )
        raise unreadable from None


def _unreadable_file(path: str) -> UnreadableFrameError | None:
    """The error for a frame file that is missing or that this user cannot read; None when it
    is there and readable."""
    if not os.path.exists(path):
        return UnreadableFrameError(
            f"frame {path} is missing; re-extract that video with `tsn flow` "
            "or fix num_frames in the list with `tsn lists`",
            path,
        )
    if not os.access(path, os.R_OK):
        return UnreadableFrameError(
            f"frame {path} cannot be read: permission denied; check permissions", path
        )
    return None


FrameBytesReader = Callable[[str], np.ndarray]  # frame path (folder layout) -> its JPEG bytes


def zipped_frame_reader(folder: str | os.PathLike[str], modality: str) -> FrameBytesReader | None:
    """For a video whose `modality` frames are zipped (`layout.is_zipped`): a function from a
    frame's path as a folder names it (`folder/flow_x_00005.jpg`) to its JPEG bytes (uint8 [n])
    read from the archive (`flow_x.zip`, entry `x_00005.jpg`); None for a frame folder.

    The archives come from this process's cache (`open_frame_zip`): a loader worker parses a
    video's central directory once, not per frame. Errors name the archive and the entry:
    UnreadableFrameError for a missing entry or an unreadable archive, CorruptFrameError for an
    entry that fails its CRC check (a neighbouring frame is tried, as for a corrupt file)."""
    base = os.fspath(folder)
    if not is_zipped(base, "flow" if reads_flow(modality) else "rgb"):  # one stat per clip
        return None
    archives: dict[str, ZipFrameReader] = {}

    def read(path: str) -> np.ndarray:
        zip_name, entry = zip_entry(os.path.basename(path)) or ("", "")
        archive = archives.get(zip_name)
        try:
            if archive is None:
                archive = archives[zip_name] = open_frame_zip(os.path.join(base, zip_name))
        except DataError as exc:
            raise UnreadableFrameError(str(exc), path) from None
        if entry not in archive:
            raise UnreadableFrameError(
                f"frame {entry} is missing from {archive.path}; re-extract that video with "
                "`tsn flow` or fix num_frames in the list with `tsn lists`",
                path,
            )
        try:
            data = archive.read(entry)
        except DataError as exc:
            raise CorruptFrameError(str(exc), path) from None
        return np.frombuffer(bytearray(data), np.uint8)  # writable, as np.fromfile gives

    return read


def _decode_zipped(read_bytes: FrameBytesReader) -> ImageReader:
    """An ImageReader over a zipped video's entries, decoding as `read_image` does."""

    def read(path: str, grayscale: bool) -> np.ndarray:
        data = read_bytes(path)
        image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR_RGB)
        if image is None:
            zip_name, entry = zip_entry(os.path.basename(path)) or ("", "")
            raise CorruptFrameError(
                f"frame {entry} in {os.path.join(os.path.dirname(path), zip_name)} cannot be "
                "decoded (corrupt JPEG?); re-extract that video with `tsn flow`",
                path,
            )
        return image

    return read


def read_frames(
    folder: str | os.PathLike[str],
    indices: np.ndarray,
    modality: str,
    read: ImageReader = read_image,
) -> list[np.ndarray]:
    """Decode the frames `indices` [S, L] (1-based), one uint8 (H, W, C) array per frame.

    RGB frames are (H, W, 3) in RGB order; flow frames (H, W, 2) with x then y, each channel a
    contiguous plane (`frame[:, :, c]` is C-contiguous; the array itself is not). A frame that
    `indices` repeats is decoded once (the list holds the same array twice). `read` decodes one
    file of the folder (an in-memory folder passes its own); a zipped video (`img.zip`, ...)
    is read from its archives instead, by the same frame paths.
    """
    templates = frame_templates(modality)
    grayscale = reads_flow(modality)
    base = os.fspath(folder)
    if read is read_image:
        zipped = zipped_frame_reader(base, modality)
        if zipped is not None:
            read = _decode_zipped(zipped)
    cache: dict[int, np.ndarray] = {}
    frames: list[np.ndarray] = []
    for index in np.asarray(indices, dtype=np.int64).reshape(-1).tolist():
        frame = cache.get(index)
        if frame is None:
            try:
                images = [read(os.path.join(base, t.format(index)), grayscale) for t in templates]
            except CorruptFrameError as exc:
                exc.index = index  # for the caller's retry on a neighbouring frame
                raise
            if grayscale and images[0].shape != images[1].shape:
                raise DataError(
                    f"flow_x and flow_y of frame {index} in {base} differ in size; "
                    "re-extract the video with `tsn flow`"
                )
            # flow: (H, W, 2) over planar storage, so each of x and y stays one contiguous
            # image that the training loader crops and resizes without splitting channels
            frame = np.stack(images).transpose(1, 2, 0) if grayscale else images[0]
            cache[index] = frame
        if frames and frame.shape != frames[0].shape:
            raise DataError(
                f"frames in {base} differ in size ({frame.shape[1]}x{frame.shape[0]} vs "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}); re-extract the video with `tsn flow`"
            )
        frames.append(frame)
    if not frames:
        raise DataError(f"no frame indices given for {base}")
    return frames


def stack_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Frames of a clip (each (H, W, C)) as one uint8 (H, W, S*L*C), in (snippet, frame,
    channel) order: RGB r,g,b per frame; flow x, y per frame (x0, y0, x1, y1, ...)."""
    return frames[0].copy() if len(frames) == 1 else np.concatenate(frames, axis=2)


def missing_frames(record: VideoRecord, modality: str) -> list[str]:
    """Paths of the first and last frames of `record` (from its offset on) that do not exist
    (empty when fine); for a zipped video, `archive (entry)` of each missing entry. A zip's
    central directory is read once and closed: validation walks every video once."""
    if record.num_frames < 1:
        return [f"{record.path} (num_frames is {record.num_frames})"]
    paths = [
        os.path.join(record.path, template.format(index))
        for index in sorted({record.offset + 1, record.offset + record.num_frames})
        for template in frame_templates(modality)
    ]
    if not is_zipped(record.path, "flow" if reads_flow(modality) else "rgb"):
        return [path for path in paths if not os.path.isfile(path)]
    missing = []
    archives: dict[str, ZipFrameReader | None] = {}
    for path in paths:  # zipped: the entries, named `archive (entry)`
        zip_name, entry = zip_entry(os.path.basename(path)) or ("", "")
        archive_path = os.path.join(record.path, zip_name)
        if zip_name not in archives:
            try:
                with ZipFrameReader(archive_path) as archive:
                    archives[zip_name] = archive
            except DataError:
                archives[zip_name] = None
        archive = archives[zip_name]
        if archive is None:
            missing.append(f"{archive_path} (missing or unreadable)")
        elif entry not in archive:
            missing.append(f"{archive_path} (entry {entry})")
    return missing


def validate_records(
    records: Sequence[VideoRecord], modality: str, list_file: str | os.PathLike[str] = ""
) -> None:
    """Check every entry's first and last frame exist before training starts; DataError if not.

    The message names up to 5 missing files, how many entries are affected and `list_file`.
    """
    bad: list[tuple[int, list[str]]] = []
    for number, record in enumerate(records, start=1):
        missing = missing_frames(record, modality)
        if missing:
            bad.append((number, missing))
    if not bad:
        return
    where = f" in {list_file}" if list_file else ""
    shown = "; ".join(f"entry {n}: {paths[0]}" for n, paths in bad[:5])
    raise DataError(
        f"{len(bad)} of {len(records)} videos{where} lack {modality} frames ({shown}); "
        "extract them with `tsn flow` or rebuild the lists with `tsn lists`"
    )
