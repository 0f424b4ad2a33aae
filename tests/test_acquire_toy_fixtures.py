"""The shared toy fixtures give a UCF101-shaped dataset and its frames, ready for `tsn lists`."""

from __future__ import annotations

from tsncli.acquire.toy import load_toy_meta


def test_toy_dataset_fixture_is_laid_out_like_unpacked_ucf101(toy_dataset):
    meta = load_toy_meta(toy_dataset)
    assert (toy_dataset / "splits" / "classInd.txt").is_file()
    for video in meta["videos"]:
        assert (toy_dataset / "videos" / video["class_name"] / f"{video['name']}.avi").is_file()


def test_toy_frames_fixture_has_images_and_flow_for_every_video(toy_dataset, toy_frames):
    meta = load_toy_meta(toy_dataset)
    assert sorted(p.name for p in toy_frames.iterdir() if p.is_dir()) == sorted(
        v["name"] for v in meta["videos"]
    )
    first = meta["videos"][0]
    folder = toy_frames / first["name"]
    images = sorted(folder.glob("img_*.jpg"))
    flow_x = sorted(folder.glob("flow_x_*.jpg"))
    assert images[0].name == "img_00001.jpg"
    assert len(images) >= first["num_frames"] - 1
    assert len(flow_x) == len(list(folder.glob("flow_y_*.jpg"))) > 0


def test_toy_lists_work_like_ucf101(toy_dataset, toy_frames, runner, cli, tmp_path):
    result = runner.invoke(
        cli,
        [
            "lists",
            "toy",
            str(toy_frames),
            "--splits",
            str(toy_dataset / "splits"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    meta = load_toy_meta(toy_dataset)
    for modality in ("rgb", "flow"):
        train = (tmp_path / f"toy_{modality}_train_split_1.txt").read_text().splitlines()
        val = (tmp_path / f"toy_{modality}_val_split_1.txt").read_text().splitlines()
        assert len(train) == sum(v["subset"] == "train" for v in meta["videos"])
        assert len(val) == sum(v["subset"] == "test" for v in meta["videos"])
    assert (tmp_path / "toy_classes.txt").read_text().splitlines()[0] == "0 RedSlide"
