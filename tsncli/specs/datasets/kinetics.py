"""Kinetics-400/600/700: train/validate annotation CSVs (videos come from YouTube or CVDF's
tarballs), read by `tsncli.lists.kinetics`; lists name video files."""

from __future__ import annotations

from tsncli.specs.datasets import DatasetSpec, Download, DownloadFile

# The variant readers assume when no dataset is named (messages say `tsn fetch <it>`).
DEFAULT = "kinetics400"

# Annotations on CVDF's S3 bucket, the URLs torchvision's `Kinetics` dataset downloads (K600
# serves its CSVs as .txt); MMAction2's copies (tools/data/kinetics) as the fall-back. Nobody
# publishes checksums for them.
_S3 = "https://s3.amazonaws.com/kinetics"
_OPENMMLAB = "https://download.openmmlab.com/mmaction/dataset"
_VARIANTS = {  # name -> (S3 folder, S3 extension, MMAction2 mirror?, presets)
    "kinetics400": ("400", "csv", True, ("kinetics400_rgb", "kinetics400_flow")),
    "kinetics600": ("600", "txt", True, ()),
    # MMAction2's copy is the older Kinetics-700
    "kinetics700": ("700_2020", "csv", False, ()),
}

# Two classes (one quoted, with a comma), one train and one validation clip each.
_EXAMPLE_FILES = (
    (
        "train.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,---QUuC4vJs,3,13,train\n"
        '"passing American football (in game)",--0NTAs-fA0,14,24,train\n',
    ),
    (
        "validate.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,0wR5jVB-WPk,417,427,validate\n"
        '"passing American football (in game)",-5Gq8-RxiBA,3,13,validate\n',
    ),
)


def _spec(
    name: str, folder: str, ext: str, mirrored: bool, presets: tuple[str, ...]
) -> DatasetSpec:
    classes = name.removeprefix("kinetics")
    files = []
    for subset in ("train", "val"):
        mirrors = (f"{_OPENMMLAB}/{name}/annotations/kinetics_{subset}.csv",) if mirrored else ()
        url = f"{_S3}/{folder}/annotations/{subset}.{ext}"
        files.append(DownloadFile(f"annotations/{subset}.csv", url, mirrors=mirrors))
    return DatasetSpec(
        name,
        f"Kinetics-{classes}: train/validate CSVs, video lists",
        annotations="tsncli.lists.kinetics:load_kinetics_annotations",
        download=Download(
            f"Kinetics-{classes} train/val annotation CSVs (videos not included)", tuple(files)
        ),
        presets=presets,
        lists_examples=(
            ("data/k400/videos --annotations data/k400/annotations",) if name == DEFAULT else ()
        ),
        example_files=_EXAMPLE_FILES,
    )


SPECS = tuple(_spec(name, *facts) for name, facts in _VARIANTS.items())
