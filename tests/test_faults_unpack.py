"""`tsn unpack` never replaces a user's file silently: a differing file is refused unless
--force (naming it), an identical one is skipped."""

from __future__ import annotations

import zipfile

import pytest


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _unpack(runner, cli, archive, dest, *extra):
    result = runner.invoke(cli, ["unpack", str(archive), "--dest", str(dest), *extra])
    result.text = " ".join(result.output.split())
    return result


def test_a_file_that_differs_from_the_archive_is_refused_and_named(runner, cli, tmp_path):
    archive = _zip(tmp_path / "a.zip", {"notes/readme.txt": b"archive\n", "new.txt": b"n\n"})
    dest = tmp_path / "dest"
    (dest / "notes").mkdir(parents=True)
    (dest / "notes" / "readme.txt").write_bytes(b"my edits\n")
    result = _unpack(runner, cli, archive, dest)
    assert result.exit_code == 1
    assert "readme.txt" in result.text and "--force" in result.text
    assert (dest / "notes" / "readme.txt").read_bytes() == b"my edits\n"
    assert not (dest / "new.txt").exists()  # nothing is moved when one file is refused
    assert "Traceback" not in result.output


def test_force_replaces_the_differing_file(runner, cli, tmp_path):
    archive = _zip(tmp_path / "a.zip", {"readme.txt": b"archive\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "readme.txt").write_bytes(b"my edits\n")
    result = _unpack(runner, cli, archive, dest, "--force")
    assert result.exit_code == 0, result.output
    assert (dest / "readme.txt").read_bytes() == b"archive\n"


def test_identical_files_are_skipped_and_other_files_are_kept(runner, cli, tmp_path):
    archive = _zip(tmp_path / "a.zip", {"same.txt": b"same\n", "new.txt": b"new\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "same.txt").write_bytes(b"same\n")
    (dest / "mine.txt").write_bytes(b"mine\n")
    result = _unpack(runner, cli, archive, dest)
    assert result.exit_code == 0, result.output
    assert (dest / "new.txt").read_bytes() == b"new\n"
    assert (dest / "mine.txt").read_bytes() == b"mine\n"


def test_a_second_unpack_says_how_to_redo_it(runner, cli, tmp_path):
    archive = _zip(tmp_path / "a.zip", {"x.txt": b"x\n"})
    dest = tmp_path / "dest"
    assert _unpack(runner, cli, archive, dest).exit_code == 0
    again = _unpack(runner, cli, archive, dest)
    assert again.exit_code == 0 and "skipped" in again.text and "--force" in again.text


def test_a_dataset_folder_not_made_by_unpack_is_not_replaced(runner, cli, tmp_path):
    from tsncli.acquire.unpack import unpack_dataset
    from tsncli.errors import DataError

    archive = _zip(
        tmp_path / "UCF101TrainTestSplits.zip", {"ucfTrainTestlist/classInd.txt": b"1 A\n"}
    )
    dest = tmp_path / "ucf101"
    (dest / "splits").mkdir(parents=True)
    (dest / "splits" / "mine.txt").write_text("mine\n")
    with pytest.raises(DataError, match="was not made by `tsn unpack`.*--force"):
        unpack_dataset("ucf101", [archive], dest)
    assert (dest / "splits" / "mine.txt").read_text() == "mine\n"


@pytest.mark.parametrize("name", ["UCF101.rar", "splits.zip"])
def test_a_truncated_archive_says_to_fetch_again_with_force(runner, cli, tmp_path, name):
    whole = _zip(tmp_path / "whole.zip", {"a.txt": b"a" * 1000})
    archive = tmp_path / name
    if name.endswith(".rar"):
        archive.write_bytes(b"Rar!\x1a\x07\x00 truncated")
    else:
        archive.write_bytes(whole.read_bytes()[:200])
    result = _unpack(runner, cli, archive, tmp_path / "dest")
    assert result.exit_code == 1
    assert "tsn fetch NAME --force" in result.text
