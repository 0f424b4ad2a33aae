"""Check tsn's feature rescaling and CSV writer against the originals' code, from your checkouts.

Usage: PYTHONPATH=DIR_WITH_SCIPY python benchmarks/features_rescale_crosscheck.py
           --bsn-repo DIR --mmaction2-repo DIR [--cases 300]

--bsn-repo: a checkout of wzmsltw/BSN-boundary-sensitive-network (`poolData` in
data/activitynet_feature_cuhk/data_process.py; Python 2, hard-wired to 400 dimensions and a
stride of 16: this script makes those two numbers variables, in memory). --mmaction2-repo: a
checkout of open-mmlab/mmaction2 (`pool_feature` and `merge_feat` in
tools/data/activitynet/activitynet_feature_postprocessing.py; mmengine's `load` is replaced by a
lookup of the test arrays). Both need scipy, which tsn does not (put it on PYTHONPATH). Their code
is read and run, never copied into tsn.

Random cases (T from 1 to 400, D up to 50, frame rates that are not integers, stride 16 and 5,
100 rows, float64 features as BSN reads them from CSV) go through both. The table gives, per
rule, the largest |tsn - original| and how many cases agree bit for bit (both compute in float64).
Then MMAction2's CSV against tsn's for the same features (RGB and flow of 200 dimensions each,
pooled per stream as `merge_feat` does), value by value.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tsncli.engine.features.formats import write_features
from tsncli.engine.features.rescale import rescale_bsn, rescale_mmaction2

LENGTH = 100


def _git_or_file(repo: Path, path: str) -> str:
    """A file of a checkout: from the work tree, else from HEAD of a bare/mirror clone."""
    if (repo / path).is_file():
        return (repo / path).read_text()
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        sys.exit(f"{repo} has no {path}: pass a checkout (or a git clone) of the original")
    return shown.stdout


def _function(src: str, name: str, last_line: str, indent: int = 4) -> str:
    """The source of top-level function `name`, up to its line `last_line` at `indent`."""
    pattern = rf"^def {name}\(.*?^ {{{indent}}}{re.escape(last_line)}\n"
    found = re.search(pattern, src, re.S | re.M)
    assert found is not None, f"no {name} ending in {last_line!r} in the checkout"
    return found.group(0)


def _replace(src: str, old: str, new: str) -> str:
    assert old in src, f"the checkout's code has changed: {old!r} not found"
    return src.replace(old, new)


def load_bsn_pool(repo: Path) -> dict:
    """BSN's poolData, with its 16 (stride) and 400 (dims) made globals STRIDE and DIMS."""
    src = _git_or_file(repo, "data/activitynet_feature_cuhk/data_process.py")
    func = _function(src, "poolData", "return video_feature")
    func = _replace(func, "len(data)*16", "len(data)*STRIDE")
    func = _replace(func, "st=16/fps", "st=STRIDE/fps")
    func = _replace(func, "num_bin*400", "num_bin*DIMS")
    func = _replace(func, "[num_prop,400]", "[num_prop,DIMS]")
    namespace: dict = {}
    exec("import numpy as np\nimport scipy.interpolate\nscipy = scipy\n" + func, namespace)  # noqa: S102 - the user's checkout
    return namespace


def load_mmaction2(repo: Path) -> dict:
    """MMAction2's pool_feature and merge_feat (mmengine's load/dump replaced by the caller)."""
    src = _git_or_file(repo, "tools/data/activitynet/activitynet_feature_postprocessing.py")
    pool = _function(src, "pool_feature", "return feature")
    merge = _function(src, "merge_feat", "f.write('\\n'.join(lines))", indent=12)
    namespace: dict = {}
    preamble = "import os\nimport os.path as osp\nimport numpy as np\nimport scipy.interpolate\n"
    exec(preamble + pool + merge, namespace)  # noqa: S102 - the user's checkout
    return namespace


def _case(rng: np.random.Generator, case: int, stride: int) -> tuple[np.ndarray, int, float]:
    """Features (T, D) and the frame count and duration of a video with exactly T snippet
    centres (`stride//2 + k*stride`), at a frame rate that is not an integer."""
    count = [1, 2, 3][case] if case < 3 else int(rng.integers(1, 401))
    dims = int(rng.integers(1, 51))
    frames = count * stride - stride // 2 + int(rng.integers(0, stride))  # T centres fit
    fps = float(rng.choice([23.976, 29.97, 25.0, 59.94])) + float(rng.uniform(-0.5, 0.5))
    duration = frames / fps
    return rng.normal(size=(count, dims)) * 3, frames, duration


def check_bsn(bsn: dict, cases: int, stride: int) -> tuple[float, int]:
    rng = np.random.default_rng(stride)
    worst, exact = 0.0, 0
    for case in range(cases):
        data, frames, duration = _case(rng, case, stride)
        bsn["STRIDE"], bsn["DIMS"] = stride, data.shape[1]
        anno = {"duration_frame": frames, "duration_second": duration}
        theirs = bsn["poolData"](data, anno, num_prop=LENGTH, num_bin=1, num_sample_bin=3)
        ours = rescale_bsn(data, stride=stride, num_frames=frames, duration=duration, length=LENGTH)
        worst = max(worst, float(np.abs(ours - theirs).max()))
        exact += bool(np.array_equal(ours, theirs))
    return worst, exact


def check_mmaction2(mm: dict, cases: int) -> tuple[float, int]:
    rng = np.random.default_rng(1)
    worst, exact = 0.0, 0
    for case in range(cases):
        data, _, _ = _case(rng, case, 16)
        theirs = mm["pool_feature"](data, num_proposals=LENGTH)
        ours = rescale_mmaction2(data, LENGTH)
        worst = max(worst, float(np.abs(ours - theirs).max()))
        exact += bool(np.array_equal(ours, theirs))
    return worst, exact


def check_csv(mm: dict, cases: int) -> tuple[int, int, int]:
    """MMAction2's merge_feat CSV against tsn's, per value: (equal, differing, total)."""
    rng = np.random.default_rng(2)
    equal = differing = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for _ in range(cases):
            count = int(rng.integers(1, 401))
            rgb, flow = (rng.normal(size=(count, 200)).astype(np.float32) * 3 for _ in range(2))
            arrays = {str(root / "rgb" / "v.pkl"): rgb, str(root / "flow" / "v.pkl"): flow}
            mm["load"] = arrays.__getitem__
            mm["args"] = argparse.Namespace(
                rgb=str(root / "rgb"), flow=str(root / "flow"), dest=str(root / "mm"),
                output_format="csv",
            )  # fmt: skip
            (root / "mm").mkdir(exist_ok=True)
            mm["merge_feat"]("v.pkl")
            pooled = np.concatenate([rescale_mmaction2(rgb), rescale_mmaction2(flow)], axis=1)
            ours = write_features(root / "tsn" / "v", pooled, "csv").read_text().split("\n")
            theirs = (root / "mm" / "v.csv").read_text().split("\n")
            assert ours[0] == theirs[0] and len(ours) == len(theirs), "header or rows differ"
            for a, b in zip(ours[1:], theirs[1:], strict=True):
                pairs = list(zip(a.split(","), b.split(","), strict=True))
                same = sum(x == y for x, y in pairs)
                assert all(abs(float(x) - float(y)) <= 1.5e-4 for x, y in pairs)
                equal, differing, total = (
                    equal + same,
                    differing + len(pairs) - same,
                    total + len(pairs),
                )
    return equal, differing, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bsn-repo", type=Path, required=True)
    parser.add_argument("--mmaction2-repo", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    try:
        import scipy.interpolate  # noqa: F401 - both originals need it
    except ImportError:
        sys.exit("the originals need scipy: pip install --target DIR scipy; PYTHONPATH=DIR")
    bsn, mm = load_bsn_pool(args.bsn_repo), load_mmaction2(args.mmaction2_repo)
    rows = {
        "bsn, stride 16": check_bsn(bsn, args.cases, 16),
        "bsn, stride 5": check_bsn(bsn, args.cases, 5),
        "mmaction2": check_mmaction2(mm, args.cases),
    }
    print(f"{'rule':<16} {'largest |tsn - original|':>25} {'bit for bit':>17}")
    for name, (worst, exact) in rows.items():
        print(f"{name:<16} {worst:>25.3g} {f'{exact}/{args.cases}':>17}")
    csv_cases = max(1, args.cases // 10)
    equal, differing, total = check_csv(mm, csv_cases)
    print(
        f"csv, {csv_cases} videos (400 dims, {LENGTH} rows): {equal}/{total} values written "
        f"identically, {differing} differ by 1 in the 4th decimal"
    )
    print(
        " ".join(
            f"{name.replace(', stride ', '_s')}={worst:.3g}" for name, (worst, _) in rows.items()
        )
    )


if __name__ == "__main__":
    main()
