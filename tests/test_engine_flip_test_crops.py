"""A model trained without mirrored clips (sthv2: classes that are not mirror-invariant) is
never tested on mirrored crops: eval and predict take 5 crops, not 10, and refuse --crops 10."""

from __future__ import annotations

import logging

import evalkit
import pytest
import torch

from tsncli.data.crops import resolve_test_crops
from tsncli.engine import predict as predict_module
from tsncli.engine.eval.evaluate import EvalSettings, evaluate
from tsncli.engine.predict import predict_videos
from tsncli.engine.scores import load_scores
from tsncli.errors import UsageError
from tsncli.models.checkpoint import save_checkpoint
from tsncli.models.tsn import create_tsn


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("flipcrops")
    out = evalkit.make_dataset(root, videos_per_class=1)
    torch.manual_seed(1)
    model = create_tsn("tiny", 3, modality="rgb", num_segments=3, new_length=1, dropout=0.5)
    meta = {"class_names": evalkit.CLASSES, "crop_size": 32, "flow": evalkit.FLOW_META}
    out["unflipped"] = save_checkpoint(root / "unflipped.pt", model, {**meta, "flip": False})
    out["flipped"] = evalkit.make_checkpoint(root / "flipped.pt", "rgb", seed=1)
    return out


def test_the_default_is_10_crops_or_5_for_a_model_trained_without_flips():
    assert resolve_test_crops(None, flip=True) == 10
    assert resolve_test_crops(None, flip=False) == 5
    assert resolve_test_crops(1, flip=False) == 1
    with pytest.raises(UsageError, match="--crops 5"):
        resolve_test_crops(10, flip=False)


def test_eval_tests_an_unflipped_model_on_5_crops_and_says_so(data, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="tsncli"):
        result = evaluate(data["unflipped"], data["rgb_list"], tmp_path / "s.npz")
    assert result.crops == 5 and load_scores(tmp_path / "s.npz").meta["crops"] == 5
    said = [r.getMessage() for r in caplog.records if "without mirrored clips" in r.getMessage()]
    assert len(said) == 1 and "testing 5 crops" in said[0]
    flipped = evaluate(data["flipped"], data["rgb_list"], tmp_path / "f.npz", EvalSettings(2))
    assert flipped.crops == 10


def test_eval_refuses_10_crops_on_an_unflipped_model_naming_crops_5(runner, cli, data, tmp_path):
    args = ["eval", str(data["unflipped"]), "--list", str(data["rgb_list"])]
    result = runner.invoke(cli, [*args, "--save-scores", str(tmp_path / "s.npz"), "--crops", "10"])
    assert result.exit_code == 1 and "--crops 5" in " ".join(result.output.split())
    ok = runner.invoke(cli, [*args, "--save-scores", str(tmp_path / "t.npz"), "--segments", "2"])
    assert ok.exit_code == 0, ok.output
    text = " ".join(ok.output.split())  # Rich wraps the table title
    assert "2 snippets x 5 crops" in text and "testing 5 crops" in text


def test_predict_tests_an_unflipped_model_on_5_crops(runner, cli, data, monkeypatch):
    used = []
    real = predict_module._score_one
    monkeypatch.setattr(
        predict_module,
        "_score_one",
        lambda p, s, seg, crops, *rest: used.append(crops) or real(p, s, seg, crops, *rest),
    )
    ckpts = [data["unflipped"], data["flipped"]]
    predictions = list(predict_videos(data["videos"][:1], ckpts, segments=2))
    assert predictions[0].error is None and used == [5, 10]
    video = str(data["videos"][0])
    args = ["predict", video, "--checkpoint", str(data["unflipped"]), "--crops", "10"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1 and "--crops 5" in " ".join(result.output.split())
