"""One scan of a video folder tree (`fsutil.walk_tree`, the walk flow and probe make): video
file stem -> path, and each video's size and mtime (the one stat per file, which the video
index's freshness check reuses).

Large datasets (Kinetics: 240k files in 400 class folders, or one flat folder) are matched to
their annotations through this index, built once, instead of probing paths per row.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tsncli.errors import DataError
from tsncli.fsutil import walk_tree
from tsncli.specs.datasets.splitfiles import VIDEO_EXTENSIONS

log = logging.getLogger("tsncli.lists")


class VideoTree:
    """Every video file under `root` by stem (the name without its extension).

    Folders are walked in sorted order, so when two files share a stem the first in that order
    wins, on every machine. Hidden files and folders are skipped; links to folders are followed,
    each real folder once (a loop is warned about, not walked).
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
        walk = walk_tree(self.root)
        self.unreadable: list[str] = walk.unreadable  # folders without permission, dangling links
        for entry in walk.entries:
            stem, dot, ext = entry.name.rpartition(".")
            if not dot or ext.lower() not in VIDEO_EXTENSIONS:  # a video by its name alone
                continue
            if stem in self.paths:
                self.duplicates += 1
                continue
            try:
                st = entry.stat()  # the scan's one stat per video, reused by the index
            except OSError:
                self.unreadable.append(entry.path)
                continue
            self.paths[stem] = path = entry.path
            self.stats[path] = (st.st_size, st.st_mtime_ns)
        walk.warn(log, self.root)

    def __len__(self) -> int:
        return len(self.paths)

    def find(self, *stems: str) -> str | None:
        """The path of the first of `stems` present, else None."""
        for stem in stems:
            path = self.paths.get(stem)
            if path is not None:
                return path
        return None
