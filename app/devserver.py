"""A real HTTP server on 127.0.0.1 for the offline demo, the tests and the benchmarks.

Serves a folder with the validators a good news site sends (ETag, Last-Modified, 304 answers, gzip),
per-path header overrides from `_headers.json`, and optional route handlers for fault injection.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import mimetypes
import random
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Route = Callable[[BaseHTTPRequestHandler], None]
GZIP_MIN_BYTES = 512
GZIP_LEVEL = 1   # nginx's default gzip_comp_level
TYPES = {".xml": "application/xml", ".rss": "application/rss+xml", ".atom": "application/atom+xml",
         ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".opml": "text/x-opml"}


PORTS_BELOW_EPHEMERAL = 12_000   # free_port draws from this many ports just below the OS's ephemeral range


def _ephemeral_low() -> int:
    """The first port the OS hands out to outgoing connections and port-0 binds (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free on 127.0.0.1 right now, for a server started next (an SMTP server whose port goes into a
    config first). Drawn at random below the OS's ephemeral range: a port the OS picked (bind to port 0) is
    the next one it gives any outgoing connection, so between this check and the server's bind a test's
    own HTTP client could take it (a CI run lost an SMTP fixture that way: "address already in use")."""
    high = _ephemeral_low()
    low = max(1024, high - PORTS_BELOW_EPHEMERAL)
    draw = random.SystemRandom()
    for _ in range(100 if high - low >= 1000 else 0):
        port = draw.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:          # no room below the ephemeral range: let the OS pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:   # quiet; requests are recorded instead
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "client": self.client_address})
        route = self.server.routes.get(self.path) or self.server.routes.get(path)
        if route is not None:
            route(self)
            return
        self.serve_file(path)

    def send_body(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve_file(self, path: str) -> None:
        root = self.server.root
        target = (root / path.lstrip("/")).resolve() if root else None
        if target and target.is_dir():
            target = target / "index.html"
        if root is None or target is None or root not in target.parents or not target.is_file():
            self.send_body(404, b"not found", {"Content-Type": "text/plain"})
            return
        body = target.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        mtime = email.utils.formatdate(target.stat().st_mtime, usegmt=True)
        headers = {"Content-Type": TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream",
                   "ETag": etag, "Last-Modified": mtime}
        headers.update(self.server.header_overrides.get("/" + str(target.relative_to(root)), {}))
        if self.headers.get("If-None-Match") == etag or (
                not self.headers.get("If-None-Match") and self.headers.get("If-Modified-Since") == mtime):
            self.send_body(304, b"", {k: v for k, v in headers.items() if k in ("ETag", "Last-Modified")})
            return
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(body) >= GZIP_MIN_BYTES:
            cache = self.server.gzip_cache   # compressed once per file version, like nginx's gzip_static
            key = (str(target), etag)
            if key not in cache:
                cache[key] = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            body = cache[key]
            headers["Content-Encoding"] = "gzip"
        self.send_body(200, body, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a poller opening more connections at once than the serving
    # thread accepts has its SYNs dropped, and the kernel retries each after 1 s (session 26: those retries
    # were the 0.6-1 s stalls in a quarter of the many-feeds re-polls, counted in /proc/net/netstat's
    # ListenOverflows). Real sites listen with hundreds (nginx 511).
    request_queue_size = 512

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe) is normal for a fetcher with deadlines: stay quiet."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
    root: Path | None
    routes: dict[str, Route]
    requests: list[dict[str, Any]]
    header_overrides: dict[str, dict[str, str]]
    gzip_cache: dict[tuple[str, str], bytes]


POLL_SECONDS = 0.05


class LoopbackServer:
    """`with LoopbackServer(folder) as srv: srv.url("/feed.xml")`; port 0 picks a free port."""

    def __init__(self, root: Path | None = None, *, routes: dict[str, Route] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = _Server((host, port), _Handler)
        self.httpd.root = root.resolve() if root else None
        self.httpd.routes = dict(routes or {})
        self.httpd.requests = []
        self.httpd.gzip_cache = {}
        overrides = (root / "_headers.json") if root else None
        self.httpd.header_overrides = json.loads(overrides.read_text()) if overrides and overrides.exists() else {}
        # stop() waits for the serving loop's next poll: 0.05 s instead of socketserver's 0.5 s (a test
        # that stops a hundred servers waited ~50 s for nothing).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": POLL_SECONDS},
                                       daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]   # still known after stop(), unlike the closed socket's name
        host = host.decode() if isinstance(host, bytes) else host   # typeshed admits a bytes host
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.httpd.requests

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
