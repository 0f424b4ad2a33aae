"""`tsn lists activitynet`: the original's label order, `v_<id>` and `<id>` file names, missing
videos counted; training lists of trimmed instances (offsets at the video's frame rate, clamped,
too-short ones counted) or whole videos, multi-label untrimmed validation lists, `--classes`
orders; and `tsn fetch activitynet`'s entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from video_helpers import make_video

from tsncli.acquire.catalog import get_entry
from tsncli.errors import DataError
from tsncli.lists.activitynet import Instance, find_annotation_file, load_activitynet_annotations
from tsncli.lists.activitynet_lists import instance_frames, load_class_order
from tsncli.lists.listfile import read_classes, read_list, read_list_header

TAXONOMY = [
    {"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 2, "nodeName": "Sports", "parentId": 1, "parentName": "Root"},
    {"nodeId": 3, "nodeName": "archery", "parentId": 2, "parentName": "Sports"},
    {"nodeId": 4, "nodeName": "BMX", "parentId": 2, "parentName": "Sports"},
    {"nodeId": 5, "nodeName": "Baking cookies", "parentId": 1, "parentName": "Root"},
]


def _video(subset, *labels, spans=None):
    spans = spans or [(0.5, 1.0)] * len(labels)
    annotations = [{"segment": list(s), "label": lb} for s, lb in zip(spans, labels, strict=True)]
    return {"subset": subset, "duration": 1.0, "url": "", "annotations": annotations}


@pytest.fixture
def anet(tmp_path):
    # videos at 25 fps (make_video), so seconds * 25 are whole frames
    database = {
        # frames 10..29; 40..59 reaches past the 50 frames: clamped to 40..49
        "-abc": _video("training", "BMX", "BMX", spans=[(0.4, 1.2), (1.6, 2.4)]),
        # frames 0..19; then a span holding no frame of its own (29.75..30): too short
        "trn2": _video("training", "archery", "archery", spans=[(0.0, 0.8), (1.19, 1.2)]),
        "gone": _video("training", "Baking cookies"),  # no file
        "val1": _video("validation", "Baking cookies", "archery", "Baking cookies"),  # two labels
        "tst": {"subset": "testing", "duration": 1.0, "url": "", "annotations": []},
    }
    ann = tmp_path / "annotations"
    ann.mkdir()
    doc = {"version": "VERSION 1.3", "taxonomy": TAXONOMY, "database": database}
    (ann / "activity_net.v1-3.min.json").write_text(json.dumps(doc))
    videos = tmp_path / "videos"
    make_video(videos, "v_-abc", "mjpg", n=50)  # the v_<id> naming (BSN, MMAction2)
    make_video(videos, "trn2", "mp4v", n=30)  # plain <id>
    make_video(videos, "v_val1", "mjpg", n=10)
    make_video(videos, "v_tst", "mjpg", n=5)
    return tmp_path


def _lists(runner, cli, anet, *extra, modality="rgb"):
    args = [
        "lists",
        "activitynet",
        str(anet / "videos"),
        "--annotations",
        str(anet / "annotations"),
    ]
    args += ["--out", str(anet / "lists"), "--modality", modality, "--workers", "1", *extra]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return anet / "lists", result


def test_labels_follow_the_original_order_and_the_first_annotation(anet):
    ann = load_activitynet_annotations(anet / "annotations", "activitynet")
    assert ann.classes == ["BMX", "Baking cookies", "archery"]  # sorted(), case-sensitive
    train = {e.video_id: e for e in ann.subsets["train"]}
    assert set(train) == {"-abc", "trn2", "gone"}
    assert train["-abc"].stems == ("v_-abc", "-abc") and train["-abc"].label == 0
    val = ann.subsets["val"]
    assert [(e.video_id, e.label) for e in val] == [("val1", 1)]  # first of its two labels


def test_the_annotation_file_is_found_or_named(anet, tmp_path):
    found = find_annotation_file(anet / "annotations", "1.3")
    assert found.name == "activity_net.v1-3.min.json"
    assert find_annotation_file(found, "1.3") == found
    with pytest.raises(DataError, match=r"activity_net.v1-2.min.json.*tsn fetch activitynet1.2"):
        find_annotation_file(anet / "annotations", "1.2")


def test_unit_videos_writes_whole_video_lists_and_counts_the_missing(runner, cli, anet):
    out, _ = _lists(runner, cli, anet, "--unit", "videos")
    assert read_classes(out / "activitynet_classes.txt") == ["BMX", "Baking cookies", "archery"]
    train = read_list(out / "activitynet_rgb_train_split_1.txt")
    assert sorted((Path(r.path).name, r.offset, r.num_frames, r.label) for r in train) == [
        ("trn2.mp4", 0, 30, 2),
        ("v_-abc.avi", 0, 50, 0),
    ]
    assert "offsets" not in read_list_header(out / "activitynet_rgb_train_split_1.txt")
    val = read_list(out / "activitynet_rgb_val_split_1.txt")
    assert [(Path(r.path).name, r.label) for r in val] == [("v_val1.avi", 1)]
    assert "gone" in (out / "activitynet_missing.txt").read_text()
    assert yaml.safe_load((out / "activitynet_lists_config.yaml").read_text())["unit"] == "videos"


def test_training_instances_become_offset_lines_at_the_video_frame_rate(runner, cli, anet):
    out, result = _lists(runner, cli, anet, modality="rgb,flow")
    rgb = out / "activitynet_rgb_train_split_1.txt"
    assert read_list_header(rgb)["offsets"] == "1"
    lines = [(Path(r.path).name, r.offset, r.num_frames, r.label) for r in read_list(rgb)]
    assert lines == [("v_-abc.avi", 10, 20, 0), ("v_-abc.avi", 40, 10, 0), ("trn2.mp4", 0, 20, 2)]
    flow = read_list(out / "activitynet_flow_train_split_1.txt")  # one flow field fewer
    assert [(r.offset, r.num_frames) for r in flow] == [(10, 19), (40, 9), (0, 19)]
    assert "4 training instances; 1 clamped to their video" in result.output
    assert "too short for a snippet, left out: rgb 1, flow 1" in result.output
    assert "gone" in (out / "activitynet_missing.txt").read_text()
    saved = yaml.safe_load((out / "activitynet_lists_config.yaml").read_text())
    assert saved["unit"] == "instances" and saved["frame_rate"] == "video"
    assert saved["classes"] == "original" and saved["version"] == "VERSION 1.3"


def test_validation_lists_hold_every_label_of_an_untrimmed_video(runner, cli, anet):
    out, _ = _lists(runner, cli, anet, modality="rgb,flow")
    for modality, frames in (("rgb", 10), ("flow", 9)):
        path = out / f"activitynet_{modality}_val_split_1.txt"
        header = read_list_header(path)
        assert header["untrimmed"] == "1" and header["multilabel"] == "1"
        [record] = read_list(path)
        assert (Path(record.path).name, record.num_frames) == ("v_val1.avi", frames)
        assert record.labels == (1, 2) and record.label == 1  # distinct, in annotation order
    assert "v_val1.avi 10 1 2" in (out / "activitynet_rgb_val_split_1.txt").read_text()


def test_a_classes_file_reorders_the_labels_and_the_difference_is_printed(runner, cli, anet):
    order = anet / "action_name.csv"  # BSN's layout: a header row, then one class per row
    order.write_text("action\narchery\nBMX\nBaking cookies\n")
    out, result = _lists(runner, cli, anet, "--classes", str(order))
    assert read_classes(out / "activitynet_classes.txt") == ["archery", "BMX", "Baking cookies"]
    assert "class order differs from the original" in result.output
    assert "BMX: label 1 (the original's 0)" in result.output
    assert "archery: label 0 (the original's 2)" in result.output
    train = read_list(out / "activitynet_rgb_train_split_1.txt")
    assert [r.label for r in train] == [1, 1, 0]
    assert read_list(out / "activitynet_rgb_val_split_1.txt")[0].labels == (2, 0)
    saved = yaml.safe_load((out / "activitynet_lists_config.yaml").read_text())
    assert saved["classes"] == str(order)


def test_the_original_order_given_as_a_file_prints_no_difference(runner, cli, anet):
    order = anet / "classes.txt"
    order.write_text("BMX\nBaking cookies\narchery\n")
    _, result = _lists(runner, cli, anet, "--classes", str(order))
    assert "differs" not in result.output


def test_a_classes_file_lacking_a_class_is_an_error(runner, cli, anet):
    order = anet / "classes.txt"
    order.write_text("BMX\narchery\n")
    args = [
        "lists",
        "activitynet",
        str(anet / "videos"),
        "--annotations",
        str(anet / "annotations"),
    ]
    result = runner.invoke(cli, [*args, "--classes", str(order), "--out", str(anet / "o")])
    assert result.exit_code == 1
    assert "lacks 1 class(es)" in result.output and "'Baking cookies'" in result.output


def test_unit_and_classes_are_refused_for_other_datasets(runner, cli, tmp_path):
    result = runner.invoke(cli, ["lists", "kinetics400", str(tmp_path), "--unit", "videos"])
    assert result.exit_code == 1 and "--unit: only for ActivityNet lists" in result.output
    result = runner.invoke(cli, ["lists", "activitynet", str(tmp_path), "--unit", "clips"])
    assert result.exit_code == 1 and "use one of instances, videos" in result.output


@pytest.mark.parametrize(
    ("span", "num_frames", "expected"),
    [
        ((0.4, 1.2), 100, (10, 20, False)),  # frames k with 0.4 <= k / 25 < 1.2
        ((1.2, 2.4), 100, (30, 30, False)),  # 1.2 * 25 is 30.000000000000004, still frame 30
        ((0.41, 0.5), 100, (11, 2, False)),  # frame 10 is shown before 0.41 s
        ((-0.2, 0.2), 100, (0, 5, True)),  # before the video: clamped
        ((1.6, 2.4), 50, (40, 10, True)),  # past its end: clamped
        ((2.5, 3.0), 50, (50, 0, True)),  # wholly after it: nothing left
    ],
)
def test_instance_spans_become_the_frames_shown_inside_them(span, num_frames, expected):
    instance = Instance("v", 0, span[0], span[1], "BMX")
    assert instance_frames(instance, 25.0, num_frames) == expected


def test_class_order_files_are_read_in_each_layout(tmp_path):
    csv = tmp_path / "order.csv"
    csv.write_text("id,name\n0,b\n1,a\n")  # no `action` column: the first one
    assert load_class_order(csv) == ["0", "1"]
    csv.write_text("index,action\n0,b\n1,a\n")
    assert load_class_order(csv) == ["b", "a"]
    numbered = tmp_path / "activitynet_classes.txt"
    numbered.write_text("0 Baking cookies\n1 BMX\n")  # tsn lists' own classes file
    assert load_class_order(numbered) == ["Baking cookies", "BMX"]
    repeated = tmp_path / "twice.txt"
    repeated.write_text("BMX\nBMX\n")
    with pytest.raises(DataError, match="more than once"):
        load_class_order(repeated)


def test_fetch_entries_name_the_annotation_file_for_each_version():
    v13 = get_entry("activitynet")
    assert [f.filename for f in v13.files] == ["annotations/activity_net.v1-3.min.json"]
    assert "videos not included" in v13.description
    urls = [v13.files[0].url, *v13.files[0].mirrors]
    assert len(urls) == 3 and all(u.endswith("activity_net.v1-3.min.json") for u in urls)
    v12 = get_entry("activitynet1.2")
    assert v12.files[0].url.endswith("activity_net.v1-2.min.json")


def test_lists_train_eval_and_fuse_make_a_submission_end_to_end(runner, cli, tmp_path):
    classes = ["BMX", "Baking cookies", "archery"]
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [
        {"nodeId": i + 1, "nodeName": c, "parentId": 0, "parentName": "Root"}
        for i, c in enumerate(classes)
    ]
    database = {}
    for i in range(9):
        subset = "training" if i < 6 else "validation"
        database[f"vid{i}"] = _video(subset, classes[i % 3])
        make_video(tmp_path / "videos", f"v_vid{i}", "mjpg", n=20)
    database["vid8"]["annotations"].append({"segment": [0.1, 0.4], "label": "BMX"})
    ann = tmp_path / "activity_net.v1-3.min.json"
    ann.write_text(
        json.dumps({"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database})
    )
    lists, run = tmp_path / "lists", tmp_path / "run"

    def tsn(*args):
        result = runner.invoke(cli, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result

    tsn("lists", "activitynet", tmp_path / "videos", "--annotations", ann, "--out", lists,
        "--modality", "rgb", "--workers", 1)  # fmt: skip
    instances = read_list(lists / "activitynet_rgb_train_split_1.txt")  # trimmed: frames 13..19
    assert {(r.offset, r.num_frames) for r in instances} == {(13, 7)} and len(instances) == 6
    tsn("train", "activitynet", "rgb", "--lists-dir", lists, "--arch", "tiny", "--pretrained",
        "none", "--epochs", 1, "--batch-size", 3, "--out", run, "--workers", 0)  # fmt: skip
    scores = tmp_path / "rgb.npz"
    tsn("eval", run / "last.pt", "--list", lists / "activitynet_rgb_val_split_1.txt",
        "--stride", 4, "--crops", 1, "--save-scores", scores)  # fmt: skip
    from tsncli.engine.scores import load_scores

    dense = load_scores(scores)
    assert [r.shape[0] for r in dense.raw] == [5, 5, 5]  # centres 2, 6, 10, 14, 18 of 20 frames
    assert dense.meta["stride"] == 4 and dense.meta["snippets_per_second"] == pytest.approx(25 / 4)
    sub = tmp_path / "sub.json"
    result = tsn("fuse", scores, "--snippet-agg", "mtwi", "--annotations", ann,
                 "--submission", sub, "--json")  # fmt: skip
    payload = json.loads(result.stdout)
    doc = json.loads(sub.read_text())
    assert set(doc["results"]) == {"vid6", "vid7", "vid8"}
    assert all(len(rows) == 3 for rows in doc["results"].values())
    assert 0.0 <= payload["map"] <= 1.0 and payload["hit3"] == 1.0  # 3 classes: all in the top 3


def test_fetch_version_picks_the_annotation_file_and_says_where_videos_come_from(
    runner, cli, tmp_path
):
    from tsncli.specs.datasets import dataset_version

    assert dataset_version("activitynet", "1.2") == "activitynet1.2"
    assert dataset_version("activitynet", "1.3") == "activitynet"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "activity_net.v1-2.min.json").write_text("{}")  # adopted: no network
    args = ["fetch", "activitynet", "--version", "1.2", "--from", str(mine)]
    result = runner.invoke(cli, [*args, "--dest", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("activity_net.v1-2.min.json")
    assert "activitynet1.2: the videos come from YouTube" in result.stderr
    assert "data/activitynet1.2/videos/" in result.stderr
    bad = runner.invoke(cli, ["fetch", "ucf101", "--version", "2"])
    assert bad.exit_code == 1
    assert "ucf101 has no version '2'; versions: none" in bad.stderr
