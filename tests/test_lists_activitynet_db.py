"""ActivityNet's annotation file as the original reads it: leaf classes in sorted() order,
instances, subsets, ground truth, class-order differences and the submission file."""

import json

import pytest

from tsncli.errors import DataError
from tsncli.lists.activitynet import (
    class_order_differences,
    leaf_classes,
    load_activitynet,
    load_submission,
    parse_activitynet,
    video_id_of,
    write_submission,
)

TAXONOMY = [  # inner nodes, in no useful order, the root's parent null
    {"nodeId": 3, "nodeName": "archery", "parentId": 2, "parentName": "Sports"},
    {"nodeId": 1, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 2, "nodeName": "Sports", "parentId": 1, "parentName": "Root"},
    {"nodeId": 5, "nodeName": "Baking cookies", "parentId": 4, "parentName": "Food"},
    {"nodeId": 4, "nodeName": "Food", "parentId": 1, "parentName": "Root"},
    {"nodeId": 6, "nodeName": "BMX", "parentId": 2, "parentName": "Sports"},
]


def _doc():
    return {
        "version": "VERSION 1.3",
        "taxonomy": TAXONOMY,
        "database": {
            "-abc": {
                "subset": "training",
                "duration": 10.0,
                "annotations": [
                    {"segment": [1.0, 4.5], "label": "BMX"},
                    {"segment": [6.0, 9.0], "label": "BMX"},
                ],
            },
            "def": {
                "subset": "validation",
                "duration": 8.0,
                "annotations": [
                    {"segment": [0.0, 3.0], "label": "archery"},
                    {"segment": [4.0, 8.0], "label": "Baking cookies"},
                ],
            },
            "ghi": {"subset": "testing", "duration": 5.0, "annotations": []},
        },
    }


def test_classes_are_the_leaves_in_plain_sorted_order():
    # case-sensitive, as Python sorts: upper case first
    assert leaf_classes(TAXONOMY) == ("BMX", "Baking cookies", "archery")


def test_instances_are_named_video_and_index():
    db = parse_activitynet(_doc())
    train = db.subset_instances("training")
    assert [i.name for i in train] == ["-abc_0", "-abc_1"]
    assert (train[1].start, train[1].end, train[1].label) == (6.0, 9.0, "BMX")
    assert [v.video_id for v in db.subset_videos("testing")] == ["ghi"]


def test_ground_truth_holds_every_label_of_a_video():
    db = parse_activitynet(_doc())
    assert db.ground_truth("validation") == {"def": {"archery", "Baking cookies"}}
    assert db.ground_truth("testing") == {}


def test_a_label_that_is_no_leaf_is_refused():
    doc = _doc()
    doc["database"]["def"]["annotations"][0]["label"] = "Sports"
    with pytest.raises(DataError, match="'Sports', which is no leaf"):
        parse_activitynet(doc)


def test_files_that_are_not_annotations_say_what_to_use(tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"database": {}}))
    with pytest.raises(
        DataError, match="not an ActivityNet annotation file.*tsn fetch activitynet"
    ):
        load_activitynet(bad)
    with pytest.raises(DataError, match="run `tsn fetch activitynet` first"):
        load_activitynet(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_doc()))
    assert load_activitynet(good).version == "VERSION 1.3"


@pytest.mark.parametrize(
    "name, video_id",
    [("v_-abc.mp4", "-abc"), ("-abc.mkv", "-abc"), ("v_x_y", "x_y"), ("abc.webm", "abc")],
)
def test_video_ids_of_file_names(name, video_id):
    assert video_id_of(name) == video_id


def test_class_order_differences_name_moves_and_gaps():
    original = ("BMX", "Baking cookies", "archery")
    assert class_order_differences(original, list(original)) == []
    moved = class_order_differences(original, ["Baking cookies", "BMX", "archery"])
    assert moved == [
        "Baking cookies: label 0 (the original's 1)",
        "BMX: label 1 (the original's 0)",
    ]
    assert "missing: archery" in class_order_differences(original, ["BMX", "Baking cookies"])


def test_the_submission_round_trips_without_the_v_prefix(tmp_path):
    results = {"v_def": [("archery", 0.75), ("BMX", 0.25)]}
    path = write_submission(tmp_path / "sub.json", "VERSION 1.3", results, (True, "Kinetics"))
    doc = json.loads(path.read_text())
    assert doc["version"] == "VERSION 1.3"
    assert doc["external_data"] == {"used": True, "details": "Kinetics"}
    assert doc["results"] == {
        "def": [{"label": "archery", "score": 0.75}, {"label": "BMX", "score": 0.25}]
    }
    assert load_submission(path) == {"def": [("archery", 0.75), ("BMX", 0.25)]}
