"""Every reader takes dense_flow's zips as it takes frame folders, detected per video, with the
same pixels: frames, flow, deflated archives (libzip's default), missing-frame checks, frame
counts and `tsn lists`, and train, eval, predict and features giving equal results bit for bit;
damage is one error naming the video's archive and entry."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import evalkit
import numpy as np
import pytest
import torch
from lists_helpers import make_frames, write_ucf101_splits
from train_fixtures import make_dataset as make_train_dataset

from tsncli.data.frames import (
    CorruptFrameError,
    UnreadableFrameError,
    missing_frames,
    read_frames,
    validate_records,
)
from tsncli.data.snippet_source import FRAME_FOLDERS
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.features.extract import FeatureSettings, extract_features
from tsncli.engine.features.formats import read_features
from tsncli.engine.predict import predict_videos
from tsncli.engine.scores import load_scores
from tsncli.errors import DataError
from tsncli.flow.pack import run_pack
from tsncli.framezip import clear_frame_zip_cache
from tsncli.layout import FLOW_ZIPS, RGB_ZIP, frames_format
from tsncli.lists.frame_index import count_frames
from tsncli.lists.listfile import VideoRecord, read_list, write_list

INDICES = np.array([[1, 2], [5, 6], [9, 10]])


def zipped_copy(frames: Path, out: Path) -> Path:
    run_pack(frames, out, to="zip")
    return out


def relist(list_file: Path, old: Path, new: Path, out: Path) -> Path:
    """`list_file` with its folders moved from under `old` to under `new` (zips: with the
    header `tsn lists` writes for them, which every reader must take)."""
    records = [
        VideoRecord(r.path.replace(str(old), str(new)), r.num_frames, r.label, r.offset)
        for r in read_list(list_file)
    ]
    return write_list(out, records, header={"kind": "frames", "layout": "zip"})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("zipreaders")
    out = evalkit.make_dataset(root, videos_per_class=1)
    out["zips"] = zipped_copy(out["frames"], root / "zips")
    for kind in ("rgb", "flow"):
        out[f"{kind}_zip_list"] = relist(
            out[f"{kind}_list"], out["frames"], out["zips"], root / f"{kind}_zips.txt"
        )
    out["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    out["flow_ckpt"] = evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2)
    return out


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_frame_zip_cache()
    yield
    clear_frame_zip_cache()


def deflated_copy(video: Path, out: Path) -> Path:
    """`video`'s zips rewritten deflated, as dense_flow (libzip) writes them."""
    out.mkdir(parents=True)
    for name in (RGB_ZIP, *FLOW_ZIPS):
        with (
            zipfile.ZipFile(video / name) as src,
            zipfile.ZipFile(out / name, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            for entry in src.namelist():
                dst.writestr(entry, src.read(entry))
    return out


@pytest.mark.parametrize("modality", ["rgb", "flow", "rgbdiff"])
def test_zipped_frames_read_the_same_pixels_as_folders(data, modality, tmp_path):
    video = "v_green_right_0"
    folder, zipped = data["frames"] / video, data["zips"] / video
    assert frames_format(folder) == "dir" and frames_format(zipped) == "zip"
    expected = read_frames(folder, INDICES, modality)
    deflated = deflated_copy(zipped, tmp_path / video)
    for source in (zipped, deflated):
        got = read_frames(source, INDICES, modality)
        assert len(got) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_zipped_frames_count_as_folders_do(data):
    for video in sorted(p.name for p in data["frames"].iterdir()):
        assert count_frames(data["zips"] / video) == count_frames(data["frames"] / video)


def test_missing_frame_checks_name_the_archive_and_the_entry(data):
    (record,) = [r for r in read_list(data["flow_zip_list"]) if "blue" in r.path]
    assert missing_frames(record, "flow") == []
    too_long = VideoRecord(record.path, record.num_frames + 1, record.label)
    archive = Path(record.path) / FLOW_ZIPS[0]
    last = f"x_{record.num_frames + 1:05d}.jpg"
    assert f"{archive} (entry {last})" in missing_frames(too_long, "flow")
    with pytest.raises(DataError, match=rf"1 of 1 videos.*{last}.*tsn flow"):
        validate_records([too_long], "flow", "flow.txt")


def damaged_video(data, tmp_path) -> Path:
    video = tmp_path / "v_red_left_0"
    shutil.copytree(data["zips"] / "v_red_left_0", video)
    return video


def test_a_corrupt_entry_is_one_error_naming_video_and_entry(data, tmp_path):
    video = damaged_video(data, tmp_path)
    archive = video / RGB_ZIP
    info = zipfile.ZipFile(archive).getinfo("img_00005.jpg")
    raw = bytearray(archive.read_bytes())
    raw[info.header_offset + 30 + len("img_00005.jpg") + 40] ^= 0xFF
    archive.write_bytes(bytes(raw))
    with pytest.raises(CorruptFrameError) as excinfo:
        read_frames(video, INDICES, "rgb")
    message = str(excinfo.value)
    assert str(archive) in message and "img_00005.jpg" in message and "CRC" in message
    assert "\n" not in message and "`tsn flow`" in message and excinfo.value.index == 5
    # the frame-folder source retries a corrupt frame on its neighbour, for zips too
    record = VideoRecord(str(video), 12, 0)
    frames = FRAME_FOLDERS.read_frames(record, INDICES, "rgb")
    assert len(frames) == 6


def test_an_entry_that_is_not_a_jpeg_is_a_corrupt_frame(data, tmp_path):
    video = damaged_video(data, tmp_path)
    for name in FLOW_ZIPS:  # x and y both there, x holds no JPEG
        with zipfile.ZipFile(video / name, "a") as archive:
            archive.writestr(f"{name[5]}_00099.jpg", b"not a jpeg")
    with pytest.raises(CorruptFrameError, match=r"x_00099\.jpg in .*flow_x\.zip cannot be decoded"):
        read_frames(video, np.array([[99]]), "flow")


def test_a_missing_entry_or_archive_is_an_unreadable_frame_naming_it(data, tmp_path):
    video = damaged_video(data, tmp_path)
    with pytest.raises(UnreadableFrameError, match=r"x_00042\.jpg is missing from .*flow_x\.zip"):
        read_frames(video, np.array([[42]]), "flow")
    (video / FLOW_ZIPS[1]).unlink()
    with pytest.raises(UnreadableFrameError, match=r"flow_y\.zip is missing") as excinfo:
        read_frames(video, INDICES, "flow")
    assert Path(excinfo.value.path).parent == video  # what the loader reports as skipped


def test_tsn_lists_writes_the_same_lines_for_zips_and_records_the_layout(runner, cli, tmp_path):
    classes = ["Circle", "Square"]
    train = ["Circle/v_Circle_g01_c01", "Square/v_Square_g01_c01"]
    test = ["Circle/v_Circle_g02_c01", "Square/v_Square_g02_c01"]
    write_ucf101_splits(tmp_path / "splits", classes, {1: (train, test)})
    for n, entry in enumerate(train + test):
        make_frames(tmp_path / "frames", entry.split("/")[1], img=8 + n, flow=7 + n)
    args = ["lists", "ucf101", str(tmp_path / "frames"), "--splits", str(tmp_path / "splits")]
    written = {}
    for layout in ("dir", "zip"):
        if layout == "zip":
            run_pack(tmp_path / "frames", to="zip")
        out = tmp_path / f"lists_{layout}"
        result = runner.invoke(cli, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        written[layout] = {p.name: p.read_text() for p in sorted(out.glob("*.txt"))}
    assert frames_format(tmp_path / "frames" / "v_Circle_g01_c01") == "zip"
    header = "# tsn-list: kind=frames layout=zip\n"
    lists = [name for name in written["dir"] if "_split_" in name]
    assert len(lists) == 4 and set(written["zip"]) == set(written["dir"])
    for name in lists:  # the same lines, the layout recorded (folders: plain TSN lists)
        assert not written["dir"][name].startswith("#")
        assert written["zip"][name] == header + written["dir"][name]
        records = read_list(tmp_path / "lists_zip" / name)
        assert [r.num_frames for r in records] == [
            r.num_frames for r in read_list(tmp_path / "lists_dir" / name)
        ]
    assert "v_Square_g01_c01 9 1" in written["zip"]["ucf101_rgb_train_split_1.txt"]
    assert "v_Square_g02_c01 10 1" in written["zip"]["ucf101_flow_val_split_1.txt"]
    # one video back as a folder: the lists say the layouts are mixed
    shutil.rmtree(tmp_path / "frames" / "v_Circle_g01_c01")
    make_frames(tmp_path / "frames", "v_Circle_g01_c01", img=8, flow=7)
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "lists_mixed")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "lists_mixed" / "ucf101_rgb_train_split_1.txt").read_text()
    assert text.startswith("# tsn-list: kind=frames layout=mixed\n")


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_eval_scores_from_zips_equal_those_from_folders(data, tmp_path, modality):
    settings = EvalSettings(segments=3, crops=3)
    ckpt = data[f"{modality}_ckpt"]
    folders = evaluate(ckpt, data[f"{modality}_list"], tmp_path / "dir.npz", settings)
    zips = evaluate(ckpt, data[f"{modality}_zip_list"], tmp_path / "zip.npz", settings)
    a, b = load_scores(folders.scores_path), load_scores(zips.scores_path)
    assert a.videos == b.videos and len(a) == 3
    assert np.array_equal(a.scores, b.scores)


def test_predict_on_a_zipped_frames_folder_equals_the_folder(data):
    video = "v_blue_up_0"
    paths = [data["frames"] / video, data["zips"] / video]
    folder, zipped = predict_videos(paths, [data["flow_ckpt"]], segments=3, crops=1)
    assert folder.error is None and zipped.error is None
    assert np.array_equal(folder.scores, zipped.scores)


def test_features_from_zipped_frames_equal_those_from_folders(data, tmp_path):
    settings = FeatureSettings(stride=4, loader_threads=1)
    for layout in ("frames", "zips"):
        extract_features(data[layout], [data["rgb_ckpt"]], tmp_path / layout, settings)
    for video in sorted(p.name for p in data["frames"].iterdir()):
        a = read_features(tmp_path / "frames" / f"{video}.npy")
        b = read_features(tmp_path / "zips" / f"{video}.npy")
        assert a.shape[0] >= 2 and np.array_equal(a, b)


def test_training_on_zips_equals_training_on_folders(runner, cli, tmp_path):
    lists = make_train_dataset(tmp_path / "ds", num_classes=2, videos_per_class=2)
    zips = zipped_copy(tmp_path / "ds" / "frames", tmp_path / "zips")
    zip_lists = tmp_path / "zip_lists"
    zip_lists.mkdir()
    for path in lists.iterdir():
        if "_split_" in path.name:
            relist(path, tmp_path / "ds" / "frames", zips, zip_lists / path.name)
        else:
            shutil.copy(path, zip_lists / path.name)
    tiny = ["--arch", "tiny", "--pretrained", "none", "--crop-size", "16", "--segments", "2"]
    # two loader workers: forked processes read the zips through their own archive cache
    fast = ["--batch", "4", "--workers", "2", "--gpus", "0", "--epochs", "1", "--seed", "3"]
    weights = []
    for name, folder in (("dir", lists), ("zip", zip_lists)):
        out = tmp_path / f"run_{name}"
        args = ["train", "toyds", "flow", "--lists-dir", str(folder), "--out", str(out)]
        result = runner.invoke(cli, [*args, *tiny, *fast, "--json"])
        assert result.exit_code == 0, result.output
        json.loads(result.stdout.strip().splitlines()[-1])
        weights.append(torch.load(out / "last.pt", map_location="cpu", weights_only=False))
    a, b = (w["model"] if "model" in w else w["state_dict"] for w in weights)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_counts_follow_what_readers_read_in_a_half_packed_folder(tmp_path):
    folder = make_frames(tmp_path, "v", img=6, flow=5)
    run_pack(tmp_path, to="zip")
    for name in ("img_00001.jpg", "img_00002.jpg", "flow_y_00001.jpg"):
        (folder / name).touch()  # leftovers beside the archives: the archives count
    assert count_frames(folder).img == 6
    assert (count_frames(folder).flow_x, count_frames(folder).flow_y) == (5, 5)
    (folder / FLOW_ZIPS[0]).unlink()  # flow_y.zip alone: flow is read from the files
    assert (count_frames(folder).flow_x, count_frames(folder).flow_y) == (0, 1)
    (folder / FLOW_ZIPS[1]).rename(folder / FLOW_ZIPS[0])  # flow_x.zip without flow_y.zip
    with pytest.raises(DataError, match=r"flow_y\.zip is missing"):
        count_frames(folder)


def test_eval_reports_a_video_whose_archive_is_damaged_and_scores_the_others(data, tmp_path):
    zips = tmp_path / "zips"
    shutil.copytree(data["zips"], zips)
    records = read_list(data["rgb_zip_list"])
    damaged = Path(records[0].path.replace(str(data["zips"]), str(zips)))
    (damaged / RGB_ZIP).write_bytes(b"PK\x03\x04 truncated")  # not a zip any more
    moved = relist(data["rgb_zip_list"], data["zips"], zips, tmp_path / "list.txt")
    result = evaluate(
        data["rgb_ckpt"], moved, tmp_path / "s.npz", EvalSettings(segments=3, crops=1)
    )
    assert [video for video, _ in result.failures] == [damaged.name]
    (error,) = [e for _, e in result.failures]
    assert "\n" not in error and RGB_ZIP in error
    assert len(load_scores(result.scores_path)) == len(records) - 1
