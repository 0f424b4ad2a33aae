"""`tsn unpack ucf101|hmdb51`: the data/<ds>/videos + splits layout, nested RARs, resume, CLI."""

from __future__ import annotations

import zipfile

import pytest
from reference import SPLITS
from unpack_rar4 import Member, files, rar4_bytes, write_rar4

from tsncli.acquire import unpack as unpack_core
from tsncli.acquire.unpack import unpack_dataset
from tsncli.errors import DataError

UCF_CLASSES = {"ApplyEyeMakeup": 2, "HandstandPushups": 1}
HMDB_CLASSES = {"brush_hair": 2, "cartwheel": 1, "catch": 1}


def make_ucf101(folder):
    """UCF101.rar (UCF-101/<Class>/v_*.avi) and the splits ZIP, named as the catalog names them."""
    members = [Member("UCF-101", directory=True)]
    for cls, n in UCF_CLASSES.items():
        for g in range(1, n + 1):
            members.append(Member(f"UCF-101/{cls}/v_{cls}_g{g:02d}_c01.avi", f"{cls}{g}".encode()))
    write_rar4(folder / "UCF101.rar", members)
    with zipfile.ZipFile(folder / "UCF101TrainTestSplits-RecognitionTask.zip", "w") as z:
        z.writestr("ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
        video = "ApplyEyeMakeup/v_ApplyEyeMakeup_g0{}_c01.avi"
        z.writestr("ucfTrainTestlist/trainlist01.txt", video.format(1) + " 1\r\n")
        z.writestr("ucfTrainTestlist/testlist01.txt", video.format(2) + "\r\n")
    return folder


def make_hmdb51(folder):
    """hmdb51_org.rar: a RAR of per-class RARs, plus test_train_splits.rar."""
    inner = []
    for cls, n in HMDB_CLASSES.items():
        videos = files({f"{cls}/{cls}_{i}.avi": f"{cls}{i}".encode() for i in range(n)})
        inner.append(Member(f"{cls}.rar", rar4_bytes(videos)))
    write_rar4(folder / "hmdb51_org.rar", inner)
    splits = {
        f"testTrainMulti_7030_splits/{cls}_test_split1.txt": f"{cls}_0.avi 1 \n".encode()
        for cls in HMDB_CLASSES
    }
    write_rar4(folder / "test_train_splits.rar", files(splits))
    return folder


def layout(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith("."))


def test_ucf101_unpacks_into_videos_and_splits(tmp_path):
    dest = make_ucf101(tmp_path / "data" / "ucf101")
    summary = unpack_dataset("ucf101", dest=dest)
    assert (dest / "videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi").read_bytes() == (
        b"ApplyEyeMakeup2"
    )
    assert (dest / "videos/HandstandPushups/v_HandstandPushups_g01_c01.avi").is_file()
    assert sorted(p.name for p in (dest / "splits").iterdir()) == [
        "classInd.txt",
        "testlist01.txt",
        "trainlist01.txt",
    ]
    assert (summary.videos, summary.classes, summary.splits) == (3, 2, 3)
    assert not (dest / ".unpack-work").exists()


def test_hmdb51_unpacks_the_rar_of_rars_without_keeping_inner_rars(tmp_path):
    dest = make_hmdb51(tmp_path / "hmdb51")
    summary = unpack_dataset("hmdb51", dest=dest)
    assert (dest / "videos/brush_hair/brush_hair_1.avi").read_bytes() == b"brush_hair1"
    assert (dest / "videos/catch/catch_0.avi").is_file()
    assert (dest / "splits/cartwheel_test_split1.txt").is_file()
    assert not list(dest.rglob("brush_hair.rar"))
    assert (summary.videos, summary.classes) == (4, 3)


def test_count_mismatch_is_reported_with_the_numbers_found(tmp_path):
    dest = make_hmdb51(tmp_path / "hmdb51")
    summary = unpack_dataset("hmdb51", dest=dest)
    assert "found 4 videos in 3 classes" in summary.warnings[0]
    assert "6766 in 51" in summary.warnings[0]


def test_archives_are_recognised_by_content_not_name(tmp_path):
    src = make_ucf101(tmp_path / "downloads")
    (src / "UCF101.rar").rename(src / "videos-copy.rar")
    (src / "UCF101TrainTestSplits-RecognitionTask.zip").rename(src / "s.zip")
    dest = tmp_path / "out"
    unpack_dataset("ucf101", [src / "s.zip", src / "videos-copy.rar"], dest)
    assert (dest / "splits/classInd.txt").is_file()
    assert len(list((dest / "videos").rglob("*.avi"))) == 3


def test_rerun_is_a_no_op(tmp_path):
    dest = make_ucf101(tmp_path / "ucf101")
    unpack_dataset("ucf101", dest=dest)
    before = layout(dest)
    summary = unpack_dataset("ucf101", dest=dest)
    assert summary.skipped == ["videos", "splits"]
    assert layout(dest) == before


def test_missing_archives_name_the_fetch_command(tmp_path):
    with pytest.raises(DataError, match="tsn fetch ucf101"):
        unpack_dataset("ucf101", dest=tmp_path / "empty")


def test_interrupted_hmdb51_resumes_with_the_classes_left(tmp_path, monkeypatch):
    dest = make_hmdb51(tmp_path / "hmdb51")
    real = unpack_core.extract_archive
    seen = []

    def failing_on_cartwheel(archive, into, **kwargs):
        seen.append(archive.name)
        if archive.name == "cartwheel.rar":
            raise KeyboardInterrupt
        return real(archive, into, **kwargs)

    monkeypatch.setattr(unpack_core, "extract_archive", failing_on_cartwheel)
    with pytest.raises(KeyboardInterrupt):
        unpack_dataset("hmdb51", dest=dest)
    assert not (dest / "videos").exists()  # only complete results get the final name
    seen.clear()
    monkeypatch.setattr(unpack_core, "extract_archive", real)
    monkeypatch.setattr(
        unpack_core, "extract_archive", lambda a, i, **k: seen.append(a.name) or real(a, i, **k)
    )
    unpack_dataset("hmdb51", dest=dest)
    assert "brush_hair.rar" not in seen  # done before the interruption
    assert len(list((dest / "videos").rglob("*.avi"))) == 4


def test_cli_unpacks_a_dataset_and_prints_its_folder(runner, cli, tmp_path):
    dest = make_ucf101(tmp_path / "ucf101")
    result = runner.invoke(cli, ["unpack", "ucf101", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    assert str(dest) in result.stdout
    assert (dest / "videos/ApplyEyeMakeup").is_dir()


def test_cli_unpacks_any_archive_into_dest(runner, cli, tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x/y.txt", "hi")
    result = runner.invoke(cli, ["unpack", str(archive), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/x/y.txt").read_text() == "hi"


def test_cli_refuses_a_traversal_member_in_one_line(runner, cli, tmp_path):
    archive = write_rar4(tmp_path / "bad.rar", files({"../../evil": b"x"}))
    result = runner.invoke(cli, ["unpack", str(archive), "--dest", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "error: refusing member '../../evil'" in result.output
    assert not (tmp_path.parent / "evil").exists()


def test_cli_unknown_archive_path_is_a_usage_error(runner, cli, tmp_path):
    result = runner.invoke(cli, ["unpack", str(tmp_path / "nope.rar")])
    assert result.exit_code == 1
    assert "no such archive" in result.output


def test_unpack_target_completes_dataset_names(runner, cli):
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": "tsn unpack h", "COMP_CWORD": "2"}
    result = runner.invoke(cli, [], env=env, prog_name="tsn")
    assert result.output.split() == ["hmdb51"]


def test_videos_named_in_the_splits_but_missing_are_reported(tmp_path):
    dest = make_hmdb51(tmp_path / "hmdb51")
    extra = tmp_path / "more_splits.rar"
    write_rar4(extra, files({"s/catch_test_split2.txt": b"ghost.avi 2 \n"}))
    summary = unpack_dataset("hmdb51", [dest / "hmdb51_org.rar", extra], dest)
    assert any("1 videos named in" in w and "catch/ghost.avi" in w for w in summary.warnings)


def test_complete_splits_raise_no_missing_video_warning(tmp_path):
    dest = make_ucf101(tmp_path / "ucf101")
    summary = unpack_dataset("ucf101", dest=dest)
    assert not any("named in" in w for w in summary.warnings)


@pytest.mark.reference(SPLITS)
@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_official_splits_name_every_official_video(dataset):
    from tsncli.acquire.unpack import split_video_paths
    from tsncli.specs.datasets import DATASETS

    splits = SPLITS / dataset
    assert len(split_video_paths(dataset, splits)) == DATASETS.get(dataset).unpack.videos
