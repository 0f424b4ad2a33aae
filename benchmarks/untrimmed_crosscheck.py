"""Check tsn's untrimmed scoring against the originals' own code, read from your checkouts.

Usage: python benchmarks/untrimmed_crosscheck.py --tsn-repo DIR --anet-repo DIR [--cases 200]

--tsn-repo: a checkout of yjxiong/temporal-segment-networks (pyActionRecog/utils/video_funcs.py:
the default, top-k and sliding-window aggregations). --anet-repo: a checkout of
activitynet/ActivityNet (Evaluation/eval_classification.py and utils.py; needs pandas). Both are
Python 2; this script makes the few syntax changes Python 3 needs in memory (print, xrange,
iteritems, integer division, np.float) and never copies their code into tsn. Random score arrays
and random ground truth/predictions (scores rounded to 0.1, so ties happen) go through both; the
table gives the largest absolute difference per quantity, then `key=value` pairs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tsncli.engine.aggregate import aggregate_snippets
from tsncli.engine.metrics import compute_untrimmed_metrics

SOFTMAX = """
def softmax(raw_score, T=1):
    exp_s = np.exp((raw_score - raw_score.max(axis=-1)[..., None]) * T)
    return exp_s / exp_s.sum(axis=-1)[..., None]
"""


def _git_or_file(repo: Path, path: str) -> str:
    """A file of a checkout: from the work tree, else from HEAD of a bare/mirror clone."""
    if (repo / path).is_file():
        return (repo / path).read_text()
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def load_video_funcs(repo: Path) -> dict:
    src = _git_or_file(repo, "pyActionRecog/utils/video_funcs.py")
    src = src.replace("from metrics import softmax", "").replace("xrange", "range")
    src = src.replace("len(local_agg)/4", "len(local_agg)//4")
    namespace: dict = {}
    exec("import numpy as np\n" + SOFTMAX + src, namespace)  # noqa: S102 - the user's checkout
    return namespace


def load_anet_eval(repo: Path) -> type:
    src = _git_or_file(repo, "Evaluation/eval_classification.py")
    for line in ("import urllib2\n", "from utils import get_blocked_videos\n"):
        src = src.replace(line, "")
    src = src.replace("from utils import interpolated_prec_rec\n", "")
    src = re.sub(r"^(\s*)print '.*$", r"\1pass", src, flags=re.M)  # py2 print statements
    src = src.replace(".iteritems()", ".items()").replace("np.float)", "float)")
    utils = _git_or_file(repo, "Evaluation/utils.py")
    interp = re.search(r"def interpolated_prec_rec.*?return ap\n", utils, re.S)
    assert interp is not None, "Evaluation/utils.py has no interpolated_prec_rec"
    namespace: dict = {"get_blocked_videos": lambda: []}
    exec("import numpy as np\n" + interp.group(0), namespace)  # noqa: S102
    exec(src, namespace)  # noqa: S102
    return namespace["ANETclassification"]


def check_aggregations(funcs: dict, cases: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    worst = {"mean": 0.0, "top-k": 0.0, "mtwi": 0.0}
    for _ in range(cases):
        s, k, c = (int(rng.integers(1, 400)), int(rng.integers(1, 11)), int(rng.integers(2, 30)))
        raw = (rng.normal(size=(s, k, c)) * 3).astype(np.float32)
        fps, top = int(rng.integers(1, 4)), int(rng.integers(1, 20))
        pairs = {
            "mean": (funcs["default_aggregation_func"](raw), aggregate_snippets(raw, "mean")),
            "top-k": (
                funcs["top_k_aggregation_func"](raw, top),
                aggregate_snippets(raw, "top-k", top),
            ),
            "mtwi": (
                funcs["sliding_window_aggregation_func"](raw, fps=fps),
                aggregate_snippets(raw, "mtwi", snippets_per_second=fps),
            ),
        }
        for name, (theirs, ours) in pairs.items():
            worst[name] = max(worst[name], float(np.abs(theirs - ours).max()))
    return worst


def check_metrics(evaluator: type, cases: int) -> dict[str, float]:
    worst = {"mAP": 0.0, "hit@1": 0.0, "hit@3": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = Path(tmp) / "gt.json", Path(tmp) / "pred.json"
        for case in range(cases):
            rnd = random.Random(case)
            classes = [f"c{i}" for i in range(rnd.randint(2, 6))]
            db = {}
            for v in range(rnd.randint(3, 30)):
                labels = rnd.sample(classes, rnd.choice([1, 1, 1, 2]))
                annotations = [{"label": lb, "segment": [0, 1]} for lb in labels]
                db[f"vid{v}"] = {"subset": "validation", "annotations": annotations}
            present = sorted({a["label"] for d in db.values() for a in d["annotations"]})
            results = {}
            for v in [*list(db)[: rnd.randint(1, len(db))], "not_in_ground_truth"]:
                picked = rnd.sample(present, rnd.randint(1, len(present)))
                results[v] = [{"label": c, "score": round(rnd.random(), 1)} for c in picked]
            gt_path.write_text(json.dumps({"database": db, "taxonomy": [], "version": "x"}))
            pred_path.write_text(
                json.dumps({"results": results, "version": "x", "external_data": {}})
            )
            official = {}
            for k in (1, 3):
                ev = evaluator(str(gt_path), str(pred_path), check_status=False, top_k=k)
                ev.evaluate()
                official[f"hit@{k}"] = ev.hit_at_k
                official["mAP"] = float(ev.ap.mean())
            truth = {v: {a["label"] for a in d["annotations"]} for v, d in db.items()}
            preds = {v: [(r["label"], r["score"]) for r in rows] for v, rows in results.items()}
            ours = compute_untrimmed_metrics(truth, preds)
            mine = {"mAP": ours.map, "hit@1": ours.hit1, "hit@3": ours.hit3}
            for key in worst:
                worst[key] = max(worst[key], abs(mine[key] - official[key]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsn-repo", type=Path, required=True)
    parser.add_argument("--anet-repo", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=200)
    args = parser.parse_args()
    rows = {**check_aggregations(load_video_funcs(args.tsn_repo), args.cases)}
    rows.update(check_metrics(load_anet_eval(args.anet_repo), args.cases))
    print(f"{'quantity':<10} {'largest |tsn - original|':>26}   ({args.cases} random cases)")
    for name, worst in rows.items():
        print(f"{name:<10} {worst:>26.3g}")
    print(" ".join(f"{k}={v:.3g}" for k, v in rows.items()))


if __name__ == "__main__":
    main()
