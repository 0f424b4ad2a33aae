"""A 127.0.0.1 HTTP file server for fetch tests: Range support and scripted misbehaviour."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    """One file and how the server treats requests for it."""

    data: bytes
    ranges: bool = True  # False: ignore Range and always answer 200 with the whole file
    drop_after: int | None = None  # first full answer closes the connection after this many bytes
    fail_first: int = 0  # answer 500 this many times before serving
    requests: list[str | None] = field(default_factory=list)  # Range header of each request
    barrier: threading.Barrier | None = None  # wait here until other requests arrive
    head: bool = False  # answer HEAD (else 405, as some hosts do)
    content_type: str | None = None  # a Content-Type header to send (e.g. a host's HTML page)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        served: Served | None = self.server.files.get(self.path)  # type: ignore[attr-defined]
        served_head = served is not None and served.head
        self.send_response(200 if served_head else (404 if served is None else 405))
        self.send_header("Content-Length", str(len(served.data)) if served_head else "0")
        if served is not None and served.content_type:
            self.send_header("Content-Type", served.content_type)
        self.end_headers()

    def do_GET(self) -> None:
        served: Served | None = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if served is None:
            self._reply(404, b"not found")
            return
        served.requests.append(self.headers.get("Range"))
        if served.barrier is not None:
            try:
                served.barrier.wait()
            except threading.BrokenBarrierError:
                self._reply(503, b"the other download never came")
                return
        if served.fail_first > 0:
            served.fail_first -= 1
            self._reply(500, b"boom")
            return
        data, start = served.data, 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if served.ranges and match:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        if served.content_type:
            self.send_header("Content-Type", served.content_type)
        if served.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if served.drop_after is not None:
            cut, served.drop_after = served.drop_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FileServer:
    """Serves `files` (URL path -> Served) on 127.0.0.1 until `close()`."""

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files = self.files  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, data: bytes, **behaviour) -> str:
        """Serve `data` at `path`; return its URL."""
        self.files[path] = Served(data, **behaviour)
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
