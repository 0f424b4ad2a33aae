#!/usr/bin/env bash
# Quick start: the whole TSN pipeline on the built-in toy dataset, on a CPU, in minutes.
#   fetch toy -> flow (DIS) -> lists -> train RGB + flow -> eval both -> fuse -> predict
# Every artefact goes under demo/ (or $DEMO_DIR). Reruns skip finished steps.
# The last line printed is `rgb=<acc> flow=<acc> fused=<acc>` (mean class accuracy, fractions).
# Knobs (environment): DEMO_DIR, DEMO_VIDEOS_PER_CLASS, DEMO_SEED, DEMO_EPOCHS, DEMO_WORKERS.
source "$(dirname "$0")/_venv.sh"

DEMO="${DEMO_DIR:-demo}"
VIDEOS="${DEMO_VIDEOS_PER_CLASS:-40}"
SEED="${DEMO_SEED:-0}"
WORKERS="${DEMO_WORKERS:-2}"
EPOCHS=()
if [ -n "${DEMO_EPOCHS:-}" ]; then EPOCHS=(--epochs "$DEMO_EPOCHS"); fi
DATA="$DEMO/data"
TOY="$DATA/toy"
RUNS="$DEMO/runs"
SCORES="$DEMO/scores"
mkdir -p "$RUNS" "$SCORES"
START=$(date +%s)
step() { echo "== [$(($(date +%s) - START))s] $*" >&2; }

step "1/7 generate the toy dataset -> $TOY"
tsn fetch toy --dest "$TOY" --videos-per-class "$VIDEOS" --seed "$SEED"

step "2/7 frames + optical flow (DIS, 128x96, bound 10 px) -> $TOY/frames"
tsn flow "$TOY/videos" "$TOY/frames" --algo dis --size 128x96 --bound 10 --workers "$WORKERS"

step "3/7 split lists -> $DATA"
tsn lists toy "$TOY/frames" --splits "$TOY/splits" --out "$DATA" --split 1

train() {  # train <modality>: presets toy_rgb / toy_flow; resumes or skips a finished run
    local run="$RUNS/toy_$1" resume=()
    if [ -f "$run/last.pt" ]; then resume=(--resume); fi
    tsn train toy "$1" --preset "toy_$1" --lists-dir "$DATA" --out "$run" "${EPOCHS[@]}" \
        "${resume[@]}"
}
step "4/7 train the RGB stream -> $RUNS/toy_rgb"
train rgb
step "5/7 train the flow stream -> $RUNS/toy_flow"
train flow

evaluate() {  # evaluate <modality>: 10 snippets x 1 centre crop per test video
    local ckpt="$RUNS/toy_$1/last.pt" out="$SCORES/toy_$1.npz"
    if [ -f "$out" ] && [ "$out" -nt "$ckpt" ] && [ -s "$SCORES/toy_$1.json" ]; then return; fi
    tsn eval "$ckpt" --list "$DATA/toy_$1_val_split_1.txt" --segments 10 --crops 1 --batch 8 \
        --save-scores "$out" --json > "$SCORES/toy_$1.json"
}
step "6/7 evaluate both streams, then fuse them (1:1) -> $SCORES"
evaluate rgb
evaluate flow
tsn fuse "$SCORES/toy_rgb.npz" "$SCORES/toy_flow.npz" --weights 1 1 \
    --out "$SCORES/toy_fused.npz" --confusion "$SCORES/toy_fused_confusion.png" \
    --json > "$SCORES/toy_fused.json"

SAMPLE="$(python - "$TOY/splits/testlist01.txt" "$TOY/videos" <<'EOF'
import sys
from pathlib import Path
first = Path(sys.argv[1]).read_text().split()[0]
print(Path(sys.argv[2]) / first)
EOF
)"
step "7/7 predict one test video with both streams: $SAMPLE"
tsn predict "$SAMPLE" --checkpoint "$RUNS/toy_rgb/last.pt" --checkpoint "$RUNS/toy_flow/last.pt" \
    --weights 1 1 --segments 10 --crops 1 --top-k 3 --json > "$SCORES/predict.json"

step "done in $(($(date +%s) - START))s; everything is under $DEMO/"
python - "$SCORES" "$SAMPLE" <<'EOF'
import json
import sys
from pathlib import Path

scores, sample = Path(sys.argv[1]), Path(sys.argv[2])
acc = {m: json.loads((scores / f"toy_{m}.json").read_text())["mean_class_accuracy"]
       for m in ("rgb", "flow", "fused")}
pred = json.loads((scores / "predict.json").read_text())["videos"][0]
guess, prob = pred["top"][0]["class"], pred["top"][0]["probability"]
truth = sample.parent.name
print()
print(f"{'stream':<10} {'mean class accuracy':>20}")
print(f"{'RGB':<10} {acc['rgb']:>20.3f}")
print(f"{'Flow':<10} {acc['flow']:>20.3f}")
print(f"{'RGB+Flow':<10} {acc['fused']:>20.3f}")
print(f"sample video {sample.name}: predicted {guess} (p={prob:.2f}; true class {truth})")
print(f"rgb={acc['rgb']:.4f} flow={acc['flow']:.4f} fused={acc['fused']:.4f}")
EOF
