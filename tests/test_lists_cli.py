"""`tsn lists` on the command line: defaults, toy, JSON, --config, completion, official sizes."""

from __future__ import annotations

import json

import pytest
from lists_helpers import (
    REFERENCE_SPLITS,
    make_frames,
    read_lines,
    squash,
    write_hmdb51_splits,
    write_ucf101_splits,
)

from tsncli.lists.builder import load_official_splits

TOY_CLASSES = ["Circle", "Square"]
TOY_TRAIN = ["Circle/v_Circle_g01_c01", "Square/v_Square_g01_c01"]
TOY_TEST = ["Circle/v_Circle_g02_c01", "Square/v_Square_g02_c01"]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy dataset where `tsn fetch toy` and `tsn flow` put it, with the cwd at its root."""
    write_ucf101_splits(tmp_path / "data/toy/splits", TOY_CLASSES, {1: (TOY_TRAIN, TOY_TEST)})
    for entry in TOY_TRAIN + TOY_TEST:
        make_frames(tmp_path / "data/toy/frames", entry.split("/")[1], img=8, flow=7)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_toy_uses_the_default_locations_and_only_the_split_it_has(runner, cli, toy):
    result = runner.invoke(cli, ["lists", "toy"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (toy / "data").glob("toy_*"))
    assert written == [
        "toy_classes.txt",
        "toy_flow_train_split_1.txt",
        "toy_flow_val_split_1.txt",
        "toy_lists_config.yaml",
        "toy_rgb_train_split_1.txt",
        "toy_rgb_val_split_1.txt",
    ]
    assert read_lines(toy / "data/toy_rgb_val_split_1.txt")[1] == (
        str(toy.resolve() / "data/toy/frames/v_Square_g02_c01"),
        8,
        1,
    )
    assert "toy_rgb_train_split_1.txt" in result.output and "2 classes" in result.output


def test_asking_for_a_split_the_folder_lacks_names_the_ones_it_has(runner, cli, toy):
    result = runner.invoke(cli, ["lists", "toy", "--split", "1,2"])
    assert result.exit_code == 1
    assert "pass --split 1" in squash(result.output)


def test_json_output_lists_the_files_written(runner, cli, toy):
    result = runner.invoke(cli, ["lists", "toy", "--modality", "rgb", "--json", "--out", "o"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["dataset"] == "toy" and payload["num_classes"] == 2
    assert [f["entries"] for f in payload["files"]] == [2, 2, 2, 0]
    assert payload["files"][0]["path"].endswith("toy_rgb_train_split_1.txt")


def test_config_file_options_are_used_and_flags_override_them(runner, cli, toy):
    (toy / "lists.yaml").write_text("lists:\n  modality: flow\n  out: from_config\n  seed: 5\n")
    result = runner.invoke(cli, ["lists", "toy", "--config", "lists.yaml", "--out", "flag"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (toy / "flag").glob("*split*")) == [
        "toy_flow_train_split_1.txt",
        "toy_flow_val_split_1.txt",
    ]
    assert "seed: 5" in (toy / "flag" / "toy_lists_config.yaml").read_text()


def test_unknown_dataset_lists_the_registry(runner, cli, toy):
    result = runner.invoke(cli, ["lists", "kinetics"])
    assert result.exit_code == 1
    assert "use one of: ucf101, hmdb51, toy, custom" in squash(result.output)


def test_missing_frames_error_reaches_the_cli_as_one_line(runner, cli, toy):
    for f in (toy / "data/toy/frames/v_Circle_g01_c01").iterdir():
        f.unlink()
    result = runner.invoke(cli, ["lists", "toy"])
    assert result.exit_code == 1
    assert "error: 1 of 4 videos have no frame folder" in squash(result.output)
    ok = runner.invoke(cli, ["lists", "toy", "--allow-missing"])
    assert ok.exit_code == 0 and "dropped 1" in squash(ok.output)


def test_custom_dataset_from_the_command_line(runner, cli, tmp_path):
    for name in ("a", "b"):
        for i in range(3):
            (tmp_path / "videos" / name).mkdir(parents=True, exist_ok=True)
            (tmp_path / "videos" / name / f"{name}{i}.avi").touch()
            make_frames(tmp_path / "frames", f"{name}{i}", img=2, flow=2)
    args = ["lists", "custom", str(tmp_path / "frames"), "--videos", str(tmp_path / "videos")]
    result = runner.invoke(cli, [*args, "--val-ratio", "0.34", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(read_lines(tmp_path / "out" / "custom_rgb_val_split_1.txt")) == 2


def _complete(runner, cli, words: str, cword: int) -> list[str]:
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = runner.invoke(cli, [], prog_name="tsn", env=env)
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_dataset_argument_completes_from_the_registry(runner, cli):
    assert _complete(runner, cli, "tsn lists ", 2)[:4] == ["ucf101", "hmdb51", "toy", "custom"]
    assert _complete(runner, cli, "tsn lists k", 2) == ["kinetics400", "kinetics600", "kinetics700"]
    assert _complete(runner, cli, "tsn lists h", 2) == ["hmdb51"]
    assert _complete(runner, cli, "tsn lists toy f --modality ", 5) == ["rgb,flow", "rgb", "flow"]


def test_hmdb51_command_reads_trailing_space_flags(runner, cli, tmp_path):
    videos = {"clap": [("c1", [1]), ("c2", [2]), ("c3", [0])], "wave": [("w1", [2]), ("w2", [1])]}
    write_hmdb51_splits(tmp_path / "splits", videos)
    for v in ("c1", "c2", "c3", "w1", "w2"):
        make_frames(tmp_path / "frames", v, img=3, flow=3)
    args = ["lists", "hmdb51", str(tmp_path / "frames"), "--splits", str(tmp_path / "splits")]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert [r[2] for r in read_lines(tmp_path / "hmdb51_rgb_train_split_1.txt")] == [0, 1]
    assert [r[0][-2:] for r in read_lines(tmp_path / "hmdb51_flow_val_split_1.txt")] == ["c2", "w1"]


def _fake_tree(parsed, root):
    """One folder per split entry holding one RGB frame (cheap; the counts are what matter).
    benchmarks/lists_official.py checks both modalities on the full tree."""
    ids = {e.video_id for s in parsed.splits.values() for es in s.values() for e in es}
    for video_id in ids:
        (root / video_id).mkdir(parents=True)
        (root / video_id / "img_00001.jpg").touch()
    return ids


@pytest.mark.slow  # 20k folders: ~5 s on an idle 2-core machine, more under contention
@pytest.mark.reference(REFERENCE_SPLITS)
@pytest.mark.parametrize(
    ("dataset", "sizes", "videos"),
    [
        ("ucf101", {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}, 13320),
        ("hmdb51", {1: (3570, 1530), 2: (3570, 1530), 3: (3570, 1530)}, 6371),
    ],
)
def test_official_splits_give_the_published_sizes_and_labels(
    runner, cli, tmp_path, dataset, sizes, videos
):
    splits = REFERENCE_SPLITS / dataset
    parsed = load_official_splits(dataset, splits)
    assert len(_fake_tree(parsed, tmp_path / "frames")) == videos
    args = ["lists", dataset, str(tmp_path / "frames"), "--splits", str(splits)]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "out"), "--modality", "rgb"])
    assert result.exit_code == 0, result.output
    classes = (tmp_path / "out" / f"{dataset}_classes.txt").read_text().splitlines()
    assert classes[0] == ("0 ApplyEyeMakeup" if dataset == "ucf101" else "0 brush_hair")
    for k, (n_train, n_val) in sizes.items():
        train = read_lines(tmp_path / "out" / f"{dataset}_rgb_train_split_{k}.txt")
        val = read_lines(tmp_path / "out" / f"{dataset}_rgb_val_split_{k}.txt")
        assert (len(train), len(val)) == (n_train, n_val)
        assert {n for _, n, _ in train} == {1}
    if dataset == "ucf101":  # labels: the class folder of each entry, looked up in classInd.txt
        index = {}
        for line in (splits / "classInd.txt").read_text().splitlines():
            number, name = line.split()
            index[name] = int(number) - 1
        by_id = {}
        for line in (splits / "testlist01.txt").read_text().splitlines():
            cls, video = line.strip().split("/")
            by_id[video[:-4]] = index[cls]
        val = read_lines(tmp_path / "out" / "ucf101_rgb_val_split_1.txt")
        assert all(label == by_id[folder.rsplit("/", 1)[1]] for folder, _, label in val)
