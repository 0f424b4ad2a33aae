"""Frame-exact decoding: on H.264 with B-frames and a long GOP, MPEG-4 part 2 AVI, MJPG AVI and a
variable-frame-rate file, the frames at random sorted index sets equal a full sequential decode,
byte for byte, with the planner's minimum of decoded frames; bad files are reported."""

from __future__ import annotations

import numpy as np
import pytest
from video_fixtures import FIXTURES, make_fixture, sequential_frames

from tsncli.errors import DataError
from tsncli.video import decode, sparse
from tsncli.video.backend import VideoDecodeError
from tsncli.video.decode import iter_video_frames
from tsncli.video.index import index_video
from tsncli.video.sparse import SparseReader
from tsncli.video.timeline import scan_layout

N = 120


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def fixture_video(request, tmp_path_factory):
    path = make_fixture(tmp_path_factory.mktemp(request.param), request.param, N)
    return request.param, path, sequential_frames(path)


def test_the_index_counts_every_frame_and_finds_the_keyframes(fixture_video):
    name, path, reference = fixture_video
    entry = index_video(path)
    assert entry.num_frames == len(reference) == N and not entry.counted
    groups = tuple(range(0, N, FIXTURES[name][2]))
    # the encoder may close the stream with one more intra frame
    assert entry.keyframes[: len(groups)] == groups and len(entry.keyframes) <= len(groups) + 1
    assert entry.timeline is not None and entry.timeline.variable == (name == "vfr_h264")


def test_random_sorted_frames_equal_a_full_sequential_decode(fixture_video):
    _name, path, reference = fixture_video
    entry = index_video(path)
    rng = np.random.default_rng(7)
    for size in (1, 3, 5, 8, 25):
        wanted = sorted(rng.choice(N, size=size, replace=False).tolist())
        reader = SparseReader(str(path), entry.keyframes, entry.timeline)
        frames = reader.read(wanted)
        assert sorted(frames) == wanted
        for k in wanted:
            np.testing.assert_array_equal(frames[k], reference[k], err_msg=f"frame {k}")
        # the planner's minimum of frames passed; unneeded non-reference frames are skipped
        assert reader.decoded + reader.skipped == reader.plan(wanted).decoded


def test_the_last_frame_and_the_first_frame_of_every_group_decode_exactly(fixture_video):
    _name, path, reference = fixture_video
    entry = index_video(path)
    wanted = sorted({*entry.keyframes, N - 1})
    frames = SparseReader(str(path), entry.keyframes, entry.timeline).read(wanted)
    for k in wanted:
        np.testing.assert_array_equal(frames[k], reference[k])


def test_unneeded_b_frames_are_not_decoded_on_the_way_to_a_frame(tmp_path):
    path = make_fixture(tmp_path, "h264_bframes", 100)  # one GOP, x264's B-pyramid
    entry = index_video(path)
    reader = SparseReader(str(path), entry.keyframes, entry.timeline)
    frames = reader.read([97])
    np.testing.assert_array_equal(frames[97], sequential_frames(path)[97])
    assert reader.decoded + reader.skipped == 98 and reader.skipped >= 30


def test_more_decoder_threads_give_the_same_frames(fixture_video):
    _name, path, reference = fixture_video
    entry = index_video(path)
    frames = SparseReader(str(path), entry.keyframes, entry.timeline, threads=3).read([4, 77])
    np.testing.assert_array_equal(frames[77], reference[77])


def test_streaming_every_frame_gives_the_sequential_decode(fixture_video):
    _name, path, reference = fixture_video
    frames = list(iter_video_frames(path, step=7))
    assert len(frames) == len(reference[::7])
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference[::7], strict=True))


def test_without_timestamps_frames_are_numbered_by_decoding_from_the_start(tmp_path):
    path = make_fixture(tmp_path, "h264_bframes", 40)
    reader = SparseReader(str(path), keyframes=(0,), timeline=None)
    frames = reader.read([9, 31])
    assert reader.seeks == 0 and reader.decoded == 32
    np.testing.assert_array_equal(frames[31], sequential_frames(path)[31])


def test_a_truncated_video_counts_what_decodes_and_reads_exactly_within_it(tmp_path):
    whole = make_fixture(tmp_path, "vfr_h264", 80)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    entry = index_video(cut)
    reference = sequential_frames(cut)
    assert entry.num_frames == len(reference) < 80
    frames = SparseReader(str(cut), entry.keyframes, entry.timeline).read([entry.num_frames - 1])
    np.testing.assert_array_equal(frames[entry.num_frames - 1], reference[-1])


def test_reading_past_the_end_of_a_video_is_a_decode_error_naming_the_frame(tmp_path):
    path = make_fixture(tmp_path, "mjpg_avi", 20)
    entry = index_video(path)
    with pytest.raises(VideoDecodeError, match="at frame 31"):
        SparseReader(str(path), entry.keyframes, entry.timeline).read([5, 30])


def test_a_corrupt_file_is_reported_as_a_data_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 50)
    with pytest.raises(DataError):
        index_video(bad)
    with pytest.raises(DataError):
        list(iter_video_frames(bad))
    with pytest.raises(VideoDecodeError):
        SparseReader(str(bad)).read([0])


def test_files_pyav_cannot_open_fall_back_to_opencv_with_a_warning(tmp_path, monkeypatch, caplog):
    path = make_fixture(tmp_path, "mjpg_avi", 12)
    reference = sequential_frames(path)

    def refuse(p, threads=None, **_options):
        raise DataError(f"cannot open video {p} (pretend PyAV lacks the codec)")

    monkeypatch.setattr(decode, "open_container", refuse)
    monkeypatch.setattr(sparse, "open_container", refuse)
    with caplog.at_level("WARNING"):
        frames = list(iter_video_frames(path))
        picked = SparseReader(str(path), (0,), None).read([3, 9])
    assert len(frames) == 12 and np.array_equal(frames[5], reference[5])
    np.testing.assert_array_equal(picked[9], reference[9])
    assert sum("decoding with OpenCV" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("name", "suffix", "container"),
    [("h264_bframes", ".avi", "mov,mp4,m4a,3gp,3g2,mj2"), ("mjpg_avi", ".mp4", "avi")],
)
def test_a_video_named_as_another_container_is_probed_and_reads_exactly(
    tmp_path, name, suffix, container
):
    path = make_fixture(tmp_path, name, 30)
    misnamed = path.rename(path.with_suffix(suffix))  # the demuxer its name says refuses it
    layout = scan_layout(misnamed)
    assert layout.container == container and layout.timeline.count == 30
    frames = SparseReader(str(misnamed), layout.keyframes, layout.timeline).read([4, 29])
    reference = sequential_frames(misnamed)
    assert np.array_equal(frames[4], reference[4]) and np.array_equal(frames[29], reference[29])
