"""Video files as the source of `tsn lists --source videos`: find each split entry's video under
a video root and count its frames through the video index (built in parallel, cached).

`VideoFileFinder` answers the same questions as `FrameIndex` (find, counts, path), so the list
builder matches, drops and counts videos exactly as it does frame folders. A video of N frames
counts N for rgb and N - 1 for flow (the flow fields computed on the fly), like `tsn flow` output.
Videos the index records as partial (ending clearly short of their header: cut downloads) are
listed with the frames they have, and one warning names how many and the first few.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from tsncli.errors import DataError
from tsncli.fsutil import walk_tree
from tsncli.lists.frame_index import FolderCounts
from tsncli.progress import ProgressFn
from tsncli.specs.datasets.splitfiles import VIDEO_EXTENSIONS, video_id_of
from tsncli.video.index import VideoIndex

log = logging.getLogger("tsncli.lists")

EMPTY = FolderCounts(0, 0, 0)


class VideoFileFinder:
    """Videos anywhere under `root`, by video id (file stem): exact, else ignoring case."""

    def __init__(self, root: str | os.PathLike[str], index_path: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))
        if not self.root.is_dir():
            raise DataError(
                f"video folder {self.root} does not exist; unpack the dataset with "
                "`tsn unpack` or pass the folder holding the videos"
            )
        self._paths: dict[str, str] = {}
        walk = walk_tree(self.root)  # the one walker: linked folders followed, loops named
        for path in walk.files:
            name = os.path.basename(path)
            if Path(name).suffix[1:].lower() in VIDEO_EXTENSIONS:
                self._paths.setdefault(video_id_of(name), path)
        walk.warn(log, self.root)
        self._lower: dict[str, str] = {}
        for name in sorted(self._paths):
            self._lower.setdefault(name.lower(), name)
        self.index = VideoIndex(index_path)
        self._counts: dict[str, FolderCounts] = {}
        self.errors: dict[str, str] = {}
        self.partial: dict[str, str] = {}  # video id -> why it ends early

    def __len__(self) -> int:
        return len(self._paths)

    def find(self, video_id: str) -> str | None:
        """The video id of the file for `video_id`: exact, else case-insensitive, else None."""
        if video_id in self._paths:
            return video_id
        return self._lower.get(video_id.lower())

    def count_all(
        self,
        video_ids: Iterable[str],
        workers: int = 1,
        on_progress: ProgressFn | None = None,
    ) -> None:
        """Index the videos of `video_ids` that exist (in parallel, reusing the cache)."""
        names = [n for n in (self.find(v) for v in video_ids) if n is not None]
        paths = {os.path.abspath(self._paths[n]): n for n in dict.fromkeys(names)}
        entries, errors = self.index.ensure(list(paths), workers=workers, on_progress=on_progress)
        partial: list[str] = []
        for path, entry in entries.items():
            n = entry.num_frames
            self._counts[paths[path]] = FolderCounts(n, max(n - 1, 0), max(n - 1, 0))
            if entry.partial is not None and paths[path] not in self.partial:
                self.partial[paths[path]] = entry.partial
                partial.append(path)
        if partial:
            _warn_partial(partial, self.partial[paths[partial[0]]])
        for path, error in errors.items():
            self.errors[paths[path]] = error
            log.warning("cannot read %s: %s", path, error)

    def counts(self, name: str) -> FolderCounts:
        """Frames of video `name` as rgb (N) and flow (N - 1) counts; empty when unreadable."""
        if name not in self._counts and name not in self.errors:
            self.count_all([name])
        return self._counts.get(name, EMPTY)

    def path(self, name: str) -> str:
        """The absolute path of video `name`."""
        return os.path.abspath(self._paths[name])


def _warn_partial(paths: list[str], first_reason: str) -> None:
    names = ", ".join(Path(p).name for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
    log.warning(
        "%d video(s) end early (fewer frames than their header says, e.g. cut downloads): %s "
        "(%s: %s); they are listed with the frames they have; `tsn probe` shows each, or "
        "replace them and rerun",
        len(paths), names, Path(paths[0]).name, first_reason,
    )  # fmt: skip
