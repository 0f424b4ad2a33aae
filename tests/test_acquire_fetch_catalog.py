"""The fetch catalog: entries, file names, torchvision URLs/hashes, cache paths, planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsncli.acquire import catalog
from tsncli.acquire.catalog import cache_dir, entry_names, get_entry, weights_path
from tsncli.acquire.fetching import mirror_urls, plan_fetch
from tsncli.errors import UsageError


def test_catalog_lists_datasets_models_and_every_backbone():
    names = entry_names()
    for name in ("ucf101", "hmdb51", "tsn-init", "tsn-reference", "weights/bninception"):
        assert name in names
    for arch in catalog.weight_archs():
        assert f"weights/{arch}" in names


def test_datasets_hold_their_archives():
    assert [f.filename for f in get_entry("ucf101").files] == [
        "UCF101.rar",
        "UCF101TrainTestSplits-RecognitionTask.zip",
    ]
    assert [f.filename for f in get_entry("hmdb51").files] == [
        "hmdb51_org.rar",
        "test_train_splits.rar",
    ]


def test_reference_models_are_twelve_and_saved_without_v5():
    files = get_entry("tsn-reference").files
    assert len(files) == 12
    assert all(f.url.endswith(".caffemodel.v5") for f in files)
    assert all(f.filename.endswith(".caffemodel") for f in files)
    assert "hmdb51_split_3_tsn_flow_reference_bn_inception.caffemodel" in {
        f.filename for f in files
    }


def test_torchvision_weights_come_from_torchvision_enums():
    import torchvision.models

    file = get_entry("weights/resnet50").files[0]
    expected = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url
    assert file.url == expected
    assert file.hash_prefix and expected.endswith(f"-{file.hash_prefix}.pth")


def test_bninception_weights_use_the_published_pth():
    file = get_entry("weights/bninception").files[0]
    assert (
        file.url == "https://yjxiong.blob.core.windows.net/models/bn_inception-9f5701afb96c8044.pth"
    )


def test_cache_dir_follows_tsn_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    expected = tmp_path / "home/weights/bn_inception-9f5701afb96c8044.pth"
    assert weights_path("bninception") == expected
    monkeypatch.delenv("TSN_HOME")
    assert cache_dir() == Path.home() / ".cache" / "tsn"


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(UsageError, match="resnet50"):
        weights_path("vgg16")


def test_unknown_entry_lists_valid_names():
    with pytest.raises(UsageError, match="ucf101"):
        get_entry("ucf-101")


def test_datasets_default_to_data_and_models_to_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TSN_HOME", str(tmp_path))
    items = plan_fetch(["ucf101", "tsn-init"])
    assert items[0].target.path == Path("data/ucf101/UCF101.rar")
    assert items[2].target.path == tmp_path / "tsn-init/bn_inception_rgb_init.caffemodel"


def test_mirror_takes_the_server_file_name_then_the_local_one():
    file = get_entry("tsn-reference").files[0]
    urls = mirror_urls(file, "https://m.example/tsn/")
    assert urls == (
        f"https://m.example/tsn/{file.filename}.v5",
        f"https://m.example/tsn/{file.filename}",
    )


def test_a_url_is_planned_as_a_single_file_with_the_given_sha256(tmp_path):
    (item,) = plan_fetch(["http://h/x/file%20a.bin"], dest=tmp_path, sha256="AB" * 32)
    assert item.target.path == tmp_path / "file a.bin"
    assert item.target.sha256 == "ab" * 32


def test_sha256_needs_exactly_one_file():
    with pytest.raises(UsageError, match="--sha256"):
        plan_fetch(["ucf101"], sha256="0" * 64)
