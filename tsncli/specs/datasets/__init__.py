"""The dataset registry: one `DatasetSpec` per name users pass to `tsn fetch`, `unpack`, `lists`
and `train`, carrying everything about it (how its lists are read, what `fetch` downloads, what
`unpack` expects, its flip policy, its presets). Each module of this package defines `SPECS`;
modules are found on import, so adding a dataset is adding one file here (plus its presets).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from tsncli.errors import UsageError
from tsncli.registry import Registry
from tsncli.specs.datasets.splitfiles import SplitFormat


@dataclass(frozen=True)
class DownloadFile:
    """One file `tsn fetch` downloads (acquire turns it into a `RemoteFile`, same fields)."""

    filename: str  # the name it gets on disk, under data/<dataset>/
    url: str
    size: int | None = None  # exact bytes, published
    sha256: str | None = None  # full hex digest, published
    approx_bytes: int | None = None  # for display only when the exact size is unknown
    mirrors: tuple[str, ...] = ()  # further URLs of the same file, tried in order after `url`
    checksum_source: str | None = None  # where `size`/`sha256` were published


@dataclass(frozen=True)
class Download:
    """What `tsn fetch NAME` gets: a one-line description and the files, in order."""

    description: str
    files: tuple[DownloadFile, ...]


@dataclass(frozen=True)
class UnpackCounts:
    """`tsn unpack NAME` handles this dataset (its download is a videos archive and a splits
    archive); a complete copy holds `videos` videos in `classes` class folders."""

    videos: int
    classes: int


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset users choose by name. Its lists come from official split files (`splits`),
    annotation files (`annotations`: a "module:function" reader in `tsncli.lists`, named by
    string because this table sits below the code it names) or, with neither, the user's own
    videos. `flip` False: training never mirrors its clips (its classes are not mirror-invariant).
    """

    name: str
    help: str  # one line, shown by completion
    splits: SplitFormat | None = None
    annotations: str | None = None  # reader(folder, dataset) -> tsncli.lists.annotated.Annotations
    download: Download | None = None  # None: nothing to download
    unpack: UnpackCounts | None = None  # None: `tsn unpack` does not know it
    flip: bool = True
    presets: tuple[str, ...] = ()  # names of tsncli/configs/*.yaml for it
    lists_examples: tuple[str, ...] = ()  # arguments after `tsn lists NAME`, for --help
    # where the videos come from when `tsn fetch` cannot get them (printed after the fetch)
    videos_note: str | None = None
    # (family, version): `tsn fetch FAMILY --version VERSION` fetches this spec
    version_of: tuple[str, str] | None = None
    # a minimal valid copy of its split or annotation files: (relative path, text) pairs
    example_files: tuple[tuple[str, str], ...] = ()
    # "module:attr" of the `tsncli.lists.fronts.ListsBuilder` writing its lists; None: from
    # split files (or the user's own videos), or from `annotations` when it has them
    lists: str | None = None

    @property
    def official(self) -> bool:
        """Whether it ships its own split or annotation files (False: the user's own videos)."""
        return self.splits is not None or self.annotations is not None


DATASETS: Registry[DatasetSpec] = Registry("dataset")

# Modules listed first keep the order users have always seen; any other module follows by name.
_LISTED_FIRST = ("ucf101", "hmdb51", "toy", "custom", "kinetics", "sthv2")


def _register_all() -> None:
    found = {m.name for m in pkgutil.iter_modules(__path__)}
    for module_name in [*_LISTED_FIRST, *sorted(found - set(_LISTED_FIRST))]:
        module = importlib.import_module(f"{__name__}.{module_name}")
        for spec in getattr(module, "SPECS", ()):
            DATASETS.add(spec.name, spec)


_register_all()


def flip_policy(dataset: str) -> bool:
    """Whether training may mirror clips of `dataset` (True for datasets not registered)."""
    return DATASETS.get(dataset).flip if dataset in DATASETS else True


def unpackable_datasets() -> list[str]:
    """The datasets `tsn unpack NAME` knows, in registry order."""
    return [name for name in DATASETS if DATASETS.get(name).unpack is not None]


def dataset_version(family: str, version: str) -> str:
    """The dataset `tsn fetch FAMILY --version VERSION` means; a UsageError listing the versions
    FAMILY has (or saying it has none)."""
    versions = {
        spec.version_of[1]: name
        for name in DATASETS
        if (spec := DATASETS.get(name)).version_of and spec.version_of[0] == family
    }
    if version not in versions:
        have = ", ".join(sorted(versions)) if versions else "none (it has one version)"
        raise UsageError(f"{family} has no version {version!r}; versions: {have}")
    return versions[version]
