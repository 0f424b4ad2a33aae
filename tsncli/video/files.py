"""Which videos a command works on and the frame size it resizes them to: finding videos (a
file, a folder, a list), the `--size`/`--short-side` options and the size they resolve to.

Nothing here decodes, so `tsn flow`'s parent process (which only plans the work for its pool)
imports neither PyAV nor OpenCV nor NumPy.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from tsncli.errors import UsageError
from tsncli.frame_settings import parse_size
from tsncli.fsutil import unreadable_warning, walk_files
from tsncli.textio import read_text_lines

log = logging.getLogger("tsncli.video.files")

VIDEO_EXTENSIONS: tuple[str, ...] = ("avi", "mp4", "mkv", "webm", "mov", "m4v", "mpg", "mpeg")
LIST_EXTENSIONS: tuple[str, ...] = ("txt", "lst", "list")


def resolve_frame_size(
    width: int, height: int, size: tuple[int, int] | None = None, short_side: int | None = None
) -> tuple[int, int]:
    """The (width, height) frames are resized to: `size` exactly, or the shorter side scaled to
    `short_side` keeping the aspect ratio, or unchanged when neither is given."""
    if size is not None and short_side is not None:
        raise UsageError("give either a size (WxH) or a short side, not both")
    if size is not None:
        return size
    if short_side is not None:
        if short_side <= 0:
            raise UsageError(f"short side must be positive, got {short_side}")
        scale = short_side / min(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def check_size_options(size: str | None, short_side: int | None) -> None:
    """Validate the `--size WxH` / `--short-side S` pair that flow and lists share."""
    if size is not None and short_side is not None:
        raise UsageError("give either --size WxH or --short-side S, not both")
    if size is not None:
        parse_size(size)
    if short_side is not None and short_side <= 0:
        raise UsageError(f"--short-side must be positive, got {short_side}")


# `scheme://`, or what Path makes of it (`http:/host/...`: it folds the double slash)
_URL = re.compile(r"^(https?|ftp|rtsps?|rtmp):/+(?=[^/])", re.IGNORECASE)


def refuse_url(src: str | os.PathLike[str]) -> None:
    """UsageError when `src` is a URL: local files only (otherwise a URL reads as a missing
    file, named with one slash less). A local path spelled like one (`http:/x`) is let through."""
    text = os.fspath(src)
    match = _URL.match(text)
    if match is None or os.path.exists(text):
        return
    url = f"{match.group(1)}://{text[match.end() :]}"
    raise UsageError(
        f"{url}: URLs are not supported here; download it with `tsn fetch {url}` "
        "and pass the downloaded file"
    )


def list_videos(
    src: str | os.PathLike[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> list[Path]:
    """Resolve SRC: one video file, a folder searched recursively, or a text file of paths.

    In a list file, blank lines and `#` comments are skipped; relative paths are taken from the
    list file's folder; a line `path label` (split-file style) uses its first field.
    """
    refuse_url(src)
    root = Path(src)
    exts = {e.lower().lstrip(".") for e in extensions}
    if root.is_dir():
        files, unreadable = walk_files(root)
        if unreadable:
            log.warning("%s", unreadable_warning(root, unreadable))
        return sorted(p for p in map(Path, files) if p.suffix.lower().lstrip(".") in exts)
    if not root.is_file():
        raise UsageError(f"{root} does not exist; pass a video, a folder of videos or a list file")
    suffix = root.suffix.lower().lstrip(".")
    if suffix in exts or suffix not in LIST_EXTENSIONS:
        return [root]
    return _read_video_list(root)


def _read_video_list(list_file: Path) -> list[Path]:
    videos: list[Path] = []
    missing: list[str] = []
    # one reader for every text input: a BOM is dropped, non-UTF-8 names stay the bytes they
    # name (U+FFFD would name no file)
    for raw in read_text_lines(list_file, "video list", raw_names=True):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path = _list_entry(list_file.parent, line)
        if path is None:
            missing.append(line)
        else:
            videos.append(path)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise UsageError(
            f"{len(missing)} video(s) listed in {list_file} do not exist ({shown}); "
            "fix the list (relative paths are read from the list file's folder)"
        )
    return videos


def _list_entry(base: Path, line: str) -> Path | None:
    candidates = [line]
    if len(line.split()) > 1:
        candidates.append(line.split()[0])
    for text in candidates:
        p = Path(text).expanduser()
        p = p if p.is_absolute() else base / p
        if p.is_file():
            return p
    return None
