"""Download throughput and peak memory of `tsncli.acquire.download` against curl, over loopback.

A separate server process serves a sparse file from 127.0.0.1 (sendfile); each download runs in
its own process so its peak RSS is measured alone. Two sizes show memory does not grow with size.

    .venv/bin/python benchmarks/download_throughput.py [--size-mb 1024] [--small-mb 128]

Last line: key=value pairs (tsn_mb_s, tsn_sha256_mb_s, curl_mb_s, ratio, ratio_sha256,
peak_rss_mb_small, peak_rss_mb_large, peak_rss_mb_sha256, size_mb). "tsn+sha" also verifies a
known sha256 while it downloads (hashing runs on a second thread).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from tsncli.acquire.download import Target, download_file
url, out, sha = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
download_file([url], Target(out, sha256=None if sha == "-" else sha))
seconds = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))
"""


def serve(folder: str, port_queue) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            path = Path(folder) / self.path.lstrip("/")
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with open(path, "rb") as f:
                self.connection.sendfile(f, 0, size)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(httpd.server_address[1])
    httpd.serve_forever()


def run_tsn(url: str, out: Path, sha256: str = "-") -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(out), sha256],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    out.unlink()
    for suffix in (".verified",):
        out.with_name(f".{out.name}{suffix}").unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_curl(url: str, out: Path) -> float | None:
    curl = shutil.which("curl")
    if not curl:
        return None
    start = time.perf_counter()
    subprocess.run([curl, "-s", "-o", str(out), url], check=True)
    seconds = time.perf_counter() - start
    out.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="large file size (MiB)")
    parser.add_argument("--small-mb", type=int, default=128, help="small file size (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; best is kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tsn-dl-bench-") as tmp:
        folder = Path(tmp)
        for name, mb in (("large.bin", args.size_mb), ("small.bin", args.small_mb)):
            with open(folder / name, "wb") as f:
                f.truncate(mb * 1024 * 1024)  # sparse: the disk is not the bottleneck
        queue = mp.Queue()
        server = mp.Process(target=serve, args=(str(folder / "."), queue), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{queue.get(timeout=30)}"
        out = folder / "out"
        out.mkdir()
        sha = hashlib.sha256()
        with open(folder / "large.bin", "rb") as f:
            while block := f.read(1 << 20):
                sha.update(block)
        url = f"{base}/large.bin"
        tsn_runs, curl_runs, hashed_runs = [], [], []
        try:
            small = run_tsn(f"{base}/small.bin", out / "small.bin")
            for _ in range(args.repeat):  # interleaved, so load changes hit every tool alike
                tsn_runs.append(run_tsn(url, out / "large.bin"))
                curl_runs.append(run_curl(url, out / "c.bin"))
                hashed_runs.append(run_tsn(url, out / "large.bin", sha.hexdigest()))
        finally:
            server.terminate()

    mb = args.size_mb * 1024 * 1024 / 1e6
    tsn_best = min(r["seconds"] for r in tsn_runs)
    tsn_mb_s = mb / tsn_best
    curl_mb_s = mb / min(curl_runs) if all(curl_runs) else float("nan")
    large_rss = max(r["rss_mb"] for r in tsn_runs)
    hashed_rss = max(r["rss_mb"] for r in hashed_runs)
    hashed_best = min(r["seconds"] for r in hashed_runs)
    hashed_mb_s = mb / hashed_best
    print(f"{'tool':<8}{'size MiB':>10}{'best s':>10}{'MB/s':>10}{'peak RSS MiB':>14}")
    print(f"{'tsn':<8}{args.small_mb:>10}{small['seconds']:>10.2f}{'':>10}{small['rss_mb']:>14.1f}")
    print(f"{'tsn':<8}{args.size_mb:>10}{tsn_best:>10.2f}{tsn_mb_s:>10.0f}{large_rss:>14.1f}")
    print(
        f"{'tsn+sha':<8}{args.size_mb:>10}{hashed_best:>10.2f}{hashed_mb_s:>10.0f}{hashed_rss:>14.1f}"
    )
    if all(curl_runs):
        print(f"{'curl':<8}{args.size_mb:>10}{min(curl_runs):>10.2f}{curl_mb_s:>10.0f}{'':>14}")
    print(
        f"tsn_mb_s={tsn_mb_s:.0f} tsn_sha256_mb_s={hashed_mb_s:.0f} curl_mb_s={curl_mb_s:.0f} "
        f"ratio={tsn_mb_s / curl_mb_s:.2f} ratio_sha256={hashed_mb_s / curl_mb_s:.2f} "
        f"peak_rss_mb_small={small['rss_mb']:.1f} peak_rss_mb_large={large_rss:.1f} "
        f"peak_rss_mb_sha256={hashed_rss:.1f} "
        f"size_mb={args.size_mb}"
    )


if __name__ == "__main__":
    main()
