"""`tsn fetch` end to end against a 127.0.0.1 server: URLs, mirrors, --from, --jobs, --list, toy."""

from __future__ import annotations

import hashlib
import json

import pytest

from tsncli.acquire import catalog, download
from tsncli.acquire.download import part_path

DATA = b"tsn-test-bytes" * 5000


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(download, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(download, "RETRIES", 1)
    monkeypatch.setenv("TSN_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TSN_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)


def one_error(output: str) -> str:
    """The single `error: ...` message (Rich may soft-wrap it at the terminal width)."""
    assert output.count("error:") == 1, output
    return " ".join(output[output.index("error:") :].split())


def fetch(runner, cli, *args, env=None):
    return runner.invoke(cli, ["fetch", *args], env=env)


def test_fetch_url_downloads_and_prints_the_path(runner, cli, server, tmp_path):
    url = server.add("/f/a.bin", DATA)
    result = fetch(runner, cli, url, "--dest", "dl", "--sha256", hashlib.sha256(DATA).hexdigest())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dl/a.bin").read_bytes() == DATA
    assert result.stdout.strip().endswith("dl/a.bin")


def test_fetch_url_defaults_to_data(runner, cli, server, tmp_path):
    result = fetch(runner, cli, server.add("/a.bin", DATA))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data/a.bin").is_file()


def test_checksum_mismatch_exits_1_in_one_line_and_keeps_nothing(runner, cli, server, tmp_path):
    url = server.add("/a.bin", DATA)
    result = fetch(runner, cli, url, "--dest", "dl", "--sha256", "0" * 64)
    assert result.exit_code == 1
    error = one_error(result.output)
    assert error.startswith("error: checksum mismatch") and "--mirror" in error
    assert not (tmp_path / "dl/a.bin").exists() and not part_path(tmp_path / "dl/a.bin").exists()


def test_404_exits_1_naming_the_url_and_the_remedies(runner, cli, server):
    url = server.base + "/gone.rar"
    result = fetch(runner, cli, url)
    assert result.exit_code == 1
    error = one_error(result.output)
    assert url in error and "HTTP 404" in error and "--mirror" in error and "--from" in error


def test_partial_download_resumes_from_the_cli(runner, cli, server, tmp_path):
    url = server.add("/a.bin", DATA)
    (tmp_path / "data").mkdir()
    part_path(tmp_path / "data/a.bin").write_bytes(DATA[:1000])
    assert fetch(runner, cli, url).exit_code == 0
    assert server.files["/a.bin"].requests == ["bytes=1000-"]
    assert (tmp_path / "data/a.bin").read_bytes() == DATA


def test_mirror_fetches_catalog_files_by_name(runner, cli, server, tmp_path):
    for m in ("rgb", "flow"):
        server.add(f"/m/bn_inception_{m}_init.caffemodel", m.encode() * 100)
    result = fetch(runner, cli, "tsn-init", "--mirror", server.base + "/m/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache/tsn-init/bn_inception_flow_init.caffemodel").read_bytes() == (
        b"flow" * 100
    )


def test_tsn_mirror_environment_variable_works_like_the_option(runner, cli, server, tmp_path):
    for m in ("rgb", "flow"):
        server.add(f"/env/bn_inception_{m}_init.caffemodel", b"x")
    result = fetch(runner, cli, "tsn-init", env={"TSN_MIRROR": server.base + "/env"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache/tsn-init/bn_inception_rgb_init.caffemodel").exists()


def test_jobs_fetch_the_twelve_reference_models_in_parallel_without_v5(runner, cli, server):
    for file in catalog.get_entry("tsn-reference").files:
        server.add(f"/ref/{file.remote_name}", file.filename.encode())
    result = fetch(runner, cli, "tsn-reference", "--mirror", server.base + "/ref", "--jobs", "4")
    assert result.exit_code == 0, result.output
    paths = result.stdout.split()
    assert len(paths) == 12 and all(p.endswith(".caffemodel") for p in paths)


def test_from_folder_adopts_files_without_any_download(runner, cli, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    for file in catalog.get_entry("hmdb51").files:  # no published checksums to fail
        with open(downloads / file.filename, "wb") as handle:
            handle.write(b"archive")
            handle.truncate(file.approx_bytes)  # sparse: the catalog's approximate size
    mirror = "http://127.0.0.1:9/never-used"
    result = fetch(runner, cli, "hmdb51", "--from", str(downloads), "--mirror", mirror)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "data/hmdb51/hmdb51_org.rar", "rb") as adopted:
        assert adopted.read(7) == b"archive"


def test_from_a_file_far_from_the_catalog_size_is_refused(runner, cli, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    (downloads / "hmdb51_org.rar").write_bytes(b"<html>404</html>")  # an error page, ~2 GB wanted
    (downloads / "test_train_splits.rar").write_bytes(b"x" * 200_000)
    result = fetch(runner, cli, "hmdb51", "--from", str(downloads))
    assert result.exit_code == 1
    error = one_error(result.output)
    assert "hmdb51_org.rar is about 2,100,000,000" in error and "--sha256" in error
    assert not (tmp_path / "data/hmdb51/hmdb51_org.rar").exists()


def test_from_a_file_that_matches_no_catalog_file_is_refused(runner, cli, tmp_path):
    stray = tmp_path / "renamed.rar"
    stray.write_bytes(b"x")
    result = fetch(runner, cli, "hmdb51", "--from", str(stray))
    assert result.exit_code == 1
    assert "cannot tell which file" in result.output


def test_weights_land_in_the_cache_at_weights_path(runner, cli, server):
    server.add("/w/bn_inception-9f5701afb96c8044.pth", DATA)
    result = fetch(runner, cli, "weights", "bninception", "--mirror", server.base + "/w")
    assert result.exit_code == 0, result.output
    assert catalog.weights_path("bninception").read_bytes() == DATA


def test_an_unwritable_tsn_home_is_one_line_before_any_request(
    runner, cli, server, monkeypatch, tmp_path
):
    (tmp_path / "a_file").write_bytes(b"")
    home = tmp_path / "a_file" / "home"  # under a file: not writable, even by root
    monkeypatch.setenv("TSN_HOME", str(home))
    served = server.add("/w/bn_inception-9f5701afb96c8044.pth", DATA)
    result = fetch(runner, cli, "weights", "bninception", "--mirror", server.base + "/w")
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "cannot write to" in text and str(home) in text and "TSN_HOME" in text
    assert server.files[served.removeprefix(server.base)].requests == []


def test_torchvision_weights_are_checked_against_their_hash_prefix(runner, cli, server):
    name = catalog.weights_path("resnet18").name
    server.add(f"/w/{name}", b"not the real weights")
    result = fetch(runner, cli, "weights", "resnet18", "--mirror", server.base + "/w")
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output
    assert not catalog.weights_path("resnet18").exists()


def test_weights_without_an_arch_lists_the_archs(runner, cli):
    result = fetch(runner, cli, "weights")
    assert result.exit_code == 1 and "bninception" in result.output


def test_unknown_name_lists_the_catalog(runner, cli):
    result = fetch(runner, cli, "ucf-101")
    assert result.exit_code == 1 and "ucf101" in result.output and "hmdb51" in result.output


def test_list_shows_missing_partial_and_verified(runner, cli, server, tmp_path):
    for m in ("rgb", "flow"):
        server.add(f"/m/bn_inception_{m}_init.caffemodel", b"x")
    assert fetch(runner, cli, "tsn-init", "--mirror", server.base + "/m").exit_code == 0
    (tmp_path / "data/ucf101").mkdir(parents=True)
    part_path(tmp_path / "data/ucf101/UCF101.rar").write_bytes(b"half")
    result = fetch(runner, cli, "--list", "--json")
    assert result.exit_code == 0, result.output
    status = {row["name"]: row["status"] for row in json.loads(result.stdout)}
    assert status["tsn-init"] == "verified"
    assert status["ucf101"] == "partial"
    assert status["hmdb51"] == "missing"
    assert set(status) == set(catalog.entry_names())


def test_list_table_shows_sizes(runner, cli):
    result = fetch(runner, cli, "--list")
    assert result.exit_code == 0
    assert "ucf101" in result.output and "~6.5 GB" in result.output and "missing" in result.output


def test_toy_calls_the_generator_with_the_options(runner, cli, monkeypatch, tmp_path):
    import tsncli.acquire.toy

    calls = []

    def fake(dest, **kwargs):
        calls.append((dest, kwargs))
        return {}

    monkeypatch.setattr(tsncli.acquire.toy, "generate_toy_dataset", fake)
    result = fetch(runner, cli, "toy", "--dest", "t", "--videos-per-class", "3", "--seed", "7")
    assert result.exit_code == 0, result.output
    (dest, kwargs) = calls[0]
    assert str(dest) == "t" and kwargs["videos_per_class"] == 3 and kwargs["seed"] == 7


def test_toy_options_are_refused_for_other_names(runner, cli):
    result = fetch(runner, cli, "ucf101", "--seed", "1")
    assert result.exit_code == 1 and "toy" in result.output


def complete(runner, cli, words):
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    return runner.invoke(cli, [], env=env, prog_name="tsn").output.split()


def test_catalog_names_complete_in_the_shell(runner, cli):
    assert complete(runner, cli, "tsn fetch uc") == ["ucf101"]
    assert set(complete(runner, cli, "tsn fetch t")) == {"tsn-init", "tsn-reference", "toy"}


def test_architectures_complete_after_weights(runner, cli):
    assert set(complete(runner, cli, "tsn fetch weights resnet1")) == {
        "resnet18",
        "resnet101",
        "resnet152",
    }
