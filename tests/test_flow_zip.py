"""`tsn flow --format zip`: dense_flow's img.zip/flow_x.zip/flow_y.zip holding the very JPEG bytes
`--format dir` writes, with everything `tsn flow` promises (resume, atomic videos, shards,
failed.tsv, modality, the torch path, the recorded format)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml
from flow_helpers import moving_video

from tsncli.flow.job import load_flow_settings
from tsncli.flow.sinks import ARCHIVES, FORMATS, Part, parts_written
from tsncli.frame_settings import FrameSettings
from tsncli.layout import (
    FLOW_ENTRIES,
    FLOW_TEMPLATES,
    FLOW_ZIPS,
    FRAME_FORMATS,
    RGB_ENTRY,
    RGB_TEMPLATE,
    RGB_ZIP,
    frames_format,
)

FAST = ["--algo", "dis", "--size", "64x48", "--workers", "1"]
LENGTHS = {"a": 3, "b": 5, "c": 7}


def _videos(root: Path, lengths: dict[str, int] = LENGTHS) -> Path:
    for name, n in lengths.items():
        moving_video(root / f"{name}.avi", n=n)
    return root


def _flow(runner, cli, *args):
    return runner.invoke(cli, ["flow", *map(str, args)])


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long lines


def _entries(archive: Path) -> dict[str, bytes]:
    """Every entry of a zip, after checking each one's CRC (`testzip`) and that it is stored."""
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None, f"{archive} has a corrupt entry"
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
        return {name: zf.read(name) for name in zf.namelist()}


def _names(template: str, count: int) -> list[str]:
    return [template.format(k) for k in range(1, count + 1)]


def test_zip_writes_dense_flows_archives_with_the_same_jpeg_bytes_as_folders(runner, cli, tmp_path):
    src = _videos(tmp_path / "videos")
    for layout in ("dir", "zip"):
        result = _flow(runner, cli, src, tmp_path / layout, *FAST, "--format", layout)
        assert result.exit_code == 0, result.output
    for name, n in LENGTHS.items():
        folder, zipped = tmp_path / "dir" / name, tmp_path / "zip" / name
        assert sorted(p.name for p in zipped.iterdir()) == sorted([RGB_ZIP, *FLOW_ZIPS])
        images = _entries(zipped / RGB_ZIP)
        assert list(images) == _names(RGB_ENTRY, n)  # 1-based, in order
        assert [images[RGB_ENTRY.format(k)] for k in range(1, n + 1)] == [
            (folder / RGB_TEMPLATE.format(k)).read_bytes() for k in range(1, n + 1)
        ]
        for archive, entry, template in zip(FLOW_ZIPS, FLOW_ENTRIES, FLOW_TEMPLATES, strict=True):
            flows = _entries(zipped / archive)
            assert list(flows) == _names(entry, n - 1)
            assert [flows[entry.format(k)] for k in range(1, n)] == [
                (folder / template.format(k)).read_bytes() for k in range(1, n)
            ]
        assert frames_format(zipped) == "zip" and frames_format(folder) == "dir"
    assert sorted(os.listdir(tmp_path / "zip")) == ["a", "b", "c", "flow_config.yaml"]


def test_the_torch_batched_path_writes_the_same_bytes_into_zips(runner, cli, tmp_path):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames: more threads only slow a busy machine down
    try:
        moving_video(tmp_path / "videos" / "v.avi", n=5)
        torch_args = ["--impl", "torch", "--size", "64x48", "--workers", "1", "--batch-pairs", "2"]
        for layout in ("dir", "zip"):
            result = _flow(
                runner, cli, tmp_path / "videos", tmp_path / layout, *torch_args, "--format", layout
            )
            assert result.exit_code == 0, result.output
    finally:
        torch.set_num_threads(threads)
    folder, zipped = tmp_path / "dir" / "v", tmp_path / "zip" / "v"
    assert list(_entries(zipped / RGB_ZIP).values()) == [
        (folder / name).read_bytes() for name in _names(RGB_TEMPLATE, 5)
    ]
    for archive, template in zip(FLOW_ZIPS, FLOW_TEMPLATES, strict=True):
        assert list(_entries(zipped / archive).values()) == [
            (folder / name).read_bytes() for name in _names(template, 4)
        ]


@pytest.mark.parametrize(
    ("modality", "archives"),
    [("rgb", [RGB_ZIP]), ("flow", sorted(FLOW_ZIPS)), ("both", sorted([RGB_ZIP, *FLOW_ZIPS]))],
)
def test_modality_writes_only_its_archives(runner, cli, tmp_path, modality, archives):
    src = _videos(tmp_path / "videos", {"v": 4})
    out = tmp_path / "frames"
    result = _flow(runner, cli, src, out, *FAST, "--format", "zip", "--modality", modality)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "v").iterdir()) == archives
    for archive in archives:
        assert len(_entries(out / "v" / archive)) == (4 if archive == RGB_ZIP else 3)
    again = _flow(runner, cli, src, out, *FAST, "--format", "zip", "--modality", modality)
    assert again.exit_code == 0 and "done 0, skipped 1" in again.output


def test_flow_config_records_the_format_and_old_records_read_as_dir(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    assert _flow(runner, cli, src, out, *FAST, "--format", "zip").exit_code == 0
    saved = yaml.safe_load((out / "flow_config.yaml").read_text())
    assert saved["format"] == "zip" and "flow_x.zip" in saved["layout"]
    assert load_flow_settings(out)["format"] == "zip"
    assert FrameSettings.from_dict({"algo": "dis", "size": [64, 48]}).format == "dir"
    config = tmp_path / "flow.yaml"  # --config takes the format too, under the flags
    config.write_text("flow:\n  format: zip\n")
    from_file = _flow(runner, cli, src, tmp_path / "from_file", *FAST, "--config", config)
    assert from_file.exit_code == 0, from_file.output
    assert (tmp_path / "from_file" / "a" / RGB_ZIP).is_file()
    flags = _flow(
        runner, cli, src, tmp_path / "flags", *FAST, "--config", config, "--format", "dir"
    )
    assert flags.exit_code == 0 and frames_format(tmp_path / "flags" / "a") == "dir"
    with pytest.raises(Exception, match="frame format 'tar' is not one of: dir, zip"):
        FrameSettings(format="tar")


def test_a_rerun_with_the_other_format_is_refused_naming_force_and_pack(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    assert _flow(runner, cli, src, out, *FAST).exit_code == 0  # dir, the default
    refused = _flow(runner, cli, src, out, *FAST, "--format", "zip")
    assert refused.exit_code == 1
    line = _text(refused.output)
    assert "holds frames in --format dir, but this run asks for --format zip" in line
    assert f"tsn pack {out} --to zip" in line and "--force" in line
    assert not (out / "a" / RGB_ZIP).exists()
    forced = _flow(runner, cli, src, out, *FAST, "--format", "zip", "--force")
    assert forced.exit_code == 0 and "done 3, skipped 0" in forced.output
    assert sorted(p.name for p in (out / "a").iterdir()) == sorted([RGB_ZIP, *FLOW_ZIPS])
    unknown = _flow(runner, cli, src, tmp_path / "other", *FAST, "--format", "tar")
    assert unknown.exit_code == 1
    assert "unknown frame format 'tar'; use one of: dir, zip" in _text(unknown.output)


def test_a_zip_video_missing_an_archive_is_not_done_and_is_redone(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    assert _flow(runner, cli, src, out, *FAST, "--format", "zip").exit_code == 0
    before = (out / "a" / RGB_ZIP).read_bytes()
    (out / "b" / FLOW_ZIPS[1]).unlink()
    again = _flow(runner, cli, src, out, *FAST, "--format", "zip")
    assert again.exit_code == 0 and "done 1, skipped 2" in again.output
    assert len(_entries(out / "b" / FLOW_ZIPS[1])) == LENGTHS["b"] - 1
    assert (out / "a" / RGB_ZIP).read_bytes() == before  # done videos are left alone


def test_a_broken_video_fails_alone_leaving_no_archive(runner, cli, tmp_path):
    src, out = _videos(tmp_path / "videos"), tmp_path / "frames"
    (src / "broken.avi").write_bytes(b"\x00not a video" * 64)
    moving_video(src / "single.avi", n=1)  # decodes, but one frame gives no flow
    result = _flow(runner, cli, src, out, *FAST, "--format", "zip")
    assert result.exit_code == 1
    line = _text(result.output)
    assert "error: 2 video(s) failed:" in line and "broken" in line and "single" in line
    rows = (out / "failed.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in rows] == ["video_id", "broken", "single"]
    assert sorted(os.listdir(out)) == ["a", "b", "c", "failed.tsv", "flow_config.yaml"]
    for name, n in LENGTHS.items():
        assert len(_entries(out / name / RGB_ZIP)) == n


def test_shards_split_a_zip_extraction_and_cover_every_video_once(runner, cli, tmp_path):
    src = _videos(tmp_path / "videos", {"a": 3, "b": 3, "c": 3, "d": 3, "e": 3})
    out = tmp_path / "frames"
    firsts = []
    for shard in ("1/2", "2/2"):
        result = _flow(runner, cli, src, out, *FAST, "--format", "zip", "--shard", shard)
        assert result.exit_code == 0, result.output
        firsts.append(sorted(p.name for p in out.iterdir() if p.is_dir()))
    assert 0 < len(firsts[0]) < 5 and firsts[1] == ["a", "b", "c", "d", "e"]
    for name in firsts[1]:
        assert all(len(_entries(out / name / a)) in (2, 3) for a in [RGB_ZIP, *FLOW_ZIPS])


# A `tsn flow --format zip` that stops for good inside its second video, after 3 entries of an
# archive: it says so on a marker file and sleeps, so the test kills it at a known point.
KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tsncli.flow import sinks

    marker = Path(sys.argv[3])
    init, add = sinks.ZipSink.__init__, sinks.ZipSink.add
    opened = []

    def counted_init(self, writers):
        opened.append(1)
        self.number = len(opened)
        init(self, writers)

    def stalling_add(self, part, index, data):
        if self.number == 2 and index == 3:
            marker.write_text("stuck")
            time.sleep(600)
        add(self, part, index, data)

    sinks.ZipSink.__init__, sinks.ZipSink.add = counted_init, stalling_add
    from tsncli.cli import main

    sys.argv = ["tsn", "flow", sys.argv[1], sys.argv[2], "--format", "zip", "--algo", "dis",
                "--size", "64x48", "--workers", "1"]
    main()
    """
)


def _killed_midway(tmp_path: Path, src: Path, out: Path) -> None:
    script, marker = tmp_path / "killed.py", tmp_path / "stuck"
    script.write_text(KILLED_RUN)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(src), str(out), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while not marker.exists():  # no timing asserted: the marker is written mid-archive
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it got stuck: {proc.stderr.read().decode()}")
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def test_a_killed_zip_extraction_resumes_to_complete_valid_archives(runner, cli, tmp_path):
    lengths = {"a": 6, "b": 6, "c": 6}
    src, out = _videos(tmp_path / "videos", lengths), tmp_path / "frames"
    _killed_midway(tmp_path, src, out)
    done = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(done) == 1  # the first video is complete; the second died inside an archive
    temporary = [p for p in out.iterdir() if p.name.startswith(".tsn-") and p.is_dir()]
    assert len(temporary) == 1 and len(list(temporary[0].glob(".tsn-*.tmp"))) == 3  # half zips
    result = _flow(runner, cli, src, out, *FAST, "--format", "zip")
    assert result.exit_code == 0, result.output
    assert "done 2, skipped 1" in result.output
    assert sorted(os.listdir(out)) == ["a", "b", "c", "flow_config.yaml"]  # no temporaries left
    for name, n in lengths.items():
        assert sorted(os.listdir(out / name)) == sorted([RGB_ZIP, *FLOW_ZIPS])
        assert list(_entries(out / name / RGB_ZIP)) == _names(RGB_ENTRY, n)
        for archive, entry in zip(FLOW_ZIPS, FLOW_ENTRIES, strict=True):
            assert list(_entries(out / name / archive)) == _names(entry, n - 1)


def test_every_registered_format_has_a_sink_whose_costs_match_what_it_writes(tmp_path):
    assert tuple(FORMATS) == FRAME_FORMATS
    payload = {Part.RGB: [b"r" * 700, b"g" * 800], Part.FLOW_X: [b"x" * 90], Part.FLOW_Y: [b"y"]}
    for layout in FORMATS.values():
        folder = tmp_path / layout.name
        folder.mkdir()
        parts = parts_written(rgb=True, flow=True)
        with layout.open(folder, parts) as sink:
            for part, items in payload.items():
                for index, data in enumerate(items, start=1):
                    sink.add(part, index, data)
        written = sorted(folder.iterdir())
        entries = {part: len(items) for part, items in payload.items()}
        data = {part: sum(map(len, items)) for part, items in payload.items()}
        assert layout.files(entries) == len(written)
        assert layout.bytes(entries, data) == sum(p.stat().st_size for p in written)
        assert frames_format(folder) == layout.name
    assert [p.name for p in sorted((tmp_path / "zip").iterdir())] == sorted(ARCHIVES)


def test_a_failing_zip_video_removes_every_temporary_archive(tmp_path):
    layout = FORMATS["zip"]
    with pytest.raises(RuntimeError, match="boom"):
        with layout.open(tmp_path, parts_written(rgb=True, flow=True)) as sink:
            sink.add(Part.RGB, 1, b"jpeg")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
