"""`tsn explain`: Grad-CAM per segment. Shapes and range, segments explained independently,
the model-randomization check (Adebayo et al., 2018), peaks on the moving object of a toy video
for a tiny model trained here, the overlay files, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import evalkit
import numpy as np
import pytest
import torch

from tsncli.acquire.toy_render import (
    TOY_CLASSES,
    ToySpec,
    VideoPlan,
    render_video_with_track,
    write_video,
)
from tsncli.data.transforms import test_clip, val_transform
from tsncli.engine.explain import explain_video, grad_cam, resolve_cam_layer, short_layer_name
from tsncli.frame_settings import FrameSettings
from tsncli.models.backbones import create_backbone
from tsncli.models.checkpoint import create_model_from_checkpoint, save_checkpoint
from tsncli.models.normalize import Normalize
from tsncli.models.tsn import create_tsn
from tsncli.specs.backbones import BACKBONES, CONVENTIONS
from tsncli.video.decode import iter_video_frames

TOY = ToySpec(width=128, height=96)
TOY_LABELS = [0, 3, 5, 6]  # red slide, green circle, blue bob, purple climb: distinct colours
CROP = 64  # the tiny backbone's map is CROP / 8 = 8 cells a side


def _plan(label: int, index: int) -> VideoPlan:
    name, _hue, motion = TOY_CLASSES[label]
    return VideoPlan(
        name=f"v_{name}_{index}",
        class_name=name,
        label=label,
        group=index,
        clip=1,
        subset="train",
        grey=False,  # coloured and moving: both cues present
        still=False,
        motion=motion,
        num_frames=24,
        speed=3.0,
        quality=90,
        seed=1000 * label + index,
    )


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    """A tiny RGB TSN trained for ~3 s on rendered toy clips (4 classes told apart by the moving
    object's colour and motion), saved as a checkpoint that decodes videos at 128x96."""
    clips, labels = [], []
    for k, label in enumerate(TOY_LABELS):
        for index in range(6):
            frames = render_video_with_track(_plan(label, index), TOY)[0]
            rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
            clips.append(np.stack([val_transform(f, CROP) for f in rgb]))  # (T, 64, 64, 3)
            labels.append(k)
    torch.manual_seed(0)
    model = create_tsn("tiny", len(TOY_LABELS), num_segments=3, dropout=0.0, partial_bn=False)
    normalize = Normalize("rgb", CONVENTIONS["imagenet_rgb01"], input_order="rgb")
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threads only spin against the other tests' load
    for _ in range(100):
        batch = rng.integers(0, len(clips), 16)
        x = np.stack(
            [
                clips[j][np.sort(rng.integers(0, len(clips[j]), 3))].transpose(0, 3, 1, 2)
                for j in batch
            ]
        )
        loss = torch.nn.functional.cross_entropy(
            model(normalize(torch.as_tensor(x))), torch.as_tensor([labels[j] for j in batch])
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    meta = {
        "class_names": [TOY_CLASSES[label][0] for label in TOY_LABELS],
        "crop_size": CROP,
        "frames": FrameSettings(size=(128, 96), flow_algorithm="dis").to_dict(),
    }
    root = tmp_path_factory.mktemp("explain")
    path = save_checkpoint(root / "toy_rgb.pt", model.eval(), meta)
    videos = []
    for label in TOY_LABELS:
        for index in (100, 101):  # held out: not among the training clips
            plan = _plan(label, index)
            video = root / f"{plan.name}.avi"
            write_video(video, render_video_with_track(plan, TOY)[0], TOY.fps, 90)
            videos.append(video)
    return {"checkpoint": path, "videos": videos, "root": root}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """evalkit's random tiny checkpoints (crop 32) and a short video of a moving square."""
    root = tmp_path_factory.mktemp("explain_small")
    return {
        "rgb": evalkit.make_checkpoint(root / "rgb.pt", "rgb", seed=1),
        "flow": evalkit.make_checkpoint(root / "flow.pt", "flow", seed=2),
        "video": evalkit.write_video(root / "v.avi", 1, frames=20),
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


# --- Grad-CAM itself -------------------------------------------------------------------------


def test_maps_have_one_map_per_segment_at_the_input_size_in_zero_to_one(small):
    explanation = explain_video(small["video"], small["rgb"], segments=5)
    assert explanation.maps.shape == (5, 32, 32) and explanation.maps.dtype == np.float32
    assert explanation.maps.min() >= 0.0 and explanation.maps.max() <= 1.0
    for cam in explanation.maps:  # each map is scaled to its own peak, or all zero
        assert cam.max() == pytest.approx(1.0) or not cam.any()
    assert explanation.frames.shape == (5, 32, 32, 3) and explanation.frames.dtype == np.uint8
    assert len(explanation.frame_numbers) == 5 and explanation.fps == pytest.approx(10.0)


def test_each_segment_is_explained_by_its_own_gradient(toy_model):
    """The map of segment s in an S-segment clip equals the map of that snippet alone: the
    consensus average only scales segment s's gradient by 1/S, which the normalisation drops.
    A reshape that mixed segments (weights averaged over S, or the batch read as (C, S))
    would make the maps depend on the other segments. conv3, not the default bn3: right before
    the global pool the gradient is the same for every segment and position (Grad-CAM is CAM
    there), so averaging weights over segments would go unnoticed."""
    model, _ = create_model_from_checkpoint(toy_model["checkpoint"])
    layer = resolve_cam_layer(model, "conv3")
    frames = render_video_with_track(_plan(TOY_LABELS[2], 7), TOY)[0][::6]  # 4 moments
    crops = [val_transform(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), CROP) for f in frames]
    normalize = Normalize("rgb", CONVENTIONS["imagenet_rgb01"], input_order="rgb")
    inputs = normalize(torch.as_tensor(np.stack(crops).transpose(0, 3, 1, 2))[None])
    together = grad_cam(model, inputs, layer, class_index=2).maps
    for s in range(4):
        alone = grad_cam(model, inputs[:, s : s + 1], layer, class_index=2).maps[0]
        np.testing.assert_allclose(together[s], alone, atol=1e-5)


def test_two_segments_with_different_content_get_different_maps(toy_model):
    explanation = explain_video(toy_model["videos"][0], toy_model["checkpoint"], segments=2)
    first, last = explanation.maps
    assert not np.allclose(first, last, atol=0.05)
    # the object moved, and the peak moved with it
    peaks = [np.unravel_index(np.argmax(m), m.shape) for m in explanation.maps]
    assert peaks[0] != peaks[1]


def test_maps_of_the_trained_model_differ_from_those_of_random_weights(toy_model, tmp_path):
    """Adebayo et al. (2018): an explanation that survives randomising the weights explains the
    input, not the model. Same architecture, same class, same video, random weights."""
    model, meta = create_model_from_checkpoint(toy_model["checkpoint"])
    torch.manual_seed(123)
    random = create_tsn(**model.describe())
    with torch.no_grad():  # the default fc init (std 0.001) is random too, but nearly silent
        random.fc.weight.normal_(0, 0.1)
    random_path = save_checkpoint(tmp_path / "random.pt", random.eval(), meta)
    correlations = []
    for video in toy_model["videos"]:
        trained = explain_video(video, toy_model["checkpoint"], segments=4)
        shuffled = explain_video(video, random_path, segments=4, class_name=trained.class_name)
        assert shuffled.class_index == trained.class_index
        correlations += [_pearson(a, b) for a, b in zip(trained.maps, shuffled.maps, strict=True)]
    assert np.mean(correlations) < 0.5


def test_peaks_fall_on_the_moving_object_far_more_often_than_chance(toy_model):
    """The object is the saturated region of the crop (the background is low-saturation by
    construction), dilated by 2 px for the 8x8 feature map's coarseness. A peak placed at random
    lands on it with probability = the mask's share of the crop: the chance level, about 8%."""
    hits, chance, total, correct = 0, 0.0, 0, 0
    for video in toy_model["videos"]:
        explanation = explain_video(video, toy_model["checkpoint"], segments=6)
        correct += Path(video).stem.split("_")[1] == explanation.class_name
        for frame, cam in zip(explanation.frames, explanation.maps, strict=True):
            saturated = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)[..., 1] > 120
            mask = cv2.dilate(saturated.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            y, x = np.unravel_index(np.argmax(cam), cam.shape)
            hits += bool(mask[y, x])
            chance += float(mask.mean())
            total += 1
    rate, chance = hits / total, chance / total
    assert correct >= 6  # of 8 held-out videos: the model learned the classes
    assert chance < 0.2  # the object is small: a peak anywhere would rarely hit it
    assert rate > 3 * chance and rate > 0.5, (rate, chance)


def test_a_flow_model_is_explained_over_its_input_and_shown_on_the_rgb_frame(small):
    explanation = explain_video(small["video"], small["flow"], segments=3)
    assert explanation.modality == "flow" and explanation.maps.shape == (3, 32, 32)
    # the frame under each map is the RGB frame at that snippet, cropped as the model's input
    size = FrameSettings(size=evalkit.FRAME_SIZE).size  # what evalkit's checkpoints decode at
    decoded = list(iter_video_frames(small["video"], size=size))
    for frame, number in zip(explanation.frames, explanation.frame_numbers, strict=True):
        differences = []
        for shift in (-1, 0, 1):  # the moving square tells neighbouring frames apart
            rgb = cv2.cvtColor(decoded[number - 1 + shift], cv2.COLOR_BGR2RGB)
            expected = test_clip(rgb, 32, 1, "rgb", 1)[0, 0].transpose(1, 2, 0)
            differences.append(np.abs(frame.astype(int) - expected).mean())
        assert differences[1] < 3  # a JPEG round trip apart
        assert differences[1] <= min(differences) + 0.05  # this frame, not a neighbour


@pytest.mark.parametrize("arch", BACKBONES.names())
def test_every_backbone_names_a_grad_cam_layer_it_has(arch):
    spec = BACKBONES.get(arch)
    assert spec.cam_layer, f"{arch} has no cam_layer"
    backbone = create_backbone(arch)
    for part in spec.cam_layer.split("+"):
        assert isinstance(backbone.get_submodule(part), torch.nn.Module)


@pytest.mark.parametrize("arch", ["tiny", "resnet18", "bninception"])
def test_the_default_layer_gives_a_map_per_segment(arch):
    torch.manual_seed(0)
    model = create_tsn(arch, 3, num_segments=2, dropout=0.0).eval()
    maps = grad_cam(model, torch.randn(1, 2, 3, 64, 64), resolve_cam_layer(model)).maps
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1 and maps.max() > 0


def test_a_layer_that_runs_several_times_per_forward_is_refused():
    model = create_tsn("tiny", 3, num_segments=1).eval()
    with pytest.raises(Exception, match="runs 3 times per forward pass"):
        grad_cam(model, torch.randn(1, 1, 3, 32, 32), resolve_cam_layer(model, "relu"))


# --- the command -----------------------------------------------------------------------------


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_explain_writes_an_overlay_with_one_image_per_segment(runner, cli, small, tmp_path, suffix):
    out, maps = tmp_path / f"cam{suffix}", tmp_path / "maps.npy"
    args = ["explain", str(small["video"]), "--checkpoint", str(small["rgb"]), "--out", str(out)]
    result = runner.invoke(cli, [*args, "--segments", "3", "--save-maps", str(maps)])
    assert result.exit_code == 0, result.output
    images = _decode(out)
    assert len(images) == 3 and images[0].shape[1] > images[0].shape[0]  # frame | overlay
    saved = np.load(maps)
    assert saved.shape == (3, 32, 32) and saved.dtype == np.float32
    assert 0.0 <= saved.min() and saved.max() <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, maps.name])


def test_explain_for_a_named_class_explains_that_class(runner, cli, small, tmp_path):
    args = ["explain", str(small["video"]), "--checkpoint", str(small["rgb"])]
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "c.gif"), "--class", "red_left"])
    assert result.exit_code == 0, result.output
    assert "red_left" in result.stdout


def _error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    text = " ".join(" ".join(lines).split())
    assert text.startswith("error:"), text
    return text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layer", "layer4"], "has no layer 'layer4'; valid names include"),
        (["--layer", "conv9"], "conv1"),  # close matches are listed
        (["--class", "red_lef"], "did you mean red_left"),
        (["--out", "cam.avi"], "unknown suffix '.avi'; use .mp4 or .gif"),
    ],
)
def test_explain_errors_are_one_line(runner, cli, small, tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    args = ["explain", str(small["video"]), "--checkpoint", str(small["rgb"])]
    if "--out" not in extra:
        args += ["--out", "cam.gif"]
    assert message in _error(runner.invoke(cli, [*args, *extra]))
    assert not list(tmp_path.iterdir())  # nothing written


def test_an_unreadable_video_is_a_one_line_error(runner, cli, small, tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 50)
    args = ["explain", str(bad), "--checkpoint", str(small["rgb"]), "--out"]
    text = _error(runner.invoke(cli, [*args, str(tmp_path / "c.gif")]))
    assert "bad.avi" in text
    missing = _error(
        runner.invoke(cli, ["explain", str(tmp_path / "none.avi"), *args[2:], "x.gif"])
    )
    assert "does not exist" in missing


def test_a_concatenated_layer_is_shown_by_its_common_prefix():
    assert short_layer_name(BACKBONES.get("bninception").cam_layer) == "inception_5b"
    assert short_layer_name("layer4") == "layer4"


def test_the_block_name_of_a_concatenated_layer_selects_its_parts():
    model = create_tsn("bninception", 3, num_segments=1)
    layer = resolve_cam_layer(model, "inception_5b")
    assert layer.name == BACKBONES.get("bninception").cam_layer and len(layer.modules) == 4


def test_without_an_h264_encoder_the_mp4_is_mpeg4_and_still_decodes(small, tmp_path, monkeypatch):
    from tsncli.engine import overlay
    from tsncli.video import encode

    monkeypatch.setattr(encode, "ENCODERS", ("no_such_encoder", "mpeg4"))
    explanation = explain_video(small["video"], small["rgb"], segments=2)
    path = overlay.save_overlay(tmp_path / "cam.mp4", overlay.explanation_panels(explanation))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert len(_decode(path)) == 2
