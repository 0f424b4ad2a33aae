"""One scan of a video folder tree (os.scandir): video file stem -> path, and each video's size
and mtime (the one stat per file, which the video index's freshness check reuses).

Large datasets (Kinetics: 240k files in 400 class folders, or one flat folder) are matched to
their annotations through this index, built once, instead of probing paths per row.
"""

from __future__ import annotations

import logging
import os
from operator import attrgetter
from pathlib import Path

from tsncli.errors import DataError
from tsncli.fsutil import unreadable_warning
from tsncli.specs.datasets.splitfiles import VIDEO_EXTENSIONS

log = logging.getLogger("tsncli.lists")
_name = attrgetter("name")


class VideoTree:
    """Every video file under `root` by stem (the name without its extension).

    Folders are walked in sorted order, so when two files share a stem the first in that order
    wins, on every machine. Hidden files and folders are skipped.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))
        if not self.root.is_dir():
            raise DataError(
                f"video folder {self.root} does not exist; pass the folder holding the videos "
                "(class folders or one flat folder)"
            )
        self.paths: dict[str, str] = {}
        self.stats: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns)
        self.duplicates = 0
        self.unreadable: list[str] = []  # folders without permission, dangling links
        self._scan(str(self.root))
        if self.unreadable:
            log.warning("%s", unreadable_warning(self.root, self.unreadable))

    def _scan(self, folder: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_name)
        except OSError:
            self.unreadable.append(folder)
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            stem, dot, ext = name.rpartition(".")
            if dot and ext.lower() in VIDEO_EXTENSIONS:  # a video by its name alone
                if stem in self.paths:
                    self.duplicates += 1
                    continue
                try:
                    st = entry.stat()  # follows links: a dangling one raises
                except OSError:
                    self.unreadable.append(entry.path)
                    continue
                self.paths[stem] = path = entry.path
                self.stats[path] = (st.st_size, st.st_mtime_ns)
            elif entry.is_dir():
                self._scan(entry.path)

    def __len__(self) -> int:
        return len(self.paths)

    def find(self, *stems: str) -> str | None:
        """The path of the first of `stems` present, else None."""
        for stem in stems:
            path = self.paths.get(stem)
            if path is not None:
                return path
        return None
