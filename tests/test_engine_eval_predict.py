"""`tsn eval` and `tsn predict` on a tiny generated dataset with tiny checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import evalkit
import numpy as np
import pytest
import torch

from tsncli.engine.eval import evaluate as evaluate_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.fusion import aggregate_video, fuse_scores
from tsncli.engine.metrics import compute_metrics
from tsncli.engine.predict import predict_videos
from tsncli.engine.scores import load_scores

SEG = 4  # snippets: small, so the tests stay fast


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaldata")
    out = evalkit.make_dataset(root)
    out["rgb_ckpt"] = evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1)
    out["flow_ckpt"] = evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2)
    out["rgbdiff_ckpt"] = evalkit.make_checkpoint(root / "rgbdiff.pt", "rgbdiff", seed=3)
    out["rgbdiff_list"] = out["rgb_list"]
    return out


def _text(output: str) -> str:
    return " ".join(output.split())  # Rich wraps long error lines


def _eval(runner, cli, ckpt, list_file, out, *extra):
    args = ["eval", str(ckpt), "--list", str(list_file), "--save-scores", str(out)]
    return runner.invoke(cli, [*args, "--segments", str(SEG), *extra])


def test_eval_saved_scores_reproduce_printed_metrics(runner, cli, data, tmp_path):
    result = _eval(runner, cli, data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    sf = load_scores(tmp_path / "s.npz")
    again = compute_metrics(sf.scores, sf.labels)
    assert printed["num_videos"] == 6 == len(sf)
    for key in ("mean_class_accuracy", "top1", "top5"):
        assert 0.0 <= printed[key] <= 1.0 and printed[key] == pytest.approx(getattr(again, key))
    assert sf.classes == evalkit.CLASSES and sf.meta["segments"] == SEG
    assert sf.meta["crops"] == 10 and sf.meta["modality"] == "rgb"
    assert sf.videos == [Path(r.path).name for r in data["records"]]  # list order
    assert not (tmp_path / "s.npz.shards").exists()  # merged and cleaned up


def test_eval_prints_a_metrics_table(runner, cli, data, tmp_path):
    result = _eval(
        runner, cli, data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", "--crops", "1"
    )
    assert result.exit_code == 0, result.output
    assert "mean class accuracy" in result.stdout and "top-5" in result.stdout


def test_eval_keep_raw_stores_snippet_crop_scores_that_aggregate_to_scores(data, tmp_path):
    settings = EvalSettings(segments=SEG, crops=5, keep_raw=True, batch=2)
    evaluate(data["flow_ckpt"], data["flow_list"], tmp_path / "f.npz", settings)
    sf = load_scores(tmp_path / "f.npz")
    assert sf.raw.shape == (6, SEG, 5, 3) and sf.raw.dtype == np.float16
    again = np.stack([aggregate_video(r) for r in sf.raw.astype(np.float32)])
    np.testing.assert_allclose(again, sf.scores, atol=1e-2)


def test_eval_with_two_workers_matches_one_worker_in_list_order(data, tmp_path):
    settings = EvalSettings(segments=2, crops=1)
    one = evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "one.npz", settings)
    two = evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "two.npz", settings, workers=2)
    a, b = load_scores(one.scores_path), load_scores(two.scores_path)
    assert a.videos == b.videos
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-5)


def test_eval_reports_an_unreadable_video_and_scores_the_others(runner, cli, data, tmp_path):
    broken = tmp_path / "frames"
    shutil.copytree(data["frames"], broken)
    for image in (broken / "v_green_right_0").glob("img_*.jpg"):
        image.write_bytes(b"not a jpeg")
    out = tmp_path / "s.npz"
    result = _eval(runner, cli, data["rgb_ckpt"], data["rgb_list"], out, "--frames", str(broken))
    assert result.exit_code == 1
    assert "v_green_right_0" in _text(result.stderr) and "corrupt" in _text(result.stderr)
    sf = load_scores(out)
    assert len(sf) == 5 and "v_green_right_0" not in sf.videos
    assert (tmp_path / "s.npz.shards").is_dir()  # kept, so a rerun retries only that shard


def test_eval_resumes_from_finished_shards(data, tmp_path, monkeypatch):
    settings = EvalSettings(segments=2, crops=1)
    out = tmp_path / "s.npz"
    calls = []
    real = evaluate_module.run_shard

    def dying(task):
        if calls:
            raise KeyboardInterrupt  # killed after the first shard
        calls.append(task.start)
        return real(task)

    monkeypatch.setattr(evaluate_module, "run_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        evaluate(data["rgb_ckpt"], data["rgb_list"], out, settings)
    assert not out.exists() and len(list((tmp_path / "s.npz.shards").glob("shard_*"))) == 1
    monkeypatch.setattr(evaluate_module, "run_shard", real)
    result = evaluate(data["rgb_ckpt"], data["rgb_list"], out, settings)
    assert result.resumed_shards == 1 and result.metrics.num_videos == 6
    fresh = evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "fresh.npz", settings)
    np.testing.assert_allclose(load_scores(out).scores, load_scores(fresh.scores_path).scores)


def test_eval_missing_checkpoint_names_the_fix(runner, cli, data, tmp_path):
    result = _eval(runner, cli, tmp_path / "none.pt", data["rgb_list"], tmp_path / "s.npz")
    assert result.exit_code == 1 and "does not exist" in _text(result.output)


def test_eval_bad_list_is_an_error(runner, cli, data, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("only_two fields\n")
    result = _eval(runner, cli, data["rgb_ckpt"], bad, tmp_path / "s.npz")
    assert result.exit_code == 1 and "expected '<frame_dir> <num_frames> <label>'" in _text(
        result.output
    )
    missing = _eval(runner, cli, data["rgb_ckpt"], tmp_path / "nope.txt", tmp_path / "s.npz")
    assert missing.exit_code == 1 and "does not exist" in _text(missing.output)


def test_eval_rejects_labels_outside_the_checkpoint_classes(runner, cli, data, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{data['records'][0].path} 12 7\n")
    result = _eval(runner, cli, data["rgb_ckpt"], bad, tmp_path / "s.npz")
    assert result.exit_code == 1 and "outside the checkpoint's 3 classes" in _text(result.output)


@pytest.mark.parametrize("modality", ["rgb", "flow", "rgbdiff"])
def test_predict_on_a_video_agrees_with_eval_on_its_extracted_frames(data, tmp_path, modality):
    ckpt, list_file = data[f"{modality}_ckpt"], data[f"{modality}_list"]
    evaluate(ckpt, list_file, tmp_path / "s.npz", EvalSettings(segments=SEG, crops=10))
    sf = load_scores(tmp_path / "s.npz")
    predictions = list(predict_videos(data["videos"], [ckpt], segments=SEG, crops=10))
    assert all(p.error is None for p in predictions)
    got = np.stack([p.scores for p in predictions])
    np.testing.assert_allclose(got, sf.scores, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("modality", ["rgb", "flow", "rgbdiff"])
def test_predict_on_a_frames_folder_agrees_with_eval_on_it(data, tmp_path, modality):
    ckpt, list_file = data[f"{modality}_ckpt"], data[f"{modality}_list"]
    evaluate(ckpt, list_file, tmp_path / "s.npz", EvalSettings(segments=SEG, crops=1))
    sf = load_scores(tmp_path / "s.npz")
    folders = [data["frames"] / Path(v).stem for v in data["videos"][:2]]
    predictions = list(predict_videos(folders, [ckpt], segments=SEG, crops=1))
    assert all(p.error is None for p in predictions)
    np.testing.assert_allclose([p.scores for p in predictions], sf.scores[:2], atol=1e-4)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_a_video_extracted_in_memory_reads_the_frames_tsn_flow_wrote(data, modality):
    from tsncli.data.memory_source import MemoryFrameSource
    from tsncli.data.snippet_source import FRAME_FOLDERS
    from tsncli.frame_settings import FrameSettings
    from tsncli.lists.listfile import VideoRecord

    source = MemoryFrameSource(FrameSettings.from_dict(evalkit.FLOW_META))
    video = data["videos"][0]
    available = source.count(str(video), modality)
    indices = np.array([[1, 2], [available // 2, available // 2 + 1], [available - 1, available]])
    in_memory = source.read_frames(VideoRecord(str(video), available, 0), indices, modality)
    folder = VideoRecord(str(data["frames"] / Path(video).stem), available, 0)
    on_disk = FRAME_FOLDERS.read_frames(folder, indices, modality)
    assert len(in_memory) == 6
    assert all(np.array_equal(a, b) for a, b in zip(in_memory, on_disk, strict=True))


def test_predict_fuses_rgb_and_flow_like_fuse_does(data, tmp_path):
    settings = EvalSettings(segments=SEG, crops=1)
    rgb = evaluate(data["rgb_ckpt"], data["rgb_list"], tmp_path / "r.npz", settings).scores_path
    flow = evaluate(data["flow_ckpt"], data["flow_list"], tmp_path / "f.npz", settings).scores_path
    fused = fuse_scores([load_scores(rgb), load_scores(flow)], [1, 1.5]).scores
    ckpts = [data["rgb_ckpt"], data["flow_ckpt"]]
    predictions = predict_videos(data["videos"][:2], ckpts, [1, 1.5], segments=SEG, crops=1)
    got = np.stack([p.scores for p in predictions])
    np.testing.assert_allclose(got, fused[:2], rtol=1e-3, atol=1e-3)


def test_predict_json_has_one_object_per_video_and_reports_bad_ones(runner, cli, data, tmp_path):
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"\x00" * 100)
    videos = [str(data["videos"][0]), str(corrupt), str(data["frames"] / "v_blue_up_1")]
    args = ["predict", *videos, "--checkpoint", str(data["rgb_ckpt"]), "--segments", "3"]
    result = runner.invoke(cli, [*args, "--crops", "1", "--top-k", "2", "--snippets", "--json"])
    assert result.exit_code == 1  # one video failed, the others still ran
    payload = json.loads(result.stdout)
    first, bad, folder = payload["videos"]
    assert len(first["top"]) == 2 and first["top"][0]["class"] in evalkit.CLASSES
    assert len(first["snippets"]) == 3 and first["snippets"][0]["seconds"] is not None
    assert "corrupt.avi" in bad["error"] and "error:" in _text(result.stderr)
    assert folder["top"][0]["probability"] > 0


def test_predict_reports_a_bad_video_on_exactly_one_line(runner, cli, data, tmp_path):
    deep = tmp_path.joinpath(*["a_long_folder_name"] * 8)
    deep.mkdir(parents=True)
    corrupt = deep / "corrupt.avi"
    corrupt.write_bytes(b"\x00" * 100)
    args = ["predict", str(corrupt), "--checkpoint", str(data["rgb_ckpt"]), "--crops", "1"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and str(corrupt) in errors[0]


def test_predict_table_shows_class_names(runner, cli, data):
    args = ["predict", str(data["videos"][0]), "--checkpoint", str(data["rgb_ckpt"])]
    result = runner.invoke(cli, [*args, "--segments", "2", "--crops", "1"])
    assert result.exit_code == 0, result.output
    assert "probability" in result.stdout and "blue_up" in result.stdout


def test_predict_rejects_wrong_number_of_weights(runner, cli, data):
    args = ["predict", str(data["videos"][0]), "--checkpoint", str(data["rgb_ckpt"])]
    result = runner.invoke(cli, [*args, "--weights", "1", "1.5"])
    assert result.exit_code == 1 and "2 weights given for 1 checkpoints" in _text(result.output)


def test_eval_warns_when_frames_were_made_with_other_flow_settings(runner, cli, data, tmp_path):
    from tsncli.flow.job import FlowConfig, save_flow_settings

    frames = tmp_path / "frames"
    shutil.copytree(data["frames"] / "v_red_left_0", frames / "v_red_left_0")
    save_flow_settings(frames, FlowConfig(algo="dis", size=evalkit.FRAME_SIZE))
    list_file = tmp_path / "one.txt"
    list_file.write_text(f"{frames / 'v_red_left_0'} 11 0\n")
    args = ["--segments", "1", "--crops", "1"]
    result = _eval(runner, cli, data["flow_ckpt"], list_file, tmp_path / "s.npz", *args)
    assert result.exit_code == 0, result.output
    assert "flow_algorithm 'dis' vs 'farneback'" in _text(result.stderr)


def test_eval_reuses_an_up_to_date_score_file_unless_forced(data, tmp_path, monkeypatch):
    settings = EvalSettings(segments=2, crops=1)
    out = tmp_path / "s.npz"
    first = evaluate(data["rgb_ckpt"], data["rgb_list"], out, settings)
    calls = []
    real = evaluate_module.run_shard
    monkeypatch.setattr(evaluate_module, "run_shard", lambda task: calls.append(1) or real(task))
    again = evaluate(data["rgb_ckpt"], data["rgb_list"], out, settings)
    assert not calls and again.metrics.top1 == first.metrics.top1
    evaluate(data["rgb_ckpt"], data["rgb_list"], out, EvalSettings(segments=3, crops=1))
    assert calls  # other settings: recomputed
    calls.clear()
    evaluate(data["rgb_ckpt"], data["rgb_list"], out, EvalSettings(segments=3, crops=1), force=True)
    assert calls


def test_eval_gpus_without_cuda_names_the_fix(runner, cli, data, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # any machine, GPU or not
    result = _eval(
        runner, cli, data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", "--gpus", "1"
    )
    assert result.exit_code == 1 and "use --workers on CPU" in _text(result.output)
    both = ["--gpus", "1", "--workers", "2"]
    result = _eval(runner, cli, data["rgb_ckpt"], data["rgb_list"], tmp_path / "s.npz", *both)
    assert result.exit_code == 1 and "not both" in _text(result.output)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_eval_on_a_video_list_matches_eval_on_extracted_frames(data, tmp_path, modality):
    header = f"# tsn-list: kind=videos size={evalkit.FRAME_SIZE}\n"
    extra = 0 if modality == "rgb" else 1  # N frames give N - 1 flows
    lines = [
        f"{video} {record.num_frames - extra} {record.label}\n"
        for video, record in zip(data["videos"], data["records"], strict=True)
    ]
    (tmp_path / "videos.txt").write_text(header + "".join(lines))
    settings = EvalSettings(segments=SEG, crops=1)
    ckpt = data[f"{modality}_ckpt"]
    evaluate(ckpt, tmp_path / "videos.txt", tmp_path / "v.npz", settings)
    evaluate(ckpt, data[f"{modality}_list"], tmp_path / "f.npz", settings)
    from_videos, from_frames = load_scores(tmp_path / "v.npz"), load_scores(tmp_path / "f.npz")
    assert from_videos.videos == from_frames.videos
    np.testing.assert_allclose(from_videos.scores, from_frames.scores, atol=0.05)  # JPEG only
