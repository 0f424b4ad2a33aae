"""Dense testing of untrimmed videos (`tsn eval --stride N | --stride-seconds T`): snippet centres
as MMAction2's `UntrimmedSampleFrames`, score files whose videos have different snippet counts,
their snippets-per-second rate read by `tsn fuse --snippet-agg mtwi`, and the guard rails."""

from __future__ import annotations

import json
import logging
import shutil

import evalkit
import numpy as np
import pytest

from tsncli.data.sampling import dense_centres, dense_frame_indices
from tsncli.engine.aggregate import aggregate_video, mtwi_aggregation
from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.fusion import video_scores
from tsncli.engine.metrics import compute_metrics
from tsncli.engine.scores import ScoreFile, load_scores, save_scores
from tsncli.errors import DataError, UsageError
from tsncli.lists.listfile import read_list, write_classes, write_list


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("densedata")
    out = evalkit.make_dataset(root)  # rgb videos of 12 and 14 frames, 3 classes, 10 fps
    out["root"] = root
    out["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    out["flow_ckpt"] = evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2)
    return out


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long error lines


def _mmaction2(total_frames: int, clip_len: int, clip_interval: int) -> np.ndarray:
    """MMAction2's `UntrimmedSampleFrames.transform` (frame_interval 1, start_index 1)."""
    centres = np.arange(clip_interval // 2, total_frames, clip_interval)
    inds = centres[:, None] + np.arange(-(clip_len // 2), clip_len - clip_len // 2)[None, :]
    return np.clip(inds, 0, total_frames - 1) + 1


@pytest.mark.parametrize(
    ("frames", "stride", "centres"),
    [
        (40, 16, [8, 24]),
        (64, 16, [8, 24, 40, 56]),
        (57, 16, [8, 24, 40, 56]),  # 56 is the last frame's index: still inside
        (7, 3, [1, 4]),
        (5, 1, [0, 1, 2, 3, 4]),
        (10, 16, [8]),  # shorter than the stride, longer than its half
        (5, 16, [2]),  # ends before the first centre: one snippet on its middle frame
        (1, 16, [0]),
    ],
)
def test_dense_centres_are_every_stride_from_half_a_stride(frames, stride, centres):
    assert dense_centres(frames, stride).tolist() == centres


def test_dense_stacks_sit_around_their_centre_and_repeat_the_end_frames():
    # flow, L = 5: frames c-2 .. c+2 (1-based: c-1 .. c+3), clipped to the video
    assert dense_frame_indices(40, 16, 5).tolist() == [[7, 8, 9, 10, 11], [23, 24, 25, 26, 27]]
    assert dense_frame_indices(8, 2, 5).tolist() == [
        [1, 1, 2, 3, 4],  # centre 1 (0-based): frame -1 is clipped to the first
        [2, 3, 4, 5, 6],
        [4, 5, 6, 7, 8],
        [6, 7, 8, 8, 8],  # centre 7: frames 8 and 9 are clipped to the last
    ]
    assert dense_frame_indices(10, 4, 2).tolist() == [[2, 3], [6, 7]]  # even L: one more before
    assert dense_frame_indices(5, 16, 1).tolist() == [[3]]


@pytest.mark.parametrize("clip_len", [1, 2, 5, 6])
def test_dense_frames_equal_mmaction2_untrimmed_sample_frames(clip_len):
    for total in (8, 16, 17, 100, 331):
        for interval in (1, 3, 8, 16, 30):
            if interval // 2 < total:
                expected = _mmaction2(total, clip_len, interval)
                np.testing.assert_array_equal(
                    dense_frame_indices(total, interval, clip_len), expected
                )


def test_stride_and_segments_are_exclusive(runner, cli, data, tmp_path):
    base = ["eval", str(data["rgb_ckpt"]), "--list", str(data["rgb_list"])]
    base += ["--save-scores", str(tmp_path / "s.npz")]
    for extra in (["--stride", "4", "--segments", "3"], ["--stride", "4", "--stride-seconds", "1"]):
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code == 1 and "not both" in _text(result.output)
        assert len(result.output.strip().splitlines()) == 1
    for extra, words in ((["--stride", "0"], "at least 1"), (["--snippet-agg", "top"], "mtwi")):
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code == 1 and words in _text(result.output)
        assert len(result.output.strip().splitlines()) == 1
    with pytest.raises(UsageError, match="not both"):
        evaluate(
            data["rgb_ckpt"], data["rgb_list"], tmp_path / "e.npz",
            EvalSettings(stride=4, stride_seconds=1.0),
        )  # fmt: skip


def test_a_score_file_with_different_snippet_counts_round_trips_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    raw = [rng.normal(size=(s, 2, 3)).astype(np.float16) for s in (10, 3, 17)]
    scores = np.stack([aggregate_video(r) for r in raw])
    sf = ScoreFile(scores, np.array([0, 2, 1]), ["a", "b", "c"], ["x", "y", "z"], {}, raw)
    save_scores(tmp_path / "d.npz", sf)
    with np.load(tmp_path / "d.npz", allow_pickle=False) as npz:
        assert npz["raw"].shape == (30, 2, 3) and npz["raw"].dtype == np.float16
        assert npz["raw_offsets"].tolist() == [0, 10, 13, 30]
    back = load_scores(tmp_path / "d.npz")
    assert isinstance(back.raw, list) and [len(r) for r in back.raw] == [10, 3, 17]
    for a, b in zip(back.raw, raw, strict=True):
        np.testing.assert_array_equal(a, b)
    # equal counts keep the [V, S, K, C] layout
    same = ScoreFile(scores, sf.labels, sf.videos, sf.classes, {}, [r[:3] for r in raw])
    save_scores(tmp_path / "s.npz", same)
    assert load_scores(tmp_path / "s.npz").raw.shape == (3, 3, 2, 3)


def test_bad_raw_offsets_are_a_data_error(tmp_path):
    raw = np.zeros((5, 1, 2), np.float16)
    np.savez(
        tmp_path / "bad.npz", scores=np.zeros((2, 2), np.float32), labels=np.zeros(2, np.int64),
        videos=np.array(["a", "b"]), classes=np.array(["x", "y"]), meta=np.array("{}"),
        raw=raw, raw_offsets=np.array([0, 2, 4]),
    )  # fmt: skip
    with pytest.raises(DataError, match="raw_offsets"):
        load_scores(tmp_path / "bad.npz")


def test_fuse_mtwi_reads_the_rate_the_score_file_records(runner, cli, tmp_path, caplog):
    rng = np.random.default_rng(1)
    raw = [rng.normal(size=(s, 1, 3)).astype(np.float16) for s in (40, 23)]
    scores = np.stack([aggregate_video(r) for r in raw])
    meta = {"snippets_per_second": 4.0, "stride": 4}
    sf = ScoreFile(scores, np.array([0, 1]), ["a", "b"], ["x", "y", "z"], meta, raw)
    save_scores(tmp_path / "d.npz", sf)
    with caplog.at_level(logging.INFO, logger="tsncli.engine.fusion"):
        result = runner.invoke(
            cli, ["fuse", str(tmp_path / "d.npz"), "--snippet-agg", "mtwi", "--out",
                  str(tmp_path / "fused.npz")],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not any("records no snippet rate" in r.getMessage() for r in caplog.records)
    fused = load_scores(tmp_path / "fused.npz").scores
    at_four = np.stack([mtwi_aggregation(r, 4.0) for r in raw])
    np.testing.assert_allclose(fused, at_four, rtol=1e-6)
    assert not np.allclose(at_four, np.stack([mtwi_aggregation(r, 1.0) for r in raw]))


def test_eval_stride_end_to_end_through_the_cli(runner, cli, data, tmp_path):
    out = tmp_path / "dense.npz"
    args = ["eval", str(data["rgb_ckpt"]), "--list", str(data["rgb_list"])]
    args += ["--save-scores", str(out), "--stride", "5", "--crops", "1"]
    result = runner.invoke(cli, [*args, "--snippet-agg", "top-k:1", "--json"])
    assert result.exit_code == 0, result.output
    sf = load_scores(out)
    # 12 frames: centres 2, 7; 14 frames: 2, 7, 12
    counts = [len(dense_centres(r.num_frames, 5)) for r in data["records"]]
    assert counts == [2, 3, 2, 3, 2, 3]
    assert isinstance(sf.raw, list) and [r.shape for r in sf.raw] == [(c, 1, 3) for c in counts]
    np.testing.assert_allclose(sf.scores, np.stack([aggregate_video(r) for r in sf.raw]), atol=1e-2)
    assert sf.meta["stride"] == 5 and sf.meta["segments"] is None
    assert sf.meta["snippet_agg"] == "top-k:1"
    assert "snippets_per_second" not in sf.meta  # frame folders that record no fps
    printed = json.loads(result.stdout)
    judged = compute_metrics(video_scores(sf, snippet_agg="top-k:1"), sf.labels)
    assert printed["top1"] == pytest.approx(judged.top1)
    assert printed["mean_class_accuracy"] == pytest.approx(judged.mean_class_accuracy)


def test_a_stride_of_one_scores_the_frames_segments_n_scores_on_n_frame_videos(
    data, tmp_path, monkeypatch
):
    twelve = [r for r in read_list(data["rgb_list"]) if r.num_frames == 12]
    short = write_list(tmp_path / "twelve.txt", twelve)
    evaluate(
        data["rgb_ckpt"], short, tmp_path / "seg.npz",
        EvalSettings(segments=12, crops=1, keep_raw=True),
    )  # fmt: skip
    monkeypatch.setattr(evaluate_module, "SNIPPETS_PER_CHUNK", 5)  # chunks of 5, 5 and 2
    evaluate(data["rgb_ckpt"], short, tmp_path / "dense.npz", EvalSettings(stride=1, crops=1))
    seg, dense = load_scores(tmp_path / "seg.npz"), load_scores(tmp_path / "dense.npz")
    np.testing.assert_array_equal(np.asarray(dense.raw), seg.raw)
    np.testing.assert_allclose(dense.scores, seg.scores, rtol=1e-6)


def test_stride_seconds_on_frames_needs_a_recorded_frame_rate(data, tmp_path):
    settings = EvalSettings(stride_seconds=0.5, crops=1)
    with pytest.raises(UsageError, match="--stride N"):
        evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", settings)
    frames = tmp_path / "frames"
    shutil.copytree(data["frames"], frames)
    (frames / "flow_config.yaml").write_text("fps: 10\n")
    evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", settings, frames)
    sf = load_scores(tmp_path / "s.npz")
    assert sf.meta["snippets_per_second"] == 2.0 and sf.meta["stride_seconds"] == 0.5
    assert [len(r) for r in sf.raw] == [2, 3, 2, 3, 2, 3]  # 0.5 s x 10 fps = a stride of 5


def test_stride_seconds_on_a_video_list_takes_each_videos_frame_rate(data, tmp_path):
    header = f"# tsn-list: kind=videos size={evalkit.FRAME_SIZE}\n"
    lines = [
        f"{video} {record.num_frames} {record.label}\n"
        for video, record in zip(data["videos"], data["records"], strict=True)
    ]
    (tmp_path / "videos.txt").write_text(header + "".join(lines))
    evaluate(
        data["rgb_ckpt"], tmp_path / "videos.txt", tmp_path / "v.npz",
        EvalSettings(stride_seconds=0.5, crops=1),
    )  # fmt: skip
    sf = load_scores(tmp_path / "v.npz")
    assert [len(r) for r in sf.raw] == [2, 3, 2, 3, 2, 3]
    assert sf.meta["snippets_per_second"] == 2.0
    evaluate(
        data["rgb_ckpt"], tmp_path / "videos.txt", tmp_path / "n.npz",
        EvalSettings(stride=4, crops=1),
    )  # fmt: skip
    assert load_scores(tmp_path / "n.npz").meta["snippets_per_second"] == 2.5  # 10 fps / 4


def test_an_untrimmed_list_tested_with_segments_warns_to_use_stride(data, tmp_path, caplog):
    untrimmed = write_list(
        tmp_path / "val.txt", read_list(data["rgb_list"]), header={"untrimmed": "1"}
    )
    with caplog.at_level(logging.WARNING, logger="tsncli.engine.evaluate"):
        evaluate(data["rgb_ckpt"], untrimmed, tmp_path / "s.npz", EvalSettings(segments=2, crops=1))
    (line,) = [r.getMessage() for r in caplog.records if "untrimmed" in r.getMessage()]
    assert "--stride" in line and "\n" not in line
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tsncli.engine.evaluate"):
        evaluate(data["rgb_ckpt"], untrimmed, tmp_path / "d.npz", EvalSettings(stride=8, crops=1))
    assert not [r for r in caplog.records if "untrimmed" in r.getMessage()]


def test_a_class_order_other_than_the_checkpoints_is_an_error(runner, cli, data, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    listed = write_list(lists / "toy_rgb_val_split_1.txt", read_list(data["rgb_list"]))
    write_classes(lists / "toy_classes.txt", list(evalkit.CLASSES))
    settings = EvalSettings(segments=2, crops=1)
    evaluate(data["rgb_ckpt"], listed, tmp_path / "same.npz", settings)  # same order: fine
    write_classes(lists / "toy_classes.txt", [evalkit.CLASSES[1], evalkit.CLASSES[0], "blue_up"])
    args = ["eval", str(data["rgb_ckpt"]), "--list", str(listed), "--segments", "2"]
    result = runner.invoke(cli, [*args, "--save-scores", str(tmp_path / "s.npz")])
    assert result.exit_code == 1
    message = _text(result.output)
    assert "'red_left' in the checkpoint but 'green_right'" in message and "--classes" in message
    assert len(result.output.strip().splitlines()) == 1
