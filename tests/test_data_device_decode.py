"""`--decode-device cuda`'s loader, run on the CPU with torchvision's decoder: workers hand over
JPEG bytes with the CPU loader's own sampling, and the batch decoded and transformed in torch
gives the CPU loader's clips (same frames, crops and flips) within the documented tolerance.

The tolerance: OpenCV's fixed-point bilinear and torch's float bilinear (both rounded half up)
differ by at most 1 level; on a GPU nvJPEG's IDCT adds up to 1-2 more (`device_decode`'s doc).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from frame_helpers import textured_frame_folders

from tsncli.data import device_decode
from tsncli.data.dataset import TSNDataset, create_loader
from tsncli.data.device_decode import (
    EncodedClips,
    check_decode_device,
    check_jpeg_source,
    collate_encoded,
    decode_clips,
    jpeg_size,
    move_clips,
)
from tsncli.data.frames import UnreadableFrameError
from tsncli.data.snippet_source import FrameFolderSource
from tsncli.data.video_source import VideoFileSource
from tsncli.errors import UsageError
from tsncli.layout import zip_entry
from tsncli.lists.listfile import VideoRecord

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
FRAMES = 12
CPU_TOLERANCE = 1  # levels; resize rounding only (torchvision's CPU decoder is libjpeg-turbo)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[VideoRecord]:
    """Two folders of textured JPEGs (340x256 and 171x128) and a 4-frame one (frames repeat)."""
    return textured_frame_folders(
        tmp_path_factory.mktemp("frames"), [(340, 256, FRAMES), (171, 128, FRAMES), (96, 72, 4)]
    )


def _dataset(records, modality: str, mode: str, **kw) -> TSNDataset:
    length = 5 if modality == "flow" else 1
    return TSNDataset(records, modality, 3, length, mode, 64, seed=3, test_crops=10, **kw)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
@pytest.mark.parametrize("mode", ["train", "val", "test"])
def test_decoded_batches_equal_the_cpu_loaders_clips(videos, modality, mode):
    dataset = _dataset(videos, modality, mode)
    encoded = EncodedClips(dataset)
    flips = set()
    for epoch in range(3 if mode == "train" else 1):
        dataset.set_epoch(epoch)
        clips = [encoded.load_clip(i) for i in range(len(dataset))]
        batch = decode_clips(clips, "cpu")  # one decode_jpeg call for the whole batch
        assert batch.dtype == torch.uint8
        for i, clip in enumerate(clips):
            expected = dataset.load_clip(i)
            got = batch[i].numpy()
            assert got.shape == expected.shape
            difference = np.abs(got.astype(np.int16) - expected.astype(np.int16))
            assert difference.max() <= CPU_TOLERANCE, (epoch, i)
            assert (difference > 0).mean() < 0.2  # rounding, not another crop or flip
            flips.add(clip.flipped)
    if mode == "train":
        assert flips == {True, False}  # both branches were compared


def test_workers_draw_the_cpu_loaders_frames_crop_and_flip(videos):
    dataset = _dataset(videos, "flow", "train")
    encoded = EncodedClips(dataset)
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            indices, rng = dataset.sample(index)
            height, width = cv2.imread(f"{videos[index].path}/img_00001.jpg").shape[:2]
            box, flipped = dataset.train_crop(width, height, rng)
            clip = encoded.load_clip(index)
            assert (clip.box, clip.flipped) == (box, flipped)
            names = [clip.names[k] for k in clip.order]
            assert names[0].endswith(f"flow_x_{indices[0, 0]:05d}.jpg")
            assert names[-1].endswith(f"flow_y_{indices[-1, -1]:05d}.jpg")


def test_a_repeated_frame_is_read_once(videos):
    clip = EncodedClips(_dataset(videos[2:], "flow", "val")).load_clip(0)  # 4 frames, 3x5 read
    assert len(clip.order) == 3 * 5 * 2
    assert len(clip.sizes) == len(set(clip.names)) == 8  # x and y of each of the 4 frames


def zip_frames(folder: Path, out: Path) -> Path:
    """`folder`'s frames as dense_flow's zips (img.zip, flow_x.zip, flow_y.zip), stored."""
    out.mkdir(parents=True)
    archives: dict[str, zipfile.ZipFile] = {}
    for path in sorted(folder.iterdir()):
        zip_name, entry = zip_entry(path.name)
        if zip_name not in archives:
            archives[zip_name] = zipfile.ZipFile(out / zip_name, "w", zipfile.ZIP_STORED)
        archives[zip_name].write(path, entry)
    for archive in archives.values():
        archive.close()
    return out


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_zipped_videos_hand_over_the_same_bytes_as_their_folders(videos, modality, tmp_path):
    folder = Path(videos[1].path)
    zipped = VideoRecord(str(zip_frames(folder, tmp_path / folder.name)), FRAMES, 1)
    assert not list(Path(zipped.path).glob("*.jpg"))
    for mode in ("train", "test"):
        a = EncodedClips(_dataset([videos[1]], modality, mode)).load_clip(0)
        b = EncodedClips(_dataset([zipped], modality, mode)).load_clip(0)
        assert np.array_equal(a.data, b.data) and (a.box, a.flipped) == (b.box, b.flipped)
    expected = _dataset([zipped], modality, "train").load_clip(0)  # the CPU reader's zips
    clip = EncodedClips(_dataset([zipped], modality, "train")).load_clip(0)
    got = decode_clips([clip], "cpu")[0].numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= CPU_TOLERANCE


def test_a_zip_entry_failing_its_crc_moves_its_snippet_as_the_cpu_loader_does(videos, tmp_path):
    folder = Path(videos[1].path)
    zipped = zip_frames(folder, tmp_path / folder.name)
    with zipfile.ZipFile(zipped / "img.zip") as archive:
        info = archive.getinfo("img_00007.jpg")  # val reads frames 3, 7 and 11
    with open(zipped / "img.zip", "r+b") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(f.read(4), "<u2")
        f.seek(info.header_offset + 30 + int(name_length) + int(extra_length) + 200)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))  # the entry's data no longer matches its CRC
    dataset = _dataset([VideoRecord(str(zipped), FRAMES, 1)], "rgb", "val")
    expected = dataset.load_clip(0)
    clip = EncodedClips(dataset).load_clip(0)
    assert any(name.endswith("img_00008.jpg") for name in clip.names)
    assert not any(name.endswith("img_00007.jpg") for name in clip.names)
    got = decode_clips([clip], "cpu")[0].numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= CPU_TOLERANCE


def test_jpeg_size_reads_the_frame_header(videos):
    data = np.fromfile(f"{videos[1].path}/img_00001.jpg", np.uint8)
    assert jpeg_size(data) == (171, 128)
    with pytest.raises(ValueError):
        jpeg_size(np.frombuffer(b"\x89PNG\r\n", np.uint8))
    with pytest.raises(ValueError):
        jpeg_size(data[:20])  # ends before the frame header


def test_a_missing_frame_is_skipped_with_a_report_as_the_cpu_loader_does(videos, tmp_path):
    folder = tmp_path / "gappy"
    folder.mkdir()
    for k in (1, 2, 3):
        for name in ("flow_x", "flow_y"):
            (folder / f"{name}_{k:05d}.jpg").write_bytes(_jpeg(k))
    record = VideoRecord(str(folder), 8, 0)  # frames 4-8 are missing
    strict = EncodedClips(_dataset([record], "flow", "val"))
    with pytest.raises(UnreadableFrameError, match="missing; re-extract"):
        strict.load_clip(0)
    log = tmp_path / "skipped.txt"
    lenient = EncodedClips(_dataset([record], "flow", "val", source=FrameFolderSource(str(log))))
    assert lenient[0] == (None, 0)
    assert str(folder) in log.read_text()
    assert collate_encoded([lenient[0]]) is None  # a batch of skipped videos only
    kept = collate_encoded([lenient[0], EncodedClips(_dataset(videos, "flow", "val"))[1]])
    assert len(kept[0]) == 1 and kept[1].tolist() == [1]


def _jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (24, 32), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_a_corrupt_frame_moves_its_snippet_as_the_cpu_loader_does(videos, tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    for k in range(1, 9):
        (folder / f"img_{k:05d}.jpg").write_bytes(_jpeg(k))
    (folder / "img_00005.jpg").write_bytes(b"not a jpeg")
    dataset = TSNDataset([VideoRecord(str(folder), 8, 0)], "rgb", 3, 1, "val", 16)
    expected = dataset.load_clip(0)  # val reads frames 2, 5, 7; 5 is read as 6
    got = decode_clips([EncodedClips(dataset).load_clip(0)], "cpu")[0].numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= CPU_TOLERANCE


def test_a_body_that_does_not_decode_is_named(tmp_path):
    """A frame whose header reads but whose body does not decode fails the batch's decode
    (in the main process, past the worker's retry): the error names the file and the fix."""
    folder = tmp_path / "broken"
    folder.mkdir()
    good = _jpeg(1)
    (folder / "img_00001.jpg").write_bytes(good)
    header = good[: good.index(b"\xff\xda") + 2]  # up to the scan marker, then garbage
    (folder / "img_00002.jpg").write_bytes(header + b"\x00" * 8)
    dataset = TSNDataset([VideoRecord(str(folder), 2, 0)], "rgb", 2, 1, "train", 16)
    clip = EncodedClips(dataset).load_clip(0)  # train: 2 segments of 1 frame read 1 and 2
    with pytest.raises(device_decode.CorruptFrameError, match="img_00002.jpg.*--decode-device cpu"):
        decode_clips([clip], "cpu")


def test_a_loader_hands_over_bytes_that_the_batch_decodes(videos):
    dataset = _dataset(videos, "rgb", "train")
    # items and the dataset cross to loader workers by pickle
    encoded = pickle.loads(pickle.dumps(EncodedClips(dataset)))
    clip, again = encoded.load_clip(0), pickle.loads(pickle.dumps(encoded[0]))[0]
    assert np.array_equal(again.data, clip.data) and again.box == clip.box
    loader = create_loader(encoded, 3, workers=0, collate_fn=collate_encoded)
    batch, labels = next(iter(loader))
    clips = move_clips(batch, "cpu")
    assert clips.shape == (3, 3, 3, 64, 64) and labels.tolist() == [0, 1, 2]
    expected = np.stack([dataset.load_clip(i) for i in range(3)])
    assert np.abs(clips.numpy().astype(int) - expected.astype(int)).max() <= CPU_TOLERANCE
    tensor = torch.zeros(2, 3)
    assert move_clips(tensor, "cpu") is tensor  # decoded batches are only moved


def test_video_lists_are_refused_naming_the_cpu_decoder():
    source = VideoFileSource(None, None, None)
    with pytest.raises(UsageError, match="--decode-device cpu"):
        check_jpeg_source(source)


def test_the_decode_device_is_checked(monkeypatch):
    with pytest.raises(UsageError, match="not one of: cpu, cuda"):
        check_decode_device("gpu")
    assert check_decode_device("cpu", "cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="needs a CUDA GPU.*--decode-device cpu"):
        check_decode_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(UsageError, match="--gpus 0"):
        check_decode_device("cuda", "cpu")
    assert check_decode_device("cuda", "cuda:0") == "cuda"
