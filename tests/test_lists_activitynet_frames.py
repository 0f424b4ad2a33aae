"""`tsn lists activitynet --source frames`: `tsn flow`'s folders (`v_<id>/` or `<id>/`, matched
exactly), img_ counted for rgb and flow_x_ for flow, instances placed at frames / the annotation's
duration, missing folders counted, a half re-extracted tree refused, the lists marked as frame
lists; and `tsn train` on such an instance list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lists_helpers import make_frames
from video_helpers import make_video

from tsncli.errors import UsageError
from tsncli.layout import FORCE_MARKER
from tsncli.lists.activitynet_lists import ActivityNetListsConfig
from tsncli.lists.annotated import AnnotatedListsConfig
from tsncli.lists.listfile import read_list, read_list_header

TAXONOMY = [
    {"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 2, "nodeName": "BMX", "parentId": 1, "parentName": "Root"},
    {"nodeId": 3, "nodeName": "Baking cookies", "parentId": 1, "parentName": "Root"},
    {"nodeId": 4, "nodeName": "archery", "parentId": 1, "parentName": "Root"},
]


def _video(subset, duration, *labels, spans=None):
    spans = spans or [(0.5, 1.0)] * len(labels)
    annotations = [{"segment": list(s), "label": lb} for s, lb in zip(spans, labels, strict=True)]
    return {"subset": subset, "duration": duration, "url": "", "annotations": annotations}


def _annotations(folder: Path, database: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": "VERSION 1.3", "taxonomy": TAXONOMY, "database": database}
    (folder / "activity_net.v1-3.min.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def anet(tmp_path):
    database = {
        # 50 frames over 2 s: 25 fps, frames 10..29; 40..59 is clamped to 40..49
        "-abc": _video("training", 2.0, "BMX", "BMX", spans=[(0.4, 1.2), (1.6, 2.4)]),
        # 30 frames over 3 s (the download is not 25 fps here): 10 fps, frames 0..7
        "trn2": _video("training", 3.0, "archery", spans=[(0.0, 0.8)]),
        "gone": _video("training", 1.0, "Baking cookies"),  # no folder
        "Case": _video("training", 1.0, "BMX"),  # only v_case exists: ids differ by case
        "nodur": _video("training", 0.0, "BMX"),  # no duration: no rate, counted
        "val1": _video("validation", 1.0, "Baking cookies", "archery", "Baking cookies"),
    }
    _annotations(tmp_path / "annotations", database)
    frames = tmp_path / "frames"
    make_frames(frames, "v_-abc", img=50, flow=49)  # dense_flow's v_<id>
    make_frames(frames, "trn2", img=30, flow=29)  # plain <id>
    make_frames(frames, "v_case", img=10, flow=9)
    make_frames(frames, "v_nodur", img=10, flow=9)
    make_frames(frames, "v_val1", img=10, flow=7)  # flow lists count flow_x, not img - 1
    return tmp_path


def _lists(runner, cli, anet, *extra, modality="rgb,flow", code=0):
    args = ["lists", "activitynet", str(anet / "frames"), "--source", "frames"]
    args += ["--annotations", str(anet / "annotations"), "--out", str(anet / "lists")]
    result = runner.invoke(cli, [*args, "--modality", modality, *extra])
    assert result.exit_code == code, result.output
    return anet / "lists", result


def _rows(path: Path) -> list[tuple[str, int, int, int]]:
    return [(Path(r.path).name, r.offset, r.num_frames, r.label) for r in read_list(path)]


def test_instances_are_placed_at_the_frames_over_the_annotation_duration(runner, cli, anet):
    out, result = _lists(runner, cli, anet)
    rgb = out / "activitynet_rgb_train_split_1.txt"
    header = read_list_header(rgb)
    assert header["kind"] == "frames" and header["offsets"] == "1" and "index" not in header
    assert _rows(rgb) == [("v_-abc", 10, 20, 0), ("v_-abc", 40, 10, 0), ("trn2", 0, 8, 2)]
    flow = out / "activitynet_flow_train_split_1.txt"
    assert read_list_header(flow)["kind"] == "frames"
    assert _rows(flow) == [("v_-abc", 10, 19, 0), ("v_-abc", 40, 9, 0), ("trn2", 0, 7, 2)]
    assert Path(read_list(rgb)[0].path) == (anet / "frames" / "v_-abc").resolve()
    assert "3 training instances; 1 clamped to their video" in result.output
    saved = yaml.safe_load((out / "activitynet_lists_config.yaml").read_text())
    assert saved["source"] == "frames" and saved["frame_rate"] == "annotation_duration"
    assert saved["frames"] == str((anet / "frames").resolve())
    assert not (out / "activitynet_video_index.json").exists()


def test_validation_lists_count_img_for_rgb_and_flow_x_for_flow(runner, cli, anet):
    out, _ = _lists(runner, cli, anet)
    for modality, frames in (("rgb", 10), ("flow", 7)):
        path = out / f"activitynet_{modality}_val_split_1.txt"
        header = read_list_header(path)
        assert header["kind"] == "frames"
        assert header["untrimmed"] == "1" and header["multilabel"] == "1"
        [record] = read_list(path)
        assert (Path(record.path).name, record.num_frames, record.labels) == (
            "v_val1",
            frames,
            (1, 2),
        )


def test_missing_folders_and_durations_are_counted(runner, cli, anet):
    out, result = _lists(runner, cli, anet, "--unit", "videos")
    rows = _rows(out / "activitynet_rgb_train_split_1.txt")
    assert sorted(rows) == [("trn2", 0, 30, 2), ("v_-abc", 0, 50, 0), ("v_nodur", 0, 10, 0)]
    missing = (out / "activitynet_missing.txt").read_text().splitlines()
    assert missing[0].startswith("# 2 annotated videos left out")
    assert sorted(missing[1:]) == ["train Case no frame folder", "train gone no frame folder"]
    assert "left out 2 annotated videos" in " ".join(result.output.split())
    _lists(runner, cli, anet)  # instances: a video without a duration has no frame rate
    missing = (out / "activitynet_missing.txt").read_text()
    assert "train nodur no duration in the annotation file" in missing


def test_a_half_re_extracted_tree_is_refused(runner, cli, anet):
    (anet / "frames" / FORCE_MARKER).write_text("")
    _, result = _lists(runner, cli, anet, code=1)
    assert "half re-extracted" in result.output and "rerun that `tsn flow`" in result.output
    assert not (anet / "lists" / "activitynet_rgb_train_split_1.txt").exists()


def test_no_frame_folder_at_all_names_the_folder(runner, cli, anet, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["lists", "activitynet", str(empty), "--source", "frames"]
    result = runner.invoke(cli, [*args, "--annotations", str(anet / "annotations")])
    assert result.exit_code == 1
    assert "none of the 6 annotated videos has a frame folder" in " ".join(result.output.split())


def test_sources_and_frame_rate_policies():
    assert ActivityNetListsConfig(source="frames").frame_rate == "annotation_duration"
    assert ActivityNetListsConfig().frame_rate == "video"
    with pytest.raises(UsageError, match="--source frames takes annotation_duration"):
        ActivityNetListsConfig(source="frames", frame_rate="video")
    with pytest.raises(UsageError, match="--source takes videos or frames"):
        ActivityNetListsConfig(source="clips")
    with pytest.raises(UsageError, match="leave out --source or pass --source videos"):
        AnnotatedListsConfig(source="frames")  # Kinetics and sthv2 keep video files only


def test_train_on_frame_instances_from_tsn_flow(runner, cli, tmp_path):
    classes = ["BMX", "Baking cookies", "archery"]
    database = {}
    for i in range(6):  # 20 frames over 1 s: 20 fps, frames 10..19 of each
        subset = "training" if i < 4 else "validation"
        database[f"vid{i}"] = _video(subset, 1.0, classes[i % 3])
        make_video(tmp_path / "videos", f"v_vid{i}", "mjpg", n=20)
    _annotations(tmp_path / "annotations", database)

    def tsn(*args):
        result = runner.invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result

    frames, lists, run = tmp_path / "frames", tmp_path / "lists", tmp_path / "run"
    tsn("flow", tmp_path / "videos", frames, "--algo", "dis", "--size", "64x48", "--workers", 1)
    tsn("lists", "activitynet", frames, "--source", "frames", "--annotations",
        tmp_path / "annotations", "--out", lists)  # fmt: skip
    instances = read_list(lists / "activitynet_rgb_train_split_1.txt")
    assert {(r.offset, r.num_frames) for r in instances} == {(10, 10)} and len(instances) == 4
    flow = read_list(lists / "activitynet_flow_train_split_1.txt")
    assert {(r.offset, r.num_frames) for r in flow} == {(10, 9)}
    for modality in ("rgb", "flow"):
        tsn("train", "activitynet", modality, "--lists-dir", lists, "--arch", "tiny",
            "--pretrained", "none", "--epochs", 1, "--batch-size", 2, "--out", run / modality,
            "--workers", 0)  # fmt: skip
        assert (run / modality / "last.pt").is_file()
    val = lists / "activitynet_rgb_val_split_1.txt"  # untrimmed frame folders: dense snippets
    tsn("eval", run / "rgb" / "last.pt", "--list", val, "--stride", 4, "--crops", 1,
        "--save-scores", tmp_path / "rgb.npz")  # fmt: skip
    from tsncli.engine.scores import load_scores

    assert [r.shape[0] for r in load_scores(tmp_path / "rgb.npz").raw] == [5, 5]
    # --step 2 keeps 10 of the 20 frames: the rate is the kept frames' (10 fps), frames 5..9
    tsn("flow", tmp_path / "videos", tmp_path / "step2", "--algo", "dis", "--size", "64x48",
        "--workers", 1, "--step", 2)  # fmt: skip
    tsn("lists", "activitynet", tmp_path / "step2", "--source", "frames", "--annotations",
        tmp_path / "annotations", "--out", tmp_path / "lists2", "--modality", "rgb")  # fmt: skip
    kept = read_list(tmp_path / "lists2" / "activitynet_rgb_train_split_1.txt")
    assert {(r.offset, r.num_frames) for r in kept} == {(5, 5)}


def test_zipped_frame_folders_give_the_same_rows_and_record_the_layout(runner, cli, anet):
    from tsncli.flow.pack import run_pack

    out, _ = _lists(runner, cli, anet)
    plain = {p.name: _rows(p) for p in out.glob("*_split_1.txt")}
    assert all("layout" not in read_list_header(out / name) for name in plain)
    run_pack(anet / "frames", to="zip")
    zipped = anet / "lists_zip"
    _lists(runner, cli, anet, "--out", str(zipped))  # the later --out wins
    for name, rows in plain.items():
        header = read_list_header(zipped / name)
        assert header["layout"] == "zip" and header["kind"] == "frames"
        assert _rows(zipped / name) == rows
