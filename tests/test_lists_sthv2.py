"""Something-Something V2 lists: labels.json templates -> indices, <id>.webm videos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from video_helpers import make_video

from tsncli.errors import DataError
from tsncli.lists.annotated import AnnotatedListsConfig, build_lists_from_annotations
from tsncli.lists.listfile import read_classes, read_list
from tsncli.lists.sthv2 import load_sthv2_annotations, normalize_template
from tsncli.specs.datasets import flip_policy

LABELS = {
    "Pushing something from left to right": "1",
    "Pushing something from right to left": "0",
    "Putting something on a surface": "2",
}


def _item(video_id: str, template: str, *placeholders: str) -> dict:
    label = template
    for p in placeholders:
        label = label.replace("[something]", p, 1)
    return {
        "id": video_id,
        "label": label,
        "template": template,
        "placeholders": list(placeholders),
    }


TRAIN = [
    _item("101", "Pushing [something] from left to right", "a cup"),
    _item("102", "Pushing [something] from right to left", "a pen"),
    _item("103", "Putting [something] on a surface", "keys"),
]
VAL = [
    _item("201", "Pushing [something] from left to right", "a box"),
    _item("202", "Putting [something] on a surface", "phone"),
]


def write_sthv2(folder: Path, labels: dict = LABELS, train: list = TRAIN, val: list = VAL) -> Path:
    """The label package as unzipped: `labels/labels.json`, `train.json`, `validation.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "train.json").write_text(json.dumps(train))
    (folder / "validation.json").write_text(json.dumps(val))
    (folder / "test.json").write_text(json.dumps([{"id": "301"}]))
    return folder


@pytest.fixture
def sthv2(tmp_path):
    write_sthv2(tmp_path / "annotations" / "labels")
    for video_id, n in (("101", 6), ("102", 7), ("201", 8), ("202", 5)):  # 103 is missing
        make_video(tmp_path / "videos", video_id, "mjpg", n=n)
    return tmp_path


def test_templates_lose_their_brackets():
    assert normalize_template("Pushing [something] from left to right") == (
        "Pushing something from left to right"
    )


def test_class_order_follows_the_label_indices_not_the_file_order(sthv2):
    ann = load_sthv2_annotations(sthv2 / "annotations")
    assert ann.classes[0] == "Pushing something from right to left"
    assert [e.label for e in ann.subsets["train"]] == [1, 0, 2]
    assert [e.video_id for e in ann.subsets["val"]] == ["201", "202"]


def test_a_template_labels_json_does_not_list_is_an_error_naming_it(tmp_path):
    bad = [_item("9", "Spinning [something] that quickly stops spinning", "a top")]
    write_sthv2(tmp_path, train=bad)
    with pytest.raises(DataError, match="Spinning something that quickly stops spinning"):
        load_sthv2_annotations(tmp_path)


def test_lists_name_webm_style_videos_by_id_and_list_the_missing(sthv2):
    config = AnnotatedListsConfig(
        dataset="sthv2",
        videos=str(sthv2 / "videos"),
        annotations=str(sthv2 / "annotations"),
        out=str(sthv2 / "lists"),
        modality=("rgb",),
        workers=1,
    )
    result = build_lists_from_annotations(config)
    train = read_list(sthv2 / "lists" / "sthv2_rgb_train_split_1.txt")
    assert [(Path(r.path).stem, r.num_frames, r.label) for r in train] == [
        ("101", 6, 1),
        ("102", 7, 0),
    ]
    classes = read_classes(sthv2 / "lists" / "sthv2_classes.txt")
    assert classes[2] == "Putting something on a surface"
    assert result.dropped == 1
    assert "train 103 no video file" in (sthv2 / "lists" / "sthv2_missing.txt").read_text()


def test_sthv2_is_never_flipped_and_the_others_are():
    assert flip_policy("sthv2") is False
    assert flip_policy("kinetics400") is True
    assert flip_policy("ucf101") is True
    assert flip_policy("my-own-dataset") is True
