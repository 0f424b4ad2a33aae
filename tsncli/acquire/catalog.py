"""The catalog of fetchable things (datasets, annotations, Caffe models, ImageNet weights).

Entries are registered by name; `tsn fetch NAME` and shell completion read this registry. Each
file lists its URLs in the order they are tried; sizes and sha256 sums are the published ones
(`checksum_source` names where), never computed here. torchvision URLs and hash prefixes come
from torchvision's `*_Weights` enums, read lazily so completion never imports torchvision.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tsncli.acquire.catalog_types import CatalogEntry, RemoteFile, cache_dir
from tsncli.acquire.weights import WEIGHTS_PREFIX, weight_archs, weights_catalog_entry
from tsncli.errors import DataError, UsageError
from tsncli.registry import Registry

__all__ = [  # re-exported: callers import the catalog's whole vocabulary from here
    "CATALOG", "WEIGHTS_PREFIX", "CatalogEntry", "RemoteFile", "cache_dir", "cached_weights_path",
    "entry_names", "fetch_weights_command", "get_entry", "weight_archs", "weights_entry_name",
    "weights_path",
]  # fmt: skip

CATALOG: Registry[Callable[[], CatalogEntry]] = Registry("catalog entry")


def entry_names() -> list[str]:
    """Every catalog name, datasets first (cheap: imports nothing)."""
    return CATALOG.names()


def get_entry(name: str) -> CatalogEntry:
    """The entry called `name`; `weights ARCH` may be written `weights/ARCH`."""
    return CATALOG.get(name)()


def weights_entry_name(arch: str) -> str:
    """The catalog name of ImageNet weights for `arch` (unknown arch -> error listing archs)."""
    archs = weight_archs()
    if arch not in archs:
        raise UsageError(f"no ImageNet weights for {arch!r}; use one of: {', '.join(archs)}")
    return WEIGHTS_PREFIX + arch


def weights_path(arch: str) -> Path:
    """Where `tsn fetch weights ARCH` puts ImageNet weights for `arch` (may not exist yet)."""
    entry = get_entry(weights_entry_name(arch))
    return entry.default_dest() / entry.files[0].filename


def cached_raft_weights(name: str) -> Path:
    """The RAFT file `tsn fetch weights NAME` saved; a DataError naming that command if missing
    (no torch needed, so `tsn flow`'s parent checks it before starting workers)."""
    return cached_weights_path(name, f"{name} weights")


def cached_weights_path(arch: str, what: str, also: str = "") -> Path:
    """The file `tsn fetch weights ARCH` saved; a DataError naming that command if it is missing.

    `what` names the weights in the message ("ImageNet weights for resnet18"); `also` adds a
    second way out (", or train with --pretrained none").
    """
    path = weights_path(arch)
    if not path.is_file():
        raise DataError(
            f"{what} are not in the cache ({path}); run `{fetch_weights_command(arch)}` first{also}"
        )
    return path


def fetch_weights_command(arch: str) -> str:
    """The exact command that downloads the weights for `arch`."""
    return f"tsn fetch weights {arch}"


_UCF = "https://www.crcv.ucf.edu"
_HMDB = "serre-lab.clps.brown.edu/wp-content/uploads/2013/10"
_TSN_BLOB = "https://yjxiong.blob.core.windows.net"
GB = 1_000_000_000
# TensorFlow Datasets' published size and sha256 of the UCF101 split ZIP (the URL is theirs):
# github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/ucf101.txt
_TFDS_UCF101 = "TensorFlow Datasets url_checksums/ucf101.txt"


def _ucf101() -> CatalogEntry:
    return CatalogEntry(
        "ucf101",
        "dataset",
        "UCF101: 13320 videos, 101 classes (videos RAR + official splits ZIP)",
        (
            RemoteFile(
                "UCF101.rar",
                f"{_UCF}/data/UCF101/UCF101.rar",
                approx_bytes=int(6.5 * GB),
                # the path FiftyOne's UCF101 downloader uses since the site moved
                mirrors=(f"{_UCF}/datasets/human-actions/ucf101/UCF101.rar",),
            ),
            RemoteFile(
                "UCF101TrainTestSplits-RecognitionTask.zip",
                f"{_UCF}/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
                size=113_943,
                sha256="5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
                checksum_source=_TFDS_UCF101,
                mirrors=(
                    f"{_UCF}/wp-content/uploads/2019/03/UCF101TrainTestSplits-RecognitionTask.zip",
                ),
            ),
        ),
    )


def _hmdb51() -> CatalogEntry:
    # The Brown host is reported defunct (2025). No maintained loader publishes a checksum for
    # these RARs, and the copies other tools moved to (Google Drive folders, re-packed ZIPs on
    # the Hugging Face Hub) are different files, so only the original host's URLs are listed;
    # use --mirror or --from for a copy you trust.
    return CatalogEntry(
        "hmdb51",
        "dataset",
        "HMDB51: 6766 videos, 51 classes (RAR of 51 RARs + official splits RAR)",
        tuple(
            RemoteFile(
                name,
                f"https://{_HMDB}/{name}",
                approx_bytes=approx,
                mirrors=(f"http://{_HMDB}/{name}",),
            )
            for name, approx in (
                ("hmdb51_org.rar", int(2.1 * GB)),
                ("test_train_splits.rar", 200_000),
            )
        ),
    )


def _tsn_init() -> CatalogEntry:
    files = tuple(
        RemoteFile(
            f"bn_inception_{m}_init.caffemodel",
            f"{_TSN_BLOB}/tsn-init/bn_inception_{m}_init.caffemodel",
            approx_bytes=45_000_000,
        )
        for m in ("rgb", "flow")
    )
    return CatalogEntry(
        "tsn-init", "caffe", "TSN Caffe init models (BN-Inception RGB, flow)", files
    )


def _tsn_reference() -> CatalogEntry:
    files = []
    for ds in ("ucf101", "hmdb51"):
        for split in (1, 2, 3):
            for modality in ("rgb", "flow"):
                stem = f"{ds}_split_{split}_tsn_{modality}_reference_bn_inception.caffemodel"
                # saved without the server's `.v5` suffix, as the original scripts did
                url = f"{_TSN_BLOB}/tsn-reference-models/{stem}.v5"
                files.append(RemoteFile(stem, url, approx_bytes=40_000_000))
    return CatalogEntry(
        "tsn-reference",
        "caffe",
        "The 12 released TSN Caffe models (UCF101/HMDB51 x 3 splits x RGB/flow)",
        tuple(files),
    )


# Kinetics annotations on CVDF's S3 bucket, the URLs torchvision's `Kinetics` dataset downloads
# (K600 serves its CSVs as .txt); MMAction2's copies (tools/data/kinetics) as the fall-back.
# Nobody publishes checksums for them. The videos come from YouTube or CVDF's tarballs.
_KINETICS_S3 = "https://s3.amazonaws.com/kinetics"
_OPENMMLAB = "https://download.openmmlab.com/mmaction/dataset"
_KINETICS = {  # name -> (S3 folder, S3 extension, MMAction2 mirror?)
    "kinetics400": ("400", "csv", True),
    "kinetics600": ("600", "txt", True),
    "kinetics700": ("700_2020", "csv", False),  # MMAction2's copy is the older Kinetics-700
}
_STHV2_LABELS = "20bn-something-something-download-package-labels.zip"
_QUALCOMM = "https://softwarecenter.qualcomm.com/api/download/software/dataset/AIDataset"


def _kinetics(name: str) -> CatalogEntry:
    folder, ext, mirrored = _KINETICS[name]
    files = []
    for subset in ("train", "val"):
        mirrors = (f"{_OPENMMLAB}/{name}/annotations/kinetics_{subset}.csv",) if mirrored else ()
        url = f"{_KINETICS_S3}/{folder}/annotations/{subset}.{ext}"
        files.append(RemoteFile(f"annotations/{subset}.csv", url, mirrors=mirrors))
    classes = name.removeprefix("kinetics")
    return CatalogEntry(
        name,
        "dataset",
        f"Kinetics-{classes} train/val annotation CSVs (videos not included)",
        tuple(files),
    )


def _sthv2() -> CatalogEntry:
    # Qualcomm hosts the dataset since 2021; the label package holds labels/labels.json,
    # train.json, validation.json and test.json. The videos need a (free) registration.
    label_zip = RemoteFile(
        f"annotations/{_STHV2_LABELS}", f"{_QUALCOMM}/Something-Something-V2/{_STHV2_LABELS}"
    )
    return CatalogEntry(
        "sthv2",
        "dataset",
        "Something-Something V2 label package (videos not included)",
        (label_zip,),
    )


CATALOG.add("ucf101", _ucf101)
CATALOG.add("hmdb51", _hmdb51)
for _name in _KINETICS:
    CATALOG.add(_name, lambda n=_name: _kinetics(n))
CATALOG.add("sthv2", _sthv2)
CATALOG.add("tsn-init", _tsn_init)
CATALOG.add("tsn-reference", _tsn_reference)
for _arch in weight_archs():
    CATALOG.add(WEIGHTS_PREFIX + _arch, lambda a=_arch: weights_catalog_entry(a))
