"""Safe RAR/ZIP extraction: stored RARs need no tool, escapes are refused, reruns are no-ops."""

from __future__ import annotations

import stat
import zipfile

import pytest
import rarfile
from unpack_rar4 import BEST, Member, files, write_rar4

from tsncli.acquire import archives
from tsncli.acquire.archives import extract_archive, safe_member_name
from tsncli.errors import DataError


def snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_stored_rar_extracts_with_rarfile_alone(tmp_path):
    rar = write_rar4(
        tmp_path / "a.rar",
        [Member("top", directory=True), *files({"top/x.avi": b"video", "top/sub/y.txt": b"t"})],
    )
    assert extract_archive(rar, tmp_path / "out") == "extracted"
    assert (tmp_path / "out/top/x.avi").read_bytes() == b"video"
    assert (tmp_path / "out/top/sub/y.txt").read_bytes() == b"t"
    assert not list((tmp_path / "out").glob(".tsn-unpack-*.tmp"))


def test_zip_extracts(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("d/one.txt", "1")
    extract_archive(path, tmp_path / "out")
    assert (tmp_path / "out/d/one.txt").read_text() == "1"


def test_rerun_is_a_no_op_and_force_extracts_again(tmp_path):
    rar = write_rar4(tmp_path / "a.rar", files({"x.txt": b"1"}))
    out = tmp_path / "out"
    extract_archive(rar, out)
    (out / "x.txt").write_text("edited")
    assert extract_archive(rar, out) == "skipped"
    assert (out / "x.txt").read_text() == "edited"
    assert extract_archive(rar, out, force=True) == "extracted"
    assert (out / "x.txt").read_text() == "1"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "C:/evil"])
def test_member_paths_leaving_the_destination_are_refused(name):
    with pytest.raises(DataError, match="refusing member"):
        safe_member_name(name, archive=__import__("pathlib").Path("x.rar"))


def test_rar_with_a_traversal_member_writes_nothing_anywhere(tmp_path):
    rar = write_rar4(tmp_path / "bad.rar", files({"ok.txt": b"fine", "../evil.txt": b"x"}))
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match=r"refusing member '\.\./evil\.txt'"):
        extract_archive(rar, tmp_path / "out")
    assert snapshot(tmp_path) == before


def test_zip_with_an_absolute_member_is_refused(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("/etc/evil", "x")
    with pytest.raises(DataError, match="refusing member '/etc/evil'"):
        extract_archive(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_link_pointing_outside_is_refused(tmp_path):
    rar = write_rar4(
        tmp_path / "link.rar",
        [Member("dir/escape", b"../../outside", mode=0o120777), *files({"dir/f.txt": b"f"})],
    )
    with pytest.raises(DataError, match="refusing member 'dir/escape'.*outside"):
        extract_archive(rar, tmp_path / "out")
    assert not (tmp_path / "outside").exists()
    assert not list((tmp_path / "out").iterdir())


def test_zip_link_pointing_outside_is_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("evil-link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="refusing member 'evil-link'"):
        extract_archive(path, tmp_path / "out")


def test_link_inside_the_destination_is_kept(tmp_path):
    rar = write_rar4(
        tmp_path / "link.rar",
        [*files({"d/real.txt": b"r"}), Member("d/alias.txt", b"real.txt", mode=0o120777)],
    )
    extract_archive(rar, tmp_path / "out")
    alias = tmp_path / "out/d/alias.txt"
    assert alias.is_symlink() and alias.read_bytes() == b"r"


def test_device_file_member_is_refused(tmp_path):
    rar = write_rar4(tmp_path / "dev.rar", [Member("null", b"", mode=0o020644)])
    with pytest.raises(DataError, match="refusing member 'null'.*device"):
        extract_archive(rar, tmp_path / "out")


def test_compressed_rar_without_a_tool_names_the_install_command(tmp_path, monkeypatch):
    def no_tool(*args, **kwargs):
        raise rarfile.RarCannotExec("Cannot find working tool")

    monkeypatch.setattr(archives.rarfile, "tool_setup", no_tool)
    rar = write_rar4(tmp_path / "packed.rar", [Member("a.avi", b"\x00" * 10, method=BEST)])
    with pytest.raises(DataError, match="apt-get install unar") as info:
        extract_archive(rar, tmp_path / "out")
    assert "packed.rar" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_truncated_rar_is_reported_as_corrupt(tmp_path):
    rar = write_rar4(tmp_path / "a.rar", files({"x.avi": b"y" * 5000}))
    rar.write_bytes(rar.read_bytes()[:-3000])
    with pytest.raises(DataError, match="a.rar"):
        extract_archive(rar, tmp_path / "out")


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        extract_archive(tmp_path / "nope.rar", tmp_path / "out")
