"""Find frame folders (`FRAMES/<video_id>/`) and count img_*, flow_x_*, flow_y_* with os.scandir,
or the entries of img.zip, flow_x.zip, flow_y.zip (dense_flow's zip layout) from their central
directories, without decoding anything."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tsncli.errors import DataError
from tsncli.framezip import ZipFrameReader
from tsncli.fsutil import unreadable_warning
from tsncli.layout import (
    FLOW_X_PREFIX,
    FLOW_Y_PREFIX,
    FLOW_ZIPS,
    RGB_PREFIX,
    RGB_ZIP,
    ZIP_ENTRY_PREFIXES,
)
from tsncli.modality import reads_flow

log = logging.getLogger("tsncli.lists")


@dataclass(frozen=True)
class FolderCounts:
    """How many RGB and flow frames one video folder holds."""

    img: int
    flow_x: int
    flow_y: int
    # read from dense_flow's archives (img.zip; flow_x.zip, with flow_y.zip) instead of files;
    # where the frames are kept, not how many: counts compare equal across layouts
    rgb_zipped: bool = field(default=False, compare=False)
    flow_zipped: bool = field(default=False, compare=False)

    @property
    def empty(self) -> bool:
        return self.img == 0 and self.flow_x == 0 and self.flow_y == 0

    def frames(self, modality: str) -> int:
        """The list-file count: `flow_x_*` for flow, `img_*` for rgb and rgbdiff."""
        return self.flow_x if reads_flow(modality) else self.img

    def zipped(self, modality: str) -> bool:
        """Whether `modality`'s frames come from the folder's zips (`layout.is_zipped`)."""
        return self.flow_zipped if reads_flow(modality) else self.rgb_zipped


def count_frames(folder: str | os.PathLike[str]) -> FolderCounts:
    """Count `img_*`, `flow_x_*` and `flow_y_*` files in one folder (names only, no stat). A
    zipped modality (`layout.is_zipped`: img.zip, or flow_x.zip with flow_y.zip) counts its
    archives' entries instead, as readers take the archives over files beside them (leftovers
    of an interrupted `tsn pack`); a corrupt or missing archive is a DataError naming it."""
    img = flow_x = flow_y = 0
    zips: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(RGB_PREFIX):
                img += 1
            elif name.startswith(FLOW_X_PREFIX):
                flow_x += 1
            elif name.startswith(FLOW_Y_PREFIX):
                flow_y += 1
            elif name in ZIP_ENTRY_PREFIXES:
                zips.add(name)
    rgb_zipped, flow_zipped = RGB_ZIP in zips, FLOW_ZIPS[0] in zips
    if rgb_zipped:
        img = _count_entries(folder, RGB_ZIP)
    if flow_zipped:  # flow_y.zip alone is a half-written pair: files still count
        flow_x, flow_y = (_count_entries(folder, name) for name in FLOW_ZIPS)
    return FolderCounts(img, flow_x, flow_y, rgb_zipped, flow_zipped)


def layout_header(counts: Iterable[FolderCounts], modality: str) -> dict[str, str] | None:
    """The `# tsn-list:` settings recording a frame list's layout, from its videos' `counts`
    (which `count_frames` took while counting: no further I/O): `layout=zip` when every video's
    `modality` frames are dense_flow's zips, `layout=mixed` when some are; None when all are
    folders, so such lists stay plain TSN lists, as the original reads them. Readers still tell
    each video's layout apart themselves; the header tells people."""
    flags = [c.zipped(modality) for c in counts]
    if not any(flags):
        return None
    return {"kind": "frames", "layout": "zip" if all(flags) else "mixed"}


def _count_entries(folder: str | os.PathLike[str], zip_name: str) -> int:
    """The frame entries of one archive, from its central directory."""
    with ZipFrameReader(os.path.join(folder, zip_name)) as archive:
        prefix = ZIP_ENTRY_PREFIXES[zip_name]
        return sum(1 for entry in archive.names() if entry.startswith(prefix))


class FrameIndex:
    """The video folders directly under FRAMES, matched by exact name, else ignoring case."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))
        if not self.root.is_dir():
            raise DataError(
                f"frames folder {self.root} does not exist; extract frames with "
                "`tsn flow VIDEOS FRAMES` first or pass the FRAMES folder it wrote"
            )
        self._names: set[str] = set()
        self._lower: dict[str, str] = {}
        dangling: list[str] = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_dir():
                    self._names.add(entry.name)
                elif entry.is_symlink() and not os.path.exists(entry.path):
                    dangling.append(entry.path)
        if dangling:
            log.warning("%s", unreadable_warning(self.root, sorted(dangling)))
        for name in sorted(self._names):
            self._lower.setdefault(name.lower(), name)
        self._counts: dict[str, FolderCounts] = {}
        self._prefix = str(self.root) + os.sep  # plain strings: pathlib is slow at 80k joins

    def __len__(self) -> int:
        return len(self._names)

    def find(self, video_id: str) -> str | None:
        """The folder name for `video_id`: exact, else the case-insensitive match, else None."""
        if video_id in self._names:
            return video_id
        return self._lower.get(video_id.lower())

    def counts(self, name: str) -> FolderCounts:
        """Frame counts of folder `name` (cached)."""
        if name not in self._counts:
            self._counts[name] = count_frames(self._prefix + name)
        return self._counts[name]

    def path(self, name: str) -> str:
        """The absolute path of folder `name`."""
        return self._prefix + name
