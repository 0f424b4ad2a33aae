"""`tsn features`: snippet centres as dense testing's, streams concatenated as each gives alone,
the rows equal to the model run directly, files that only ever appear complete, resume, shards,
the settings guard, failed videos, and an end-to-end CLI run on generated videos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import evalkit
import numpy as np
import pytest
import torch

from tsncli.data import transforms
from tsncli.data.frames import read_frames, stack_frames
from tsncli.data.sampling import dense_centres, dense_frame_indices
from tsncli.engine.eval.inference import load_scorer
from tsncli.engine.features import extract as extract_module
from tsncli.engine.features.extract import (
    FAILED_FILE,
    META_FILE,
    FeatureSettings,
    extract_features,
)
from tsncli.engine.features.formats import read_features
from tsncli.errors import UsageError
from tsncli.layout import FLOW_TEMPLATES, RGB_TEMPLATE
from tsncli.shards import part_name

STRIDE = 4


def write_frames(folder: Path, images: int, flows: int | None = None, seed: int = 0) -> Path:
    """A `tsn flow`-style frame folder of random 40x32 JPEGs: `images` RGB frames and `flows`
    flow pairs (default one fewer)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(1, images + 1):
        cv2.imwrite(str(folder / RGB_TEMPLATE.format(i)), rng.integers(0, 255, (32, 40, 3)))
    for i in range(1, (images - 1 if flows is None else flows) + 1):
        for template in FLOW_TEMPLATES:
            cv2.imwrite(str(folder / template.format(i)), rng.integers(0, 255, (32, 40)))
    return folder


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("featckpt")
    return {
        "rgb": evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1),
        "flow": evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2),
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Five frame folders; with stride 4, 11 frames give flow (10 fields) one snippet fewer."""
    root = tmp_path_factory.mktemp("featframes") / "frames"
    for i, n in enumerate((11, 6, 9, 5, 13)):
        write_frames(root / f"v_{i}", n, seed=i)
    return root


def settings(**kw) -> FeatureSettings:
    return FeatureSettings(stride=STRIDE, loader_threads=1, **kw)


def meta_of(out: Path, shard=None) -> dict:
    return json.loads((out / part_name(META_FILE, shard)).read_text())


@pytest.mark.parametrize("frames", [1, STRIDE - 1, STRIDE, STRIDE + 1, 10 * STRIDE + 3])
def test_snippet_centres_are_dense_testings(tmp_path, ckpts, frames):
    write_frames(tmp_path / "in" / "clip", frames)
    extract_features(tmp_path / "in", [ckpts["rgb"]], tmp_path / "out", settings())
    entry = meta_of(tmp_path / "out")["videos"]["clip"]
    assert entry["centres"] == dense_centres(frames, STRIDE).tolist()
    assert entry["rows"] == entry["snippets"] == len(entry["centres"])
    assert read_features(tmp_path / "out" / "clip.npy").shape == (entry["rows"], 3)


def test_rgb_and_flow_concatenate_as_each_stream_alone_truncated(tmp_path, ckpts, folders):
    alone = {}
    for name in ("rgb", "flow"):
        extract_features(folders, [ckpts[name]], tmp_path / name, settings())
        alone[name] = read_features(tmp_path / name / "v_0.npy")
    extract_features(folders, [ckpts["rgb"], ckpts["flow"]], tmp_path / "both", settings())
    both = read_features(tmp_path / "both" / "v_0.npy")
    assert len(alone["rgb"]) == 3 and len(alone["flow"]) == 2  # 11 frames, 10 flow fields
    np.testing.assert_array_equal(both, np.hstack([alone["rgb"][:2], alone["flow"]]))
    entry = meta_of(tmp_path / "both")["videos"]["v_0"]
    assert entry["truncated"] and entry["stream_snippets"] == [3, 2]
    assert entry["centres"] == [2, 6] and entry["frames"] == 11


@pytest.mark.parametrize("crops", [1, 3])
def test_logits_equal_the_model_on_the_same_frames(tmp_path, ckpts, folders, crops):
    extract_features(folders, [ckpts["flow"]], tmp_path, settings(crops=crops))
    got = read_features(tmp_path / "v_4.npy")
    scorer = load_scorer(ckpts["flow"])
    indices = dense_frame_indices(12, STRIDE, scorer.new_length)  # 13 frames: 12 flow fields
    group = stack_frames(read_frames(str(folders / "v_4"), indices, "flow"))
    clip = transforms.test_clip(group, scorer.crop_size, crops, "flow", len(indices))
    with torch.no_grad():
        x = scorer.normalize(torch.as_tensor(clip))  # (N, S, C*L, h, w)
        expected = scorer.model.snippet_logits(x).mean(0).numpy()  # crop mean, no consensus
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_pool_rows_have_the_backbones_dimension(tmp_path, ckpts, folders):
    extract_features(folders, [ckpts["rgb"]], tmp_path, settings(layer="pool"))
    dim = load_scorer(ckpts["rgb"]).model.spec.feature_dim
    assert read_features(tmp_path / "v_2.npy").shape == (2, dim)
    assert meta_of(tmp_path)["run"]["layer"] == "pool"


def test_an_interrupted_run_leaves_only_complete_files_and_resumes(
    tmp_path, ckpts, folders, monkeypatch
):
    real, calls = extract_module.stream_features, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # in the middle of the third video
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(extract_module, "stream_features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_features(folders, [ckpts["rgb"]], tmp_path, settings())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v_0.npy", "v_1.npy"]
    monkeypatch.setattr(extract_module, "stream_features", real)
    result = extract_features(folders, [ckpts["rgb"]], tmp_path, settings())
    assert result.skipped == ["v_0", "v_1"] and result.written == ["v_2", "v_3", "v_4"]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    assert set(meta_of(tmp_path)["videos"]) == {f"v_{i}" for i in range(5)}


def test_a_kill_9_while_writing_leaves_no_file_and_a_rerun_finishes(tmp_path, ckpts, folders):
    script = textwrap.dedent(
        f"""
        import os, signal
        from tsncli.engine.features import formats
        from tsncli.engine.features.extract import FeatureSettings, extract_features
        spec = formats._FORMATS["npy"]
        def half_then_kill(path, features):
            if len(list(path.parent.glob("*.npy"))) == 2:  # the third video, half written
                path.write_bytes(b"\\x93NUMPY half")
                os.kill(os.getpid(), signal.SIGKILL)
            spec.write(path, features)
        formats._FORMATS["npy"] = formats.FeatureFormat(".npy", half_then_kill, spec.read)
        extract_features({str(folders)!r}, [{str(ckpts["rgb"])!r}], {str(tmp_path)!r},
                         FeatureSettings(stride={STRIDE}, loader_threads=1))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["v_0.npy", "v_1.npy"]
    assert len(list(tmp_path.glob(".*.tmp"))) == 1  # the half write, under a temporary name
    result = extract_features(folders, [ckpts["rgb"]], tmp_path, settings())
    assert result.written == ["v_2", "v_3", "v_4"]
    assert not list(tmp_path.glob(".*.tmp"))
    assert read_features(tmp_path / "v_2.npy").shape == (2, 3)


def test_shards_are_disjoint_and_complete(tmp_path, ckpts, folders):
    done = []
    for k in (1, 2):
        result = extract_features(
            folders, [ckpts["rgb"]], tmp_path, settings(), shard=(k, 2)
        )  # fmt: skip
        done.append(set(result.written))
        assert set(meta_of(tmp_path, (k, 2))["videos"]) == done[-1]
    assert not done[0] & done[1]
    assert done[0] | done[1] == {f"v_{i}" for i in range(5)}
    assert len(list(tmp_path.glob("*.npy"))) == 5


def test_other_settings_into_the_same_folder_are_refused_unless_forced(tmp_path, ckpts, folders):
    extract_features(folders, [ckpts["rgb"]], tmp_path, settings())
    for changed in (settings(layer="pool"), FeatureSettings(stride=8)):
        with pytest.raises(UsageError, match="other settings"):
            extract_features(folders, [ckpts["rgb"]], tmp_path, changed)
    with pytest.raises(UsageError, match="checkpoints"):
        extract_features(folders, [ckpts["flow"]], tmp_path, settings())
    result = extract_features(folders, [ckpts["rgb"]], tmp_path, settings(layer="pool"), force=True)
    assert len(result.written) == 5 and meta_of(tmp_path)["run"]["layer"] == "pool"
    again = extract_features(folders, [ckpts["rgb"]], tmp_path, settings(layer="pool"))
    assert again.written == [] and len(again.skipped) == 5


def test_a_broken_video_is_listed_in_failed_tsv_and_the_others_finish(tmp_path, ckpts):
    src = tmp_path / "videos"
    src.mkdir()
    for i in range(2):
        evalkit.write_video(src / f"v_ok{i}.avi", 0, seed=i)
    (src / "v_broken.avi").write_bytes(b"not a video at all")
    out = tmp_path / "out"
    result = extract_features(src, [ckpts["rgb"]], out, settings())
    assert sorted(result.written) == ["v_ok0", "v_ok1"]
    assert [name for name, _ in result.failures] == ["v_broken"]
    lines = (out / FAILED_FILE).read_text().splitlines()
    assert lines[0] == "video\tpath\terror" and lines[1].startswith("v_broken\t")
    assert not (out / "v_broken.npy").exists()


def test_end_to_end_cli_on_generated_videos(tmp_path, ckpts, runner, cli):
    from video_helpers import make_video

    for name, n in (("v_a", 30), ("v_b", 45), ("v_c", 20)):
        make_video(tmp_path / "videos", name, n=n)
    out = tmp_path / "features"
    args = [
        "features", str(tmp_path / "videos"), "--checkpoint", str(ckpts["rgb"]),
        "--checkpoint", str(ckpts["flow"]), "--out", str(out), "--stride", "4",
        "--rescale", "10", "--rescale-method", "mmaction2", "--format", "csv",
    ]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    for name in ("v_a", "v_b", "v_c"):
        text = (out / f"{name}.csv").read_text().splitlines()
        assert text[0] == "f0,f1,f2,f3,f4,f5" and len(text) == 11
        assert read_features(out / f"{name}.csv").shape == (10, 6)
    meta = meta_of(out)
    assert meta["run"]["rescale"] == 10 and meta["run"]["rescale_method"] == "mmaction2"
    assert meta["videos"]["v_b"]["fps"] == pytest.approx(25.0)
    assert meta["videos"]["v_b"]["centres"] == dense_centres(45, 4).tolist()
    assert all(len(c["sha256"]) == 64 for c in meta["run"]["checkpoints"])
    again = runner.invoke(cli, [*args[:-2], "--format", "npy"])
    assert again.exit_code == 1 and "other settings" in " ".join(again.output.split())
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_a_video_list_gives_evals_dense_scores_at_each_videos_rate(tmp_path, ckpts):
    from tsncli.engine.eval.evaluate import EvalSettings, evaluate
    from tsncli.engine.scores import load_scores

    data = evalkit.make_dataset(tmp_path / "data", videos_per_class=1)  # 10 fps, 12 frames
    header = f"# tsn-list: kind=videos size={evalkit.FRAME_SIZE}\n"
    lines = [
        f"{video} {record.num_frames} {record.label}\n"
        for video, record in zip(data["videos"], data["records"], strict=True)
    ]
    (tmp_path / "videos.txt").write_text(header + "".join(lines))
    out = tmp_path / "out"
    features = FeatureSettings(stride_seconds=0.5, loader_threads=1)
    extract_features(tmp_path / "videos.txt", [ckpts["rgb"]], out, features)
    evaluate(
        ckpts["rgb"], tmp_path / "videos.txt", tmp_path / "v.npz",
        EvalSettings(stride_seconds=0.5, crops=1),
    )  # fmt: skip
    scores = load_scores(tmp_path / "v.npz")
    for video, raw in zip(scores.videos, scores.raw, strict=True):
        name = Path(video).stem
        entry = meta_of(out)["videos"][name]
        assert entry["stride"] == 5 and entry["fps"] == pytest.approx(10.0)
        got = read_features(out / f"{name}.npy")
        np.testing.assert_allclose(got, raw.astype(np.float32).mean(1), atol=2e-2)  # fp16 raw


def test_workers_give_the_same_files_and_progress_counts_videos_and_snippets(
    tmp_path, ckpts, folders
):
    events = []
    one = extract_features(folders, [ckpts["rgb"], ckpts["flow"]], tmp_path / "one", settings(),
                           on_progress=events.append)  # fmt: skip
    two = extract_features(
        folders, [ckpts["rgb"], ckpts["flow"]], tmp_path / "two", settings(), workers=2
    )
    assert sorted(one.written) == sorted(two.written) and not two.failures
    for name in one.written:
        np.testing.assert_allclose(
            read_features(tmp_path / "two" / f"{name}.npy"),
            read_features(tmp_path / "one" / f"{name}.npy"),
            atol=1e-5,
        )
    assert [e.done for e in events] == [0, 1, 2, 3, 4, 5] and events[-1].total == 5
    assert "videos/s" in events[-1].message and "snippets/s" in events[-1].message


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("tsn features in --layer ", ["logits", "pool"]),
        ("tsn features in --rescale-method ", ["bsn", "mmaction2"]),
        ("tsn features in --format c", ["csv"]),
    ],
)
def test_choices_complete(runner, cli, words, expected):
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "4"}
    assert runner.invoke(cli, [], env=env, prog_name="tsn").output.split() == expected
