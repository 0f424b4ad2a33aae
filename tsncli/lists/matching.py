"""Which split entries `tsn lists` can use: match video ids to frame folders (or video files)
and count each modality's frames, with one-line errors for missing, empty or unequal folders."""

from __future__ import annotations

import logging
import unicodedata

from tsncli.errors import DataError
from tsncli.layout import COUNTED_PREFIX
from tsncli.lists.frame_index import FrameIndex
from tsncli.lists.video_lists import VideoFileFinder
from tsncli.modality import LIST_MODALITIES, check_modality, reads_flow
from tsncli.progress import ProgressEvent, ProgressFn
from tsncli.specs.datasets.splitfiles import ParsedSplits

log = logging.getLogger("tsncli.lists")

Index = FrameIndex | VideoFileFinder
PATTERNS = {modality: prefix + "*" for modality, prefix in COUNTED_PREFIX.items()}  # in errors
SHOW = 5  # names quoted in an error before "..."


def _first(names: list[str]) -> str:
    more = ", ..." if len(names) > SHOW else ""
    return ", ".join(names[:SHOW]) + more


def _find(index: Index, video_id: str) -> str | None:
    """`index.find`, then the id in the other Unicode normalisation: macOS and some archives
    store names decomposed (NFD: e + U+0301) where split files hold them composed (NFC)."""
    name = index.find(video_id)
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, video_id)
        if name is None and other != video_id:
            name = index.find(other)
    return name


def match_folders(
    parsed: ParsedSplits,
    index: Index,
    allow_missing: bool,
    source: str,
    on_progress: ProgressFn | None = None,
) -> tuple[dict[str, str], int, int]:
    """video id -> folder (or video file) name for the usable videos, plus (#dropped,
    #matches by case or Unicode normalisation only). Missing videos are errors unless
    `allow_missing` (`--allow-missing`)."""
    ids = list(
        dict.fromkeys(e.video_id for s in parsed.splits.values() for es in s.values() for e in es)
    )
    found: dict[str, str] = {}
    missing: list[str] = []
    case_only: list[tuple[str, str]] = []
    unnormalised: list[str] = []  # missing, though a name matches in another normalisation
    for done, video_id in enumerate(ids, start=1):
        name = _find(index, video_id)
        if name is None or index.counts(name).empty:
            missing.append(video_id)
            if name is not None and name.lower() != video_id.lower():
                unnormalised.append(f"{video_id!a} ~ {name!a}")
        else:
            found[video_id] = name
            if name != video_id:
                case_only.append((video_id, name))
        if on_progress is not None:
            on_progress(ProgressEvent("counting frames", done, len(ids)))
    if case_only:
        first, folder = case_only[0]
        log.info(
            "matched %d split entries to frame folders ignoring case or Unicode normalisation "
            "(NFC/NFD) (e.g. %s -> %s)",
            len(case_only),
            first,
            folder,
        )
    if missing and (not allow_missing or not found):
        what = (
            "no readable video file under {root} (first: {first}); check the video folder"
            if source == "videos"
            else "no frame folder under {root} or an empty one (first: {first}); extract them "
            "with `tsn flow`, check FRAMES"
        ).format(root=index.root, first=_first(missing))
        hint = (
            f"; {len(unnormalised)} differ from a name there only in Unicode normalisation "
            f"(NFC/NFD: {_first(unnormalised)}), rename them with one form"
            if unnormalised
            else ""
        )
        raise DataError(
            f"{len(missing)} of {len(ids)} videos have {what}, "
            "or pass --allow-missing to drop them"
            + (" (none would be left)" if not found else "")
            + hint
        )
    if missing:
        log.warning(
            "dropped %d of %d videos without frames (--allow-missing)", len(missing), len(ids)
        )
    return found, len(missing), len(case_only)


def usable_counts(
    modality: str, found: dict[str, str], index: Index, allow_missing: bool
) -> dict[str, int]:
    """video id -> `modality` frame count, for the videos whose folder holds such frames;
    errors for absent or unequal flow (absent ones are dropped with `allow_missing`)."""
    counts = {v: index.counts(name) for v, name in found.items()}
    modality = check_modality(modality)
    if reads_flow(modality):
        unequal = [
            f"{v} ({c.flow_x}/{c.flow_y})" for v, c in counts.items() if c.flow_x != c.flow_y
        ]
        if unequal:
            raise DataError(
                f"{len(unequal)} frame folders hold unequal flow_x/flow_y counts "
                f"(first: {_first(unequal)}); delete those folders and rerun `tsn flow`"
            )
    lacking = [v for v, c in counts.items() if c.frames(modality) == 0]
    skip = set(lacking)
    (other,) = (m for m in LIST_MODALITIES if m is not modality)  # lists count rgb or flow
    if len(lacking) == len(counts):
        raise DataError(
            f"no {PATTERNS[modality]} files in any of the {len(counts)} frame folders under "
            f"{index.root}; extract them with `tsn flow VIDEOS FRAMES --modality {modality}` "
            f"(or both), or leave {modality} out with --modality {other}"
        )
    if lacking and not allow_missing:
        raise DataError(
            f"{len(lacking)} frame folders have no {PATTERNS[modality]} files (first: "
            f"{_first(lacking)}); rerun `tsn flow --modality {modality}` for them "
            "or pass --allow-missing to drop them"
        )
    if lacking:
        log.warning("dropped %d videos without %s frames", len(lacking), modality)
    return {v: counts[v].frames(modality) for v in counts if v not in skip}
