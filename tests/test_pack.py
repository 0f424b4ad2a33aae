"""`tsn pack`: a frames tree converted to dense_flow's zips and back gives the same bytes, in
place or into OUT; reruns skip what is done; a corrupt video fails alone; flow_config.yaml
records the new format; a run killed at any point leaves every video readable (each archive
valid or absent) and a rerun finishes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from tsncli.data.frames import UnreadableFrameError, zipped_frame_reader
from tsncli.flow.pack import run_pack
from tsncli.framezip import ZipFrameReader
from tsncli.fsutil import temp_prefix
from tsncli.layout import (
    FLOW_CONFIG_FILE,
    FLOW_TEMPLATES,
    FLOW_ZIPS,
    PACK_FAILED_FILE,
    RGB_TEMPLATE,
    RGB_ZIP,
    frames_format,
)
from tsncli.lists.frame_index import count_frames

ZIPS = (RGB_ZIP, *FLOW_ZIPS)


def write_tree(root: Path, videos: int = 3, frames: int = 6, seed: int = 0) -> Path:
    """A frames tree of random-byte "JPEGs" (pack never decodes): `frames` images and one flow
    pair fewer per video, the last video RGB only; and a flow_config.yaml."""
    rng = np.random.default_rng(seed)
    for v in range(videos):
        folder = root / f"video_{v}"
        folder.mkdir(parents=True)
        names = [RGB_TEMPLATE.format(i) for i in range(1, frames + 1)]
        if v < videos - 1:
            names += [t.format(i) for i in range(1, frames) for t in FLOW_TEMPLATES]
        for name in names:
            (folder / name).write_bytes(rng.integers(0, 256, 50 + v * 7 + len(name)).tobytes())
    settings = {"size": "48x36", "flow_algorithm": "farneback", "format": "dir", "modality": "both"}
    (root / FLOW_CONFIG_FILE).write_text(yaml.safe_dump(settings))
    return root


def digest(root: Path) -> dict[str, str]:
    """Every frame's bytes, by `video/frame file`, whichever layout holds it (readers' view)."""
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for kind, templates in (("rgb", (RGB_TEMPLATE,)), ("flow", FLOW_TEMPLATES)):
            zipped = zipped_frame_reader(folder, kind)
            for i in range(1, 100):
                for template in templates:
                    name = template.format(i)
                    path = folder / name
                    if zipped is not None:
                        try:
                            data = zipped(str(path)).tobytes()
                        except UnreadableFrameError:  # past the last frame
                            continue
                    elif path.is_file():
                        data = path.read_bytes()
                    else:
                        continue
                    out[f"{folder.name}/{name}"] = hashlib.sha256(data).hexdigest()
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != FLOW_CONFIG_FILE
    }


def assert_every_archive_valid(root: Path) -> None:
    for path in root.rglob("*.zip"):
        with ZipFrameReader(path) as reader:
            for entry in reader.names():
                reader.read(entry)


@pytest.fixture
def tree(tmp_path) -> Path:
    return write_tree(tmp_path / "frames")


def test_pack_in_place_then_unpack_gives_back_the_same_bytes(tree):
    original = files_of(tree)
    summary = run_pack(tree, to="zip")
    assert (summary.done, summary.skipped, summary.failed) == (3, 0, [])
    assert sorted(os.listdir(tree / "video_0")) == sorted(ZIPS)
    assert sorted(os.listdir(tree / "video_2")) == [RGB_ZIP]  # RGB only: no flow archives
    assert summary.files_before == len(original) and summary.files_after == 3 + 3 + 1
    assert summary.bytes_before == sum(len(b) for b in original.values())
    with zipfile.ZipFile(tree / "video_1" / FLOW_ZIPS[1]) as archive:
        assert archive.namelist()[:2] == ["y_00001.jpg", "y_00002.jpg"]
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        assert archive.read("y_00003.jpg") == original["video_1/flow_y_00003.jpg"]
    settings = yaml.safe_load((tree / FLOW_CONFIG_FILE).read_text())
    assert settings["format"] == "zip" and settings["modality"] == "both"
    assert "img.zip" in settings["layout"] and settings["flow_algorithm"] == "farneback"

    back = run_pack(tree, to="dir")
    assert back.done == 3 and back.files_after == len(original)
    assert files_of(tree) == original
    assert yaml.safe_load((tree / FLOW_CONFIG_FILE).read_text())["format"] == "dir"


def test_pack_into_out_leaves_frames_untouched_and_a_rerun_skips(tree, tmp_path):
    original = files_of(tree)
    out = tmp_path / "zips"
    summary = run_pack(tree, out, to="zip")
    assert summary.done == 3 and files_of(tree) == original
    assert digest(out) == digest(tree)
    assert frames_format(out / "video_0") == "zip"
    assert yaml.safe_load((out / FLOW_CONFIG_FILE).read_text())["format"] == "zip"
    assert yaml.safe_load((tree / FLOW_CONFIG_FILE).read_text())["format"] == "dir"
    again = run_pack(tree, out, to="zip")
    assert (again.done, again.skipped) == (0, 3)
    unpacked = tmp_path / "unpacked"
    run_pack(out, unpacked, to="dir")
    assert files_of(unpacked) == original


def test_a_rerun_in_place_skips_videos_already_converted(tree):
    run_pack(tree, to="zip")
    again = run_pack(tree, to="zip")
    assert (again.done, again.skipped, again.files_before) == (0, 3, 0)


def test_deflated_zips_as_dense_flow_writes_them_unpack_to_their_bytes(tmp_path):
    root = tmp_path / "dense_flow"
    entries = {RGB_ZIP: {}, FLOW_ZIPS[0]: {}, FLOW_ZIPS[1]: {}}
    rng = np.random.default_rng(3)
    for i in range(1, 5):
        entries[RGB_ZIP][f"img_{i:05d}.jpg"] = b"rgb" * 50 + rng.bytes(20)
        entries[FLOW_ZIPS[0]][f"x_{i:05d}.jpg"] = b"x" * 90 + rng.bytes(20)
        entries[FLOW_ZIPS[1]][f"y_{i:05d}.jpg"] = b"y" * 90 + rng.bytes(20)
    (root / "v").mkdir(parents=True)
    for archive, content in entries.items():
        with zipfile.ZipFile(root / "v" / archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in content.items():
                zf.writestr(name, data)
    assert count_frames(root / "v").frames("flow") == 4
    summary = run_pack(root, to="dir")
    assert summary.done == 1 and sorted(os.listdir(root / "v"))[:1] == ["flow_x_00001.jpg"]
    assert (root / "v" / "flow_y_00004.jpg").read_bytes() == entries[FLOW_ZIPS[1]]["y_00004.jpg"]
    assert (root / "v" / "img_00002.jpg").read_bytes() == entries[RGB_ZIP]["img_00002.jpg"]
    assert not (root / "v" / RGB_ZIP).exists()


def corrupt_entry(archive: Path, entry: str) -> None:
    info = zipfile.ZipFile(archive).getinfo(entry)
    raw = bytearray(archive.read_bytes())
    at = info.header_offset + 30 + len(entry) + 3
    raw[at] ^= 0xFF
    archive.write_bytes(bytes(raw))


def test_a_corrupt_video_fails_alone_with_one_line_and_loses_nothing(tree, runner, cli):
    run_pack(tree, to="zip")
    corrupt_entry(tree / "video_1" / FLOW_ZIPS[0], "x_00003.jpg")
    result = runner.invoke(cli, ["pack", str(tree), "--to", "dir", "-j", "1"])
    assert result.exit_code == 1
    error = " ".join(result.stderr.split("error: ", 1)[1].split())
    assert "1 video(s) failed: video_1" in error and PACK_FAILED_FILE in error
    assert "converted 2" in result.stderr
    rows = (tree / PACK_FAILED_FILE).read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("video_1\t")
    assert "x_00003.jpg" in rows[1] and "CRC" in rows[1] and "tsn flow" in rows[1]
    assert frames_format(tree / "video_0") == "dir" and frames_format(tree / "video_2") == "dir"
    assert (tree / "video_1" / FLOW_ZIPS[0]).exists()  # kept: nothing of the video is lost
    assert yaml.safe_load((tree / FLOW_CONFIG_FILE).read_text())["format"] == "zip"
    # fixed, a rerun converts it and forgets the failure
    (tree / "video_1" / FLOW_ZIPS[0]).unlink()
    (tree / "video_1" / FLOW_ZIPS[1]).unlink()
    assert run_pack(tree, to="dir").failed == [] and not (tree / PACK_FAILED_FILE).exists()


def test_leftover_files_that_differ_from_their_entries_are_kept_and_named(tree):
    run_pack(tree, to="zip")
    stray = tree / "video_0" / "img_00002.jpg"
    stray.write_bytes(b"something else")
    summary = run_pack(tree, to="zip")
    (failed,) = summary.failed
    assert failed.video_id == "video_0" and str(stray) in failed.error
    assert "differs from its entry" in failed.error and stray.exists()


def test_two_workers_convert_the_tree(tree, runner, cli, tmp_path):
    result = runner.invoke(cli, ["pack", str(tree), str(tmp_path / "out"), "-j", "2"])
    assert result.exit_code == 0, result.output
    assert "converted 3" in result.stderr and "-> 7 files" in result.stderr
    assert digest(tmp_path / "out") == digest(tree)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing_frames"], "does not exist"),
        (["FRAMES", "--to", "tar"], "--to 'tar' is not one of: dir, zip"),
        (["FRAMES", "FRAMES"], "leave OUT out"),
        (["FRAMES", "FRAMES/zips"], "is inside FRAMES"),
        (["EMPTY"], "no video folders"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(runner, cli, tree, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"FRAMES": str(tree), "EMPTY": str(tmp_path / "empty")}
    args = [a.replace("FRAMES", str(tree)) if a.startswith("FRAMES/") else a for a in args]
    result = runner.invoke(cli, ["pack", *(paths.get(a, a) for a in args)])
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output


# --- interruptions: a SIGKILL at chosen points, then what readers see, then a rerun ---
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from tsncli.flow import pack

    point, nth, frames, to = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    calls = [0]

    def dying(real, counts=lambda *a: True):
        def call(*args, **kwargs):
            if counts(*args):
                calls[0] += 1
                if calls[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    if point == "write":  # the Nth frame written (into an archive, or as a file)
        pack._checksum = dying(pack._checksum)
    else:  # the Nth removal of an old frame file or archive
        pack.os.unlink = dying(os.unlink, lambda path: str(path).endswith((".jpg", ".zip")))
    pack.run_pack(frames, to=to)
    """
)


def kill_pack_at(frames: Path, point: str, nth: int, to: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(nth), str(frames), to],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == -9, run.stderr  # killed where asked, not finished or crashed


@pytest.mark.parametrize(
    ("to", "point", "nth"),
    [
        # video_0 holds 6 images and 5 flow pairs; each frame is summed once written and once
        # read back: RGB 1-12, flow_y 13-17, flow_x 18-22, their read-back 23-32
        ("zip", "write", 15),  # img.zip done (its files removed), flow_y.zip half written
        ("zip", "write", 20),  # flow_y.zip done, flow_x.zip half written
        ("zip", "unlink", 3),  # img.zip verified, its files partly removed
        ("dir", "write", 17),  # img.zip unpacked and removed, flow files half written
        ("dir", "unlink", 3),  # img.zip and flow_x.zip removed, flow_y.zip not yet
    ],
)
def test_a_killed_pack_leaves_every_video_readable_and_a_rerun_finishes(tree, to, point, nth):
    if to == "dir":
        run_pack(tree, to="zip")
    original = files_of(write_tree(tree.parent / "reference"))
    frames_before = digest(tree)
    kill_pack_at(tree, point, nth, to)
    assert_every_archive_valid(tree)
    assert digest(tree) == frames_before  # readers see every frame, unchanged
    summary = run_pack(tree, to=to)
    assert summary.failed == []
    assert not list(tree.rglob(".tsn-*.tmp"))  # the killed run's temporaries are swept
    assert all(frames_format(folder) == to for folder in tree.iterdir() if folder.is_dir())
    if to == "dir":
        assert files_of(tree) == original
    assert digest(tree) == frames_before


def test_a_stale_temporary_archive_is_swept_by_the_next_run(tree):
    temp = tree / "video_0" / f"{temp_prefix(tree / 'video_0' / RGB_ZIP)}deadbeef.tmp"
    temp.write_bytes(b"half an archive")
    run_pack(tree, to="zip")
    assert not temp.exists()


def test_a_full_disk_stops_the_run_at_the_first_video_keeping_the_converted(tmp_path, monkeypatch):
    import errno

    from tsncli.flow import pack
    from tsncli.flow.batch import OutOfSpaceError

    root = write_tree(tmp_path / "frames", videos=4)
    before = digest(root)
    real = pack._write_zips
    calls = []

    def fill_up(folder, group, frames):
        calls.append(folder)
        if len(calls) > 2:  # the second video's first archive: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", os.path.join(folder, "x.zip"))
        return real(folder, group, frames)

    monkeypatch.setattr(pack, "_write_zips", fill_up)
    with pytest.raises(OutOfSpaceError) as excinfo:
        run_pack(root, to="zip")
    message = str(excinfo.value)
    assert "No space left on device" in message and "3 video(s) not converted" in message
    assert "\n" not in message
    assert [frames_format(root / f"video_{v}") for v in range(4)] == ["zip", "dir", "dir", "dir"]
    assert digest(root) == before  # every video still reads the same frames
    monkeypatch.setattr(pack, "_write_zips", real)
    run_pack(root, to="zip")  # the rerun finishes
    assert {frames_format(root / f"video_{v}") for v in range(4)} == {"zip"}
    assert digest(root) == before
