"""The zip frames module: archives written atomically with stored entries, entries read back
by offset (stored, deflated as dense_flow/libzip writes them, Zip64), one clear error for every
kind of damage, and the per-process cache of open archives; and the layout's zip names."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tsncli import framezip
from tsncli.errors import DataError
from tsncli.framezip import ZipFrameReader, ZipFrameWriter, open_frame_zip
from tsncli.fsutil import stale_temp_paths
from tsncli.layout import FLOW_ENTRIES, FLOW_ZIPS, RGB_ENTRY, RGB_ZIP, frames_format


def payloads(count: int = 5, seed: int = 0) -> dict[str, bytes]:
    """Entries of random bytes (JPEG-like: they do not deflate) of differing lengths."""
    rng = np.random.default_rng(seed)
    return {
        RGB_ENTRY.format(i): rng.integers(0, 256, 100 + 37 * i, dtype=np.uint8).tobytes()
        for i in range(1, count + 1)
    }


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with ZipFrameWriter(path) as writer:
        for name, data in entries.items():
            writer.add(name, data)
    return path


def test_layout_names_are_dense_flows():
    assert RGB_ZIP == "img.zip" and FLOW_ZIPS == ("flow_x.zip", "flow_y.zip")
    assert RGB_ENTRY.format(1) == "img_00001.jpg"
    assert [t.format(12) for t in FLOW_ENTRIES] == ["x_00012.jpg", "y_00012.jpg"]


def test_frames_format_tells_zip_from_dir_per_video_and_modality(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "img_00001.jpg").write_bytes(b"x")
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    (zipped / "flow_x.zip").write_bytes(b"x")
    (zipped / "img_00001.jpg").write_bytes(b"x")  # an RGB half not yet packed
    assert frames_format(tmp_path / "empty") is None
    assert frames_format(folder) == "dir"
    assert frames_format(zipped) == "zip"
    assert frames_format(zipped, "rgb") == "dir" and frames_format(zipped, "flow") == "zip"
    assert frames_format(folder, "flow") is None


def test_written_archive_holds_stored_entries_that_read_back(tmp_path):
    entries = payloads()
    path = write_zip(tmp_path / "img.zip", entries)
    with zipfile.ZipFile(path) as archive:  # a standard zip any tool opens
        assert archive.namelist() == list(entries)
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
        assert archive.testzip() is None
    with ZipFrameReader(path) as reader:
        assert reader.names() == list(entries) and len(reader) == len(entries)
        assert "img_00003.jpg" in reader and "img_00099.jpg" not in reader
        for name in reversed(list(entries)):
            assert reader.read(name) == entries[name]
    assert stale_temp_paths(path) == []


def test_packing_the_same_entries_twice_gives_the_same_archive_bytes(tmp_path):
    entries = payloads()
    first = write_zip(tmp_path / "a" / "img.zip", entries).read_bytes()
    assert write_zip(tmp_path / "b" / "img.zip", entries).read_bytes() == first


def test_writer_streams_entries_to_a_temporary_name_the_sweep_finds(tmp_path):
    final = tmp_path / "flow_x.zip"
    with ZipFrameWriter(final) as writer:
        writer.add("x_00001.jpg", bytes(1 << 20))
        (temp,) = stale_temp_paths(final)  # what `sweep_stale_temps` removes after a SIGKILL
        assert temp.stat().st_size >= 1 << 20  # on disk already, not held in memory
        assert not final.exists()
    assert final.exists() and stale_temp_paths(final) == []


def test_a_failed_write_leaves_nothing_and_keeps_the_old_archive(tmp_path):
    final = write_zip(tmp_path / "img.zip", {"img_00001.jpg": b"old"})
    with pytest.raises(RuntimeError, match="boom"):
        with ZipFrameWriter(final) as writer:
            writer.add("img_00001.jpg", b"new")
            raise RuntimeError("boom")
    assert ZipFrameReader(final).read("img_00001.jpg") == b"old"
    assert stale_temp_paths(final) == []
    with pytest.raises(RuntimeError, match="boom"):
        with ZipFrameWriter(tmp_path / "never.zip") as writer:
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["img.zip"]


def test_an_entry_added_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        with ZipFrameWriter(tmp_path / "img.zip") as writer:
            writer.add("img_00001.jpg", b"a")
            writer.add("img_00001.jpg", b"b")
    assert not (tmp_path / "img.zip").exists()


def test_deflated_entries_as_libzip_writes_them_read_back(tmp_path):
    entries = payloads() | {"img_00009.jpg": b"compressible " * 500}
    path = tmp_path / "img.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("img_00009.jpg").compress_size < 1000  # really deflated
    reader = ZipFrameReader(path)
    assert {name: reader.read(name) for name in reader.names()} == entries


def test_entries_with_long_local_extra_fields_read_back(tmp_path):
    path = tmp_path / "img.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("img_00001.jpg")
        info.extra = b"\xfe\xca" + (200).to_bytes(2, "little") + bytes(200)  # past the guess
        archive.writestr(info, b"frame one")
        archive.writestr("img_00002.jpg", b"frame two")
    reader = ZipFrameReader(path)
    assert reader.read("img_00001.jpg") == b"frame one"
    assert reader.read("img_00001.jpg") == b"frame one"  # second read: the offset is known
    assert reader.read("img_00002.jpg") == b"frame two"


def test_zip64_archives_read_back(tmp_path, monkeypatch):
    # small limits make zipfile write what a >65,535-frame or >4 GiB archive holds: a Zip64
    # end of central directory and Zip64 sizes in the entries' extra fields
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 50)
    entries = payloads(4)
    path = tmp_path / "img.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    monkeypatch.undo()
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw and b"\xff\xff\xff\xff" in raw
    reader = ZipFrameReader(path)
    assert {name: reader.read(name) for name in reader.names()} == entries


@pytest.fixture
def archive(tmp_path) -> Path:
    return write_zip(tmp_path / "v_a" / "img.zip", payloads())


def damage(path: Path, at: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[at : at + len(data)] = data
    path.write_bytes(bytes(raw))


def offset_of(path: Path, entry: str) -> tuple[int, int]:
    """(local header offset, data offset) of `entry`."""
    info = zipfile.ZipFile(path).getinfo(entry)
    return info.header_offset, info.header_offset + 30 + len(entry)


def assert_one_clear_error(excinfo, archive: Path, entry: str = "") -> None:
    message = str(excinfo.value)
    assert str(archive) in message and entry in message
    assert "`tsn flow`" in message and "`tsn pack`" in message and "\n" not in message


def test_a_missing_entry_names_the_archive_and_the_entry(archive):
    with pytest.raises(DataError) as excinfo:
        ZipFrameReader(archive).read("img_00042.jpg")
    assert_one_clear_error(excinfo, archive, "img_00042.jpg")
    assert "missing" in str(excinfo.value)


def test_a_corrupt_entry_fails_its_crc_check(archive):
    damage(archive, offset_of(archive, "img_00002.jpg")[1] + 5, b"\x00\x01\x02")
    reader = ZipFrameReader(archive)
    assert reader.read("img_00001.jpg") == payloads()["img_00001.jpg"]  # the others still read
    with pytest.raises(DataError, match="CRC") as excinfo:
        reader.read("img_00002.jpg")
    assert_one_clear_error(excinfo, archive, "img_00002.jpg")


def test_a_bad_local_header_is_one_clear_error(archive):
    damage(archive, offset_of(archive, "img_00003.jpg")[0], b"XXXX")
    with pytest.raises(DataError, match="local header") as excinfo:
        ZipFrameReader(archive).read("img_00003.jpg")
    assert_one_clear_error(excinfo, archive, "img_00003.jpg")


def test_corrupt_deflate_data_is_one_clear_error(tmp_path):
    path = tmp_path / "img.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive_file:
        archive_file.writestr("img_00001.jpg", b"abc" * 1000)
    damage(path, offset_of(path, "img_00001.jpg")[1], b"\xff\xff\xff\xff")
    with pytest.raises(DataError, match="inflate|CRC") as excinfo:
        ZipFrameReader(path).read("img_00001.jpg")
    assert_one_clear_error(excinfo, path, "img_00001.jpg")


@pytest.mark.parametrize("cut", [10, 200, 10_000])
def test_a_truncated_archive_is_one_clear_error(archive, cut):
    raw = archive.read_bytes()
    archive.write_bytes(raw[: max(0, len(raw) - cut)])
    with pytest.raises(DataError, match="truncated|corrupt") as excinfo:
        ZipFrameReader(archive)
    assert_one_clear_error(excinfo, archive)


def test_a_file_that_is_not_a_zip_and_a_missing_archive_are_clear_errors(tmp_path):
    junk = tmp_path / "img.zip"
    junk.write_bytes(b"not a zip at all, " * 10)
    with pytest.raises(DataError, match="not a zip") as excinfo:
        ZipFrameReader(junk)
    assert_one_clear_error(excinfo, junk)
    with pytest.raises(DataError, match="missing") as excinfo:
        ZipFrameReader(tmp_path / "flow_x.zip")
    assert_one_clear_error(excinfo, tmp_path / "flow_x.zip")
    with pytest.raises(DataError, match="missing"):
        open_frame_zip(tmp_path / "flow_y.zip")


def test_closing_is_idempotent(archive):
    reader = ZipFrameReader(archive)
    reader.close()
    reader.close()


@pytest.fixture
def fresh_cache():
    framezip.clear_frame_zip_cache()
    yield
    framezip.clear_frame_zip_cache()


def test_the_cache_opens_each_archive_once(archive, fresh_cache, monkeypatch):
    opened = []
    real = framezip.ZipFrameReader.__init__

    def counting(self, path):
        opened.append(path)
        real(self, path)

    monkeypatch.setattr(framezip.ZipFrameReader, "__init__", counting)
    first = open_frame_zip(archive)
    assert open_frame_zip(archive) is first and len(opened) == 1
    assert first.read("img_00001.jpg") == payloads()["img_00001.jpg"]


def test_the_cache_reopens_a_rewritten_archive(archive, fresh_cache):
    first = open_frame_zip(archive)
    write_zip(archive, {"img_00001.jpg": b"rewritten"})
    second = open_frame_zip(archive)
    assert second is not first and second.read("img_00001.jpg") == b"rewritten"


def test_a_forked_worker_gets_its_own_readers(archive, fresh_cache, monkeypatch):
    parent = open_frame_zip(archive)
    monkeypatch.setattr(framezip.os, "getpid", lambda: -7)  # as if in a forked child
    child = open_frame_zip(archive)
    assert child is not parent
    assert child.read("img_00002.jpg") == parent.read("img_00002.jpg")


def test_the_cache_drops_the_least_recently_used_archive(tmp_path, fresh_cache, monkeypatch):
    monkeypatch.setattr(framezip, "_CACHE_SIZE", 2)
    paths = [write_zip(tmp_path / f"v{i}" / "img.zip", payloads(1)) for i in range(3)]
    first = open_frame_zip(paths[0])
    dropped_fd = open_frame_zip(paths[1])._fd  # no reference to it is kept
    open_frame_zip(paths[0])  # used again: paths[1] is now the oldest
    open_frame_zip(paths[2])
    assert open_frame_zip(paths[0]) is first
    assert len(framezip._cache) == 2
    with pytest.raises(OSError):  # dropped from the cache and unused: closed
        os.fstat(dropped_fd)


def test_a_long_archive_comment_and_a_long_central_directory_are_read(tmp_path):
    # the reader first reads the archive's last 8 KiB: both cases need more than that
    many = {f"img_{i:05d}.jpg": bytes([i % 251]) * 3 for i in range(1, 301)}
    commented = tmp_path / "commented.zip"
    with zipfile.ZipFile(commented, "w") as archive:
        archive.writestr("img_00001.jpg", b"one")
        archive.comment = b"c" * 20_000
    long_directory = write_zip(tmp_path / "long.zip", many)
    assert ZipFrameReader(commented).read("img_00001.jpg") == b"one"
    reader = ZipFrameReader(long_directory)
    assert len(reader) == 300 and reader.read("img_00300.jpg") == many["img_00300.jpg"]


def test_non_ascii_entry_names_decode_as_flagged(tmp_path):
    path = tmp_path / "img.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("café_00001.jpg", b"utf8")  # zipfile sets the UTF-8 flag
    assert ZipFrameReader(path).names() == ["café_00001.jpg"]
