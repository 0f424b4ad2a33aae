"""ActivityNet v1.3 (200 classes) and v1.2 (100): one annotation JSON per version; the videos come
from YouTube or the dataset's request form, never from `tsn fetch`. Read by
`tsncli.lists.activitynet`; lists name video files `v_<id>.<ext>` or `<id>.<ext>`."""

from __future__ import annotations

from tsncli.specs.datasets import DatasetSpec, Download, DownloadFile

# The host the ActivityNet challenge publishes the file on (MMAction2's download_annotations.sh
# uses it), then the copies in the official evaluation's repository (v1.3) and in TSN's own
# (data/activitynet_splits, both versions). Nobody publishes a size or checksum.
_HOST = "http://ec2-52-25-205-214.us-west-2.compute.amazonaws.com/files"
_GITHUB = "https://raw.githubusercontent.com"
_EVALUATION = f"{_GITHUB}/activitynet/ActivityNet/master/Evaluation/data"
_TSN = f"{_GITHUB}/yjxiong/temporal-segment-networks/master/data/activitynet_splits"
DEFAULT = "activitynet"  # v1.3, the version `tsn fetch activitynet` means


def _videos_note(name: str) -> str:
    return (
        "the videos come from YouTube or the dataset's request form (activity-net.org); put them "
        f"in data/{name}/videos/ named v_<id>.<ext> or <id>.<ext>"
    )


# A taxonomy with an inner node, one training and one validation video.
_EXAMPLE = (
    '{"version": "VERSION 1.3", "taxonomy": ['
    '{"nodeId": 1, "nodeName": "Root", "parentId": null, "parentName": null}, '
    '{"nodeId": 2, "nodeName": "Sports", "parentId": 1, "parentName": "Root"}, '
    '{"nodeId": 3, "nodeName": "BMX", "parentId": 2, "parentName": "Sports"}, '
    '{"nodeId": 4, "nodeName": "Baking cookies", "parentId": 1, "parentName": "Root"}], '
    '"database": {'
    '"-abc": {"subset": "training", "duration": 10.0, "url": "", "annotations": '
    '[{"segment": [1.0, 4.5], "label": "BMX"}]}, '
    '"def": {"subset": "validation", "duration": 8.0, "url": "", "annotations": '
    '[{"segment": [0.0, 3.0], "label": "Baking cookies"}]}}}'
)


def annotation_file_name(version: str) -> str:
    """`activity_net.v1-3.min.json` for "1.3"."""
    return f"activity_net.v{version.replace('.', '-')}.min.json"


def _spec(name: str, version: str, classes: int, presets: tuple[str, ...]) -> DatasetSpec:
    file = annotation_file_name(version)
    mirrors = (f"{_EVALUATION}/{file}",) if version == "1.3" else ()
    return DatasetSpec(
        name,
        f"ActivityNet v{version} ({classes} classes): untrimmed videos, annotation JSON",
        annotations="tsncli.lists.activitynet:load_activitynet_annotations",
        lists="tsncli.lists.activitynet_lists:ACTIVITYNET_LISTS",  # instances, untrimmed val
        download=Download(
            f"ActivityNet v{version} annotation JSON (videos not included)",
            (
                DownloadFile(
                    f"annotations/{file}", f"{_HOST}/{file}", mirrors=(*mirrors, f"{_TSN}/{file}")
                ),
            ),
        ),
        presets=presets,
        lists_examples=(
            (f"data/{name}/videos --annotations data/{name}/annotations",)
            if version == "1.3"
            else ()
        ),
        example_files=((f"{file}", _EXAMPLE),),
        videos_note=_videos_note(name),
        version_of=(DEFAULT, version),
    )


SPECS = (
    _spec(DEFAULT, "1.3", 200, ("activitynet_rgb", "activitynet_flow")),
    _spec(f"{DEFAULT}1.2", "1.2", 100, ()),
)
VERSIONS = {spec.name: spec.version_of[1] for spec in SPECS}  # dataset -> annotation version
