"""Score files (ours and legacy eval_net.py), aggregation, alignment and `tsn fuse`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tsncli.engine.fusion import aggregate_video, fuse_scores, search_weights
from tsncli.engine.metrics import compute_metrics
from tsncli.engine.scores import ScoreFile, load_scores, save_scores
from tsncli.errors import DataError

V, S, K, C = 12, 25, 10, 6


# --- the original definitions (tools/eval_scores.py + pyActionRecog), kept as the reference ---
def _orig_softmax(raw_score, T=1):
    exp_s = np.exp((raw_score - raw_score.max(axis=-1)[..., None]) * T)
    sum_s = exp_s.sum(axis=-1)
    return exp_s / sum_s[..., None]


def _orig_default_aggregation_func(score_arr, normalization=True, crop_agg=None):
    crop_agg = np.mean if crop_agg is None else crop_agg
    if normalization:
        return _orig_softmax(crop_agg(score_arr, axis=1).mean(axis=0))
    return crop_agg(score_arr, axis=1).mean(axis=0)


def _orig_eval_scores(raw_list, weights, crop_agg):
    agg = [
        np.array(
            [_orig_default_aggregation_func(x, normalization=False, crop_agg=crop_agg) for x in r]
        )
        for r in raw_list
    ]
    final = np.zeros_like(agg[0])
    for i, a in enumerate(agg):
        final += a * weights[i]
    return final


def _raw(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(V, S, K, C)).astype(np.float32)


LABELS = np.arange(V) % C
VIDEOS = [f"v_{i:03d}" for i in range(V)]
CLASSES = [f"class{i}" for i in range(C)]


def _save_legacy(path, raw):
    pairs = np.empty((V, 2), dtype=object)
    for i in range(V):
        pairs[i, 0], pairs[i, 1] = raw[i], int(LABELS[i])
    np.savez(path, scores=pairs, labels=LABELS)
    return path


def _save_new(path, raw, videos=VIDEOS, labels=LABELS, classes=CLASSES, keep_raw=True):
    scores = np.stack([aggregate_video(r) for r in raw])
    sf = ScoreFile(scores, np.asarray(labels), list(videos), list(classes), {"modality": "rgb"})
    sf.raw = raw if keep_raw else None
    return save_scores(path, sf)


def test_score_file_round_trips_without_pickle(tmp_path):
    path = _save_new(tmp_path / "a.npz", _raw(0))
    with np.load(path, allow_pickle=False) as npz:
        assert npz["raw"].dtype == np.float16 and npz["raw"].shape == (V, S, K, C)
    sf = load_scores(path)
    assert sf.videos == VIDEOS and sf.classes == CLASSES and sf.meta["modality"] == "rgb"
    assert sf.scores.shape == (V, C) and sf.labels.tolist() == LABELS.tolist()


def test_save_scores_keeps_exact_name_and_leaves_no_temporary(tmp_path):
    _save_new(tmp_path / "x.npz", _raw(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]


def test_legacy_file_loads_with_original_aggregation(tmp_path):
    raw = _raw(1)
    sf = load_scores(_save_legacy(tmp_path / "old.npz", raw))
    assert sf.legacy and sf.videos is None and sf.classes is None
    expected = np.array([_orig_default_aggregation_func(x, normalization=False) for x in raw])
    np.testing.assert_allclose(sf.scores, expected, rtol=1e-6)


def test_legacy_file_with_caffe_trailing_dims_and_port_shape_loads(tmp_path):
    raw = _raw(2)[:, :, :, :, None, None]  # Caffe blobs [S, K, C, 1, 1]
    pairs = np.empty((V, 2), dtype=object)
    for i in range(V):
        pairs[i, 0], pairs[i, 1] = raw[i], int(LABELS[i])
    np.savez(tmp_path / "caffe.npz", scores=pairs, labels=LABELS)
    assert load_scores(tmp_path / "caffe.npz").scores.shape == (V, C)


@pytest.mark.parametrize("crop_agg", ["mean", "max"])
def test_fusion_of_legacy_and_new_files_matches_original_eval_scores(tmp_path, crop_agg):
    rgb, flow = _raw(3), _raw(4)
    expected = _orig_eval_scores([rgb, flow], [1, 1.5], getattr(np, crop_agg))
    legacy = [
        load_scores(_save_legacy(tmp_path / f"{n}.npz", r)) for n, r in [("r", rgb), ("f", flow)]
    ]
    got_legacy = fuse_scores(legacy, [1, 1.5], crop_agg).scores
    np.testing.assert_allclose(got_legacy, expected, rtol=1e-5, atol=1e-6)
    new = [load_scores(_save_new(tmp_path / f"{n}2.npz", r)) for n, r in [("r", rgb), ("f", flow)]]
    got_new = fuse_scores(new, [1, 1.5], crop_agg).scores
    tol = 1e-5 if crop_agg == "mean" else 5e-3  # max reads the float16 raw scores
    np.testing.assert_allclose(got_new, expected, rtol=tol, atol=tol)
    mixed = fuse_scores([new[0], legacy[1]], [1, 1.5], crop_agg).scores
    np.testing.assert_allclose(mixed, expected, rtol=tol, atol=tol)


def test_softmax_fusion_normalises_each_file_before_summing(tmp_path):
    rgb, flow = _raw(5), _raw(6)
    files = [load_scores(_save_legacy(tmp_path / f"{i}.npz", r)) for i, r in enumerate([rgb, flow])]
    expected = sum(
        w * np.array([_orig_default_aggregation_func(x) for x in r])
        for w, r in [(1, rgb), (2, flow)]
    )
    np.testing.assert_allclose(
        fuse_scores(files, [1, 2], use_softmax=True).scores, expected, rtol=1e-5
    )


def test_fusion_aligns_files_by_video_id(tmp_path):
    raw = _raw(7)
    order = np.random.default_rng(0).permutation(V)
    a = load_scores(_save_new(tmp_path / "a.npz", raw))
    b = load_scores(
        _save_new(tmp_path / "b.npz", raw[order], [VIDEOS[i] for i in order], LABELS[order])
    )
    np.testing.assert_allclose(fuse_scores([a, b]).scores, 2 * a.scores, rtol=1e-6)


def test_fusion_rejects_different_video_sets_naming_them(tmp_path):
    a = load_scores(_save_new(tmp_path / "a.npz", _raw(0)))
    b = load_scores(_save_new(tmp_path / "b.npz", _raw(0), VIDEOS[:-1] + ["other"]))
    with pytest.raises(DataError, match="video sets differ.*v_011.*other"):
        fuse_scores([a, b])


def test_fusion_rejects_different_labels(tmp_path):
    a = load_scores(_save_new(tmp_path / "a.npz", _raw(0)))
    b = load_scores(_save_new(tmp_path / "b.npz", _raw(0), labels=(LABELS + 1) % C))
    with pytest.raises(DataError, match="labels differ for 12 videos, e.g. video v_000"):
        fuse_scores([a, b])


def test_fusion_rejects_different_class_lists(tmp_path):
    a = load_scores(_save_new(tmp_path / "a.npz", _raw(0)))
    b = load_scores(_save_new(tmp_path / "b.npz", _raw(0), classes=CLASSES[::-1]))
    with pytest.raises(DataError, match="class lists differ: class 0"):
        fuse_scores([a, b])


def test_fusion_rejects_legacy_files_of_different_length(tmp_path):
    a = load_scores(_save_legacy(tmp_path / "a.npz", _raw(0)))
    b = load_scores(_save_new(tmp_path / "b.npz", _raw(0)[:5], VIDEOS[:5], LABELS[:5]))
    with pytest.raises(DataError, match="has 12 videos but .* has 5"):
        fuse_scores([a, b])


def test_max_crop_aggregation_without_raw_names_the_fix(tmp_path):
    a = load_scores(_save_new(tmp_path / "a.npz", _raw(0), keep_raw=False))
    with pytest.raises(Exception, match="--keep-raw"):
        fuse_scores([a], crop_agg="max")


def test_load_scores_rejects_non_score_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_scores(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_scores(tmp_path / "missing.npz")


def test_search_weights_finds_the_better_modality():
    good = np.eye(C, dtype=np.float32)[LABELS] * 3
    noise = np.random.default_rng(0).normal(size=(V, C)).astype(np.float32)
    files = [ScoreFile(noise, LABELS, VIDEOS, CLASSES), ScoreFile(good, LABELS, VIDEOS, CLASSES)]
    best_weights, best = search_weights(files)[0]
    assert best == 1.0 and best_weights[1] > 0


def test_fuse_cli_prints_json_matching_the_fused_metrics(runner, cli, tmp_path):
    rgb, flow = _raw(8), _raw(9)
    a, b = _save_new(tmp_path / "a.npz", rgb), _save_legacy(tmp_path / "b.npz", flow)
    result = runner.invoke(cli, ["fuse", str(a), str(b), "--weights", "1", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    expected = compute_metrics(_orig_eval_scores([rgb, flow], [1, 1.5], np.mean), LABELS)
    assert payload["weights"] == [1.0, 1.5] and payload["num_videos"] == V
    assert payload["mean_class_accuracy"] == pytest.approx(expected.mean_class_accuracy)
    assert payload["top5"] == pytest.approx(expected.top5)


def test_fuse_cli_writes_fused_file_and_confusion_png(runner, cli, tmp_path):
    a, b = _save_new(tmp_path / "a.npz", _raw(1)), _save_new(tmp_path / "b.npz", _raw(2))
    args = ["fuse", str(a), str(b), "--per-class", "--out", str(tmp_path / "f.npz")]
    result = runner.invoke(cli, [*args, "--confusion", str(tmp_path / "cf.png")])
    assert result.exit_code == 0, result.output
    assert "mean class accuracy" in result.stdout and "class5" in result.stdout
    fused = load_scores(tmp_path / "f.npz")
    assert fused.videos == VIDEOS and fused.meta["weights"] == [1.0, 1.0]
    assert cv2.imread(str(tmp_path / "cf.png")) is not None


def test_fuse_cli_reports_misaligned_files_as_error(runner, cli, tmp_path):
    a = _save_new(tmp_path / "a.npz", _raw(0))
    b = _save_new(tmp_path / "b.npz", _raw(0)[:5], VIDEOS[:5], LABELS[:5])
    result = runner.invoke(cli, ["fuse", str(a), str(b)])
    assert result.exit_code == 1 and "error: video sets differ" in " ".join(result.output.split())


def test_fuse_cli_rejects_wrong_number_of_weights(runner, cli, tmp_path):
    a = _save_new(tmp_path / "a.npz", _raw(0))
    result = runner.invoke(cli, ["fuse", str(a), "--weights", "1", "2"])
    assert result.exit_code == 1 and "2 weights given for 1 score files" in " ".join(
        result.output.split()
    )


def test_fuse_cli_search_warns_that_test_tuning_is_optimistic(runner, cli, tmp_path):
    a, b = _save_new(tmp_path / "a.npz", _raw(1)), _save_new(tmp_path / "b.npz", _raw(2))
    result = runner.invoke(cli, ["fuse", str(a), str(b), "--search", "--json"])
    assert result.exit_code == 0, result.output
    assert "optimistic" in result.stderr and json.loads(result.stdout)["search"]
