"""`tsn lists activitynet`: whole-video lists from the annotation JSON, the original's label order,
`v_<id>` and `<id>` file names, missing videos counted; and `tsn fetch activitynet`'s entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from video_helpers import make_video

from tsncli.acquire.catalog import get_entry
from tsncli.errors import DataError
from tsncli.lists.activitynet import find_annotation_file, load_activitynet_annotations
from tsncli.lists.listfile import read_classes, read_list

TAXONOMY = [
    {"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 2, "nodeName": "Sports", "parentId": 1, "parentName": "Root"},
    {"nodeId": 3, "nodeName": "archery", "parentId": 2, "parentName": "Sports"},
    {"nodeId": 4, "nodeName": "BMX", "parentId": 2, "parentName": "Sports"},
    {"nodeId": 5, "nodeName": "Baking cookies", "parentId": 1, "parentName": "Root"},
]


def _video(subset, *labels):
    annotations = [{"segment": [0.5, 1.0], "label": lb} for lb in labels]
    return {"subset": subset, "duration": 1.0, "url": "", "annotations": annotations}


@pytest.fixture
def anet(tmp_path):
    database = {
        "-abc": _video("training", "BMX", "BMX"),
        "trn2": _video("training", "archery"),
        "gone": _video("training", "Baking cookies"),  # no file
        "val1": _video("validation", "Baking cookies", "archery"),  # two labels
        "tst": {"subset": "testing", "duration": 1.0, "url": "", "annotations": []},
    }
    ann = tmp_path / "annotations"
    ann.mkdir()
    doc = {"version": "VERSION 1.3", "taxonomy": TAXONOMY, "database": database}
    (ann / "activity_net.v1-3.min.json").write_text(json.dumps(doc))
    videos = tmp_path / "videos"
    make_video(videos, "v_-abc", "mjpg", n=12)  # the v_<id> naming (BSN, MMAction2)
    make_video(videos, "trn2", "mp4v", n=9)  # plain <id>
    make_video(videos, "v_val1", "mjpg", n=10)
    make_video(videos, "v_tst", "mjpg", n=5)
    return tmp_path


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


def test_cli_writes_activitynet_lists_and_counts_the_missing(runner, cli, anet):
    out = anet / "lists"
    args = [
        "lists",
        "activitynet",
        str(anet / "videos"),
        "--annotations",
        str(anet / "annotations"),
    ]
    result = runner.invoke(cli, [*args, "--out", str(out), "--modality", "rgb", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert read_classes(out / "activitynet_classes.txt") == ["BMX", "Baking cookies", "archery"]
    train = read_list(out / "activitynet_rgb_train_split_1.txt")
    assert sorted((Path(r.path).name, r.num_frames, r.label) for r in train) == [
        ("trn2.mp4", 9, 2),
        ("v_-abc.avi", 12, 0),
    ]
    val = read_list(out / "activitynet_rgb_val_split_1.txt")
    assert [(Path(r.path).name, r.label) for r in val] == [("v_val1.avi", 1)]
    assert "gone" in (out / "activitynet_missing.txt").read_text()


def test_fetch_entries_name_the_annotation_file_for_each_version():
    v13 = get_entry("activitynet")
    assert [f.filename for f in v13.files] == ["annotations/activity_net.v1-3.min.json"]
    assert "videos not included" in v13.description and "YouTube" in v13.description
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
    tsn("train", "activitynet", "rgb", "--lists-dir", lists, "--arch", "tiny", "--pretrained",
        "none", "--epochs", 1, "--batch-size", 3, "--out", run, "--workers", 0)  # fmt: skip
    scores = tmp_path / "rgb.npz"
    tsn("eval", run / "last.pt", "--list", lists / "activitynet_rgb_val_split_1.txt",
        "--segments", 6, "--crops", 1, "--keep-raw", "--save-scores", scores)  # fmt: skip
    sub = tmp_path / "sub.json"
    result = tsn("fuse", scores, "--snippet-agg", "mtwi", "--annotations", ann,
                 "--submission", sub, "--json")  # fmt: skip
    payload = json.loads(result.stdout)
    doc = json.loads(sub.read_text())
    assert set(doc["results"]) == {"vid6", "vid7", "vid8"}
    assert all(len(rows) == 3 for rows in doc["results"].values())
    assert 0.0 <= payload["map"] <= 1.0 and payload["hit3"] == 1.0  # 3 classes: all in the top 3
