"""Generated split files in the official formats and fake frame folders, for the lists tests."""

from __future__ import annotations

from pathlib import Path

from reference import SPLITS

REFERENCE_SPLITS = SPLITS  # ../shared/reference/splits, beside the repository


def write_ucf101_splits(
    folder: Path,
    classes: list[str],
    splits: dict[int, tuple[list[str], list[str]]],
    newline: str = "\r\n",
) -> Path:
    """`classInd.txt` plus `trainlist0k.txt` (`Class/v.avi <1-based label>`) and
    `testlist0k.txt` (`Class/v.avi`), CRLF by default as shipped. Entries are `Class/video`."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {c.lower(): i + 1 for i, c in enumerate(classes)}
    text = newline.join(f"{i + 1} {c}" for i, c in enumerate(classes)) + newline
    (folder / "classInd.txt").write_bytes(text.encode())
    for k, (train, test) in splits.items():
        lines = [f"{e}.avi {index[e.split('/')[0].lower()]}" for e in train]
        (folder / f"trainlist{k:02d}.txt").write_bytes((newline.join(lines) + newline).encode())
        lines = [f"{e}.avi" for e in test]
        (folder / f"testlist{k:02d}.txt").write_bytes((newline.join(lines) + newline).encode())
    return folder


def write_hmdb51_splits(
    folder: Path,
    videos: dict[str, list[tuple[str, list[int]]]],
    class_list: list[str] | None = None,
) -> Path:
    """`<class>_test_split<k>.txt` with lines `<video>.avi <flag> ` (trailing space, as shipped);
    `videos[class]` holds (video id, [flag for split 1, 2, ...])."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in videos.items():
        for k in range(1, len(entries[0][1]) + 1):
            lines = "".join(f"{v}.avi {flags[k - 1]} \n" for v, flags in entries)
            (folder / f"{name}_test_split{k}.txt").write_text(lines)
    if class_list is not None:  # TSN's file: trailing spaces, no final newline
        (folder / "class_list.txt").write_text("\n".join(f"{c}  " for c in class_list))
    return folder


def make_frames(
    root: Path, video_id: str, img: int = 3, flow: int = 3, flow_y: int | None = None
) -> Path:
    """A frame folder with `img` RGB and `flow` flow_x (and `flow_y`) frames, as empty files."""
    folder = root / video_id
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img_{i:05d}.jpg" for i in range(1, img + 1)]
    names += [f"flow_x_{i:05d}.jpg" for i in range(1, flow + 1)]
    names += [f"flow_y_{i:05d}.jpg" for i in range(1, (flow if flow_y is None else flow_y) + 1)]
    for name in names:
        (folder / name).touch()
    return folder


def read_lines(path: Path) -> list[tuple[str, int, int]]:
    """A list file as (folder, num_frames, label) tuples."""
    rows = []
    for line in path.read_text().splitlines():
        folder, n, label = line.rsplit(" ", 2)
        rows.append((folder, int(n), int(label)))
    return rows


def squash(text: str) -> str:
    """Whitespace-normalised text, so wrapped Rich output can be searched."""
    return " ".join(text.split())
