"""Download throughput and peak memory of `tsncli.data.download` against curl, over loopback.

A separate server process serves a sparse file from 127.0.0.1 (sendfile); each download runs in
its own process so its peak RSS is measured alone. Two sizes show memory does not grow with size.

    .venv/bin/python benchmarks/download_throughput.py [--size-mb 1024] [--small-mb 128]

Last line: key=value pairs (tsn_mb_s, curl_mb_s, ratio, peak_rss_mb_small, peak_rss_mb_large).
"""

from __future__ import annotations

import argparse
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
from tsncli.data.download import Target, download_file
url, out = sys.argv[1], Path(sys.argv[2])
start = time.perf_counter()
download_file([url], Target(out))
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


def run_tsn(url: str, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(out)],
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
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool; best is kept")
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
        try:
            small = run_tsn(f"{base}/small.bin", out / "small.bin")
            tsn_runs = [run_tsn(f"{base}/large.bin", out / "large.bin") for _ in range(args.repeat)]
            curl_runs = [run_curl(f"{base}/large.bin", out / "c.bin") for _ in range(args.repeat)]
        finally:
            server.terminate()

    mb = args.size_mb * 1024 * 1024 / 1e6
    tsn_best = min(r["seconds"] for r in tsn_runs)
    tsn_mb_s = mb / tsn_best
    curl_mb_s = mb / min(curl_runs) if all(curl_runs) else float("nan")
    large_rss = max(r["rss_mb"] for r in tsn_runs)
    print(f"{'tool':<8}{'size MiB':>10}{'best s':>10}{'MB/s':>10}{'peak RSS MiB':>14}")
    print(f"{'tsn':<8}{args.small_mb:>10}{small['seconds']:>10.2f}{'':>10}{small['rss_mb']:>14.1f}")
    print(f"{'tsn':<8}{args.size_mb:>10}{tsn_best:>10.2f}{tsn_mb_s:>10.0f}{large_rss:>14.1f}")
    if all(curl_runs):
        print(f"{'curl':<8}{args.size_mb:>10}{min(curl_runs):>10.2f}{curl_mb_s:>10.0f}{'':>14}")
    print(
        f"tsn_mb_s={tsn_mb_s:.0f} curl_mb_s={curl_mb_s:.0f} ratio={tsn_mb_s / curl_mb_s:.2f} "
        f"peak_rss_mb_small={small['rss_mb']:.1f} peak_rss_mb_large={large_rss:.1f} "
        f"size_mb={args.size_mb}"
    )


if __name__ == "__main__":
    main()
