"""Something-Something V2: labels/train/validation JSON, read by `tsncli.lists.sthv2`. Its
classes are not mirror-invariant, so training never flips its clips."""

from __future__ import annotations

from tsncli.specs.datasets import DatasetSpec, Download, DownloadFile

NAME = "sthv2"

_LABELS_ZIP = "20bn-something-something-download-package-labels.zip"
_QUALCOMM = "https://softwarecenter.qualcomm.com/api/download/software/dataset/AIDataset"

# Two templates, one train and one validation video.
_EXAMPLE_FILES = (
    (
        "labels.json",
        '{"Pushing something from left to right": "0", '
        '"Pushing something from right to left": "1"}',
    ),
    (
        "train.json",
        '[{"id": "1", "label": "pushing a cup from left to right", '
        '"template": "Pushing [something] from left to right", "placeholders": ["a cup"]}]',
    ),
    (
        "validation.json",
        '[{"id": "2", "label": "pushing a cup from right to left", '
        '"template": "Pushing [something] from right to left", "placeholders": ["a cup"]}]',
    ),
)

SPECS = (
    DatasetSpec(
        NAME,
        "Something-Something V2: labels/train/validation JSON",
        annotations="tsncli.lists.sthv2:load_sthv2_annotations",
        # Qualcomm hosts the dataset since 2021; the label package holds labels/labels.json,
        # train.json, validation.json and test.json. The videos need a (free) registration.
        download=Download(
            "Something-Something V2 label package (videos not included)",
            (
                DownloadFile(
                    f"annotations/{_LABELS_ZIP}",
                    f"{_QUALCOMM}/Something-Something-V2/{_LABELS_ZIP}",
                ),
            ),
        ),
        # "pushing something from left to right" mirrored is another class
        flip=False,
        presets=("sthv2_rgb",),
        example_files=_EXAMPLE_FILES,
    ),
)
