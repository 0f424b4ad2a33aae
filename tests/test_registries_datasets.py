"""Every registered dataset is whole: its lists parse, its download is in the catalog, `tsn unpack`
knows what to expect of it, its presets load and its flip policy is a bool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tsncli.acquire.catalog import entry_names, get_entry
from tsncli.acquire.unpack import split_video_paths
from tsncli.commands.unpack import complete_target
from tsncli.config import list_presets, load_preset
from tsncli.errors import UsageError
from tsncli.lists.annotated import is_annotated, load_annotations
from tsncli.lists.builder import load_official_splits
from tsncli.specs.datasets import DATASETS, flip_policy, unpackable_datasets

NAMES = DATASETS.names()
OFFICIAL = [n for n in NAMES if DATASETS.get(n).official]


def write_example(spec, folder: Path) -> Path:
    for relative, text in spec.example_files:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    return folder


@pytest.mark.parametrize("name", OFFICIAL)
def test_every_official_dataset_parses_its_minimal_example(name, tmp_path):
    spec = DATASETS.get(name)
    assert spec.example_files, f"{name} needs example_files: a minimal copy of its files"
    folder = write_example(spec, tmp_path / "files")
    if spec.splits is not None:
        parsed = load_official_splits(name, folder)
        assert parsed.classes
        assert list(parsed.splits) == spec.splits.split_numbers(folder)
        subsets = parsed.splits.values()
    else:
        parsed = load_annotations(name, folder)
        assert parsed.classes
        subsets = [parsed.subsets]
    for subset in subsets:
        assert subset["train"] and subset["val"]
        labels = {e.label for entries in subset.values() for e in entries}
        assert labels <= set(range(len(parsed.classes)))


def test_a_dataset_is_read_from_split_files_or_annotations_not_both():
    for name in NAMES:
        spec = DATASETS.get(name)
        assert not (spec.splits and spec.annotations), name
        assert is_annotated(name) == (spec.annotations is not None)
    assert not is_annotated("not-registered")


@pytest.mark.parametrize("name", [n for n in NAMES if DATASETS.get(n).annotations])
def test_annotation_readers_resolve_to_functions_in_lists(name):
    module, _, function = DATASETS.get(name).annotations.partition(":")
    assert module.startswith("tsncli.lists.") and function
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_every_download_is_a_catalog_entry_with_the_same_files():
    datasets = [n for n in NAMES if DATASETS.get(n).download is not None]
    assert datasets
    for name in datasets:
        download = DATASETS.get(name).download
        entry = get_entry(name)
        assert (entry.kind, entry.description) == ("dataset", download.description)
        assert [f.filename for f in entry.files] == [f.filename for f in download.files]
        assert [f.urls for f in entry.files] == [(f.url, *f.mirrors) for f in download.files]
    catalog_datasets = [n for n in entry_names() if get_entry(n).kind == "dataset"]
    assert catalog_datasets == datasets  # in registry order, before models and weights


def test_datasets_without_official_files_have_nothing_to_fetch_or_unpack():
    for name in NAMES:
        spec = DATASETS.get(name)
        if not spec.official:
            assert spec.download is None and spec.unpack is None, name


@pytest.mark.parametrize("name", unpackable_datasets())
def test_every_unpackable_dataset_has_archives_split_files_and_counts(name, tmp_path):
    spec = DATASETS.get(name)
    assert spec.download is not None and len(spec.download.files) >= 2  # videos + splits
    assert spec.splits is not None
    assert spec.unpack.videos > 0 and spec.unpack.classes > 0
    folder = write_example(spec, tmp_path / "splits")
    named = split_video_paths(name, folder)
    assert named and all("/" in path and path == path.lower() for path in named)


def test_unpack_offers_exactly_the_unpackable_datasets():
    unpackable = unpackable_datasets()
    assert unpackable == [n for n in NAMES if DATASETS.get(n).unpack is not None]
    assert complete_target("") == unpackable


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_a_dataset_names_ships_and_loads(name):
    for preset in DATASETS.get(name).presets:
        assert preset in list_presets()
        assert load_preset(preset)


def test_flip_policy_is_a_bool_for_every_dataset_and_true_when_unknown():
    for name in NAMES:
        assert isinstance(DATASETS.get(name).flip, bool)
        assert flip_policy(name) is DATASETS.get(name).flip
    assert flip_policy("my-own-dataset") is True


def test_an_unknown_dataset_names_the_registered_ones():
    with pytest.raises(UsageError, match="use one of: " + ", ".join(NAMES)):
        DATASETS.get("nope")


def test_lists_help_examples_name_only_registered_datasets(runner, cli):
    result = runner.invoke(cli, ["lists", "--help"])
    assert result.exit_code == 0
    examples = [line.split()[3] for line in result.output.splitlines() if "$ tsn lists" in line]
    assert examples and set(examples) <= set(NAMES)


def test_the_registry_imports_without_torch_numpy_or_opencv():
    code = (
        "import sys, tsncli.specs.datasets as d; assert d.DATASETS.names(); "
        "print(sorted(m for m in ('torch', 'numpy', 'cv2') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_dataset_names_a_lists_builder_that_loads():
    from tsncli.lists.fronts import ListsBuilder, builder_options, lists_builder

    for name in NAMES:
        builder = lists_builder(name)
        assert isinstance(builder, ListsBuilder), name
        assert callable(builder.resolve) and callable(builder.build), name
    assert lists_builder("my_own_videos").name == "split"  # not registered: the user's videos
    assert builder_options() == {"unit": "ActivityNet", "classes": "ActivityNet"}
    assert lists_builder("activitynet1.2").options == ("unit", "classes")
