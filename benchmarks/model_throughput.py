"""TSN model throughput: inference and training-step clips/s and peak memory per backbone.

Usage: python benchmarks/model_throughput.py [--archs resnet18,bninception] [--batch 4]
       [--segments 3] [--size 224] [--modality rgb] [--seconds 10] [--threads 1] [--device cpu]
Each arch runs in a fresh process so its peak memory is its own. A clip is S snippets.
The last line printed is key=value pairs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time


def _measure(arch: str, args: argparse.Namespace, queue) -> None:
    import torch

    from tsncli.models.tsn import TSN, input_channels, parameter_groups

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = TSN(num_classes=101, num_segments=args.segments, modality=args.modality, arch=arch)
    model.to(device)
    channels = input_channels(args.modality, model.new_length)
    clips = torch.randn(args.batch, args.segments, channels, args.size, args.size, device=device)
    labels = torch.randint(0, 101, (args.batch,), device=device)
    groups = parameter_groups(model)
    optimizer = torch.optim.SGD(
        [{"params": g["params"], "lr": 0.001 * g["lr_mult"]} for g in groups], momentum=0.9
    )

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(step) -> float:
        step()  # warm-up
        sync()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < args.seconds or n < 2:
            step()
            n += 1
        sync()
        return n * args.batch / (time.perf_counter() - start)

    def infer() -> None:
        with torch.no_grad():
            model(clips)

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(clips), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 40)
        optimizer.step()

    model.eval()
    infer_rate = timed(infer)
    model.train()
    train_rate = timed(train)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    params = sum(p.numel() for p in model.parameters()) / 1e6
    queue.put((arch, params, infer_rate, train_rate, peak_mb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="resnet18,bninception")
    parser.add_argument("--batch", type=int, default=4, help="clips per step")
    parser.add_argument("--segments", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--modality", default="rgb")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    rows = []
    for arch in args.archs.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(arch, args, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()

    memory = "peak GPU MB" if args.device.startswith("cuda") else "peak RSS MB"
    print(
        f"{args.modality}, {args.segments} segments, {args.size}px, batch {args.batch} clips, "
        f"{args.threads} thread(s), {args.device}"
    )
    print(f"{'arch':<14}{'params M':>10}{'infer clips/s':>15}{'train clips/s':>15}{memory:>14}")
    pairs = []
    for arch, params, infer_rate, train_rate, peak in rows:
        print(f"{arch:<14}{params:>10.1f}{infer_rate:>15.2f}{train_rate:>15.2f}{peak:>14.0f}")
        pairs += [
            f"{arch}_infer_clips_per_s={infer_rate:.3f}",
            f"{arch}_train_clips_per_s={train_rate:.3f}",
            f"{arch}_peak_mb={peak:.0f}",
        ]
    print(" ".join(pairs))


if __name__ == "__main__":
    main()
