"""The fetcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from balkanwatch.config import FetchSettings
from balkanwatch.errors import (
    BodyTooLargeError,
    ForbiddenAddressError,
    RobotsDisallowedError,
    TerminalFetchError,
    TransientFetchError,
)
from connectors.http import Fetcher, forbidden_reason, parse_retry_after

LOOPBACK = FetchSettings(allow_private_networks=True, per_host_delay=0.0, per_host_concurrency=4, retries=2,
                         backoff_base=0.01, timeout=3.0)


class Sleeps:
    """Injected sleep: records what the fetcher asked for, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fetch(url: str, settings: FetchSettings = LOOPBACK, sleep=None, **kw):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings, **({"sleep": sleep} if sleep else {})) as f:
            return await f.fetch(url, **kw)
    return asyncio.run(go())


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    def route(h):  # type: ignore[no-untyped-def]
        h.send_body(status, body, headers or {"Content-Type": "text/plain"})
    return route


def test_etag_and_last_modified_answered_with_304(server, tmp_path: Path) -> None:
    (tmp_path / "site" / "feed.xml").write_text("<rss/>" * 200)
    first = fetch(server.url("feed.xml"))
    assert first.status == 200 and first.etag and first.last_modified
    by_etag = fetch(server.url("feed.xml"), etag=first.etag)
    assert by_etag.not_modified and by_etag.status == 304 and by_etag.body == b""
    by_date = fetch(server.url("feed.xml"), last_modified=first.last_modified)
    assert by_date.not_modified
    assert server.requests[-1]["headers"].get("If-Modified-Since") == first.last_modified


def test_gzip_is_decoded(server, tmp_path: Path) -> None:
    (tmp_path / "site" / "page.html").write_text("<p>KFOR</p>" * 500)
    r = fetch(server.url("page.html"))
    assert r.body == b"<p>KFOR</p>" * 500
    assert "gzip" in server.requests[-1]["headers"]["Accept-Encoding"]


@pytest.mark.parametrize("encoding", ["br", "deflate"])
def test_brotli_and_deflate_are_decoded(server, encoding: str) -> None:
    import zlib

    import brotli

    body = "<p>KFOR patrols in Zvečan</p>".encode() * 200
    packed = brotli.compress(body) if encoding == "br" else zlib.compress(body)
    server.routes["/enc"] = reply(200, packed, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding})
    r = fetch(server.url("enc"))
    assert r.body == body and "br" in server.requests[-1]["headers"]["Accept-Encoding"]


def test_redirects_followed_and_bounded(server, tmp_path: Path) -> None:
    (tmp_path / "site" / "final.html").write_text("done")
    server.routes["/a"] = reply(301, headers={"Location": "/b"})
    server.routes["/b"] = reply(302, headers={"Location": server.url("final.html")})
    r = fetch(server.url("a"))
    assert r.body == b"done" and r.final_url == server.url("final.html") and len(r.redirects) == 2
    assert not r.moved_permanently                             # one hop was a 302: the old URL stays right
    server.routes["/p1"] = reply(301, headers={"Location": "/p2"})
    server.routes["/p2"] = reply(308, headers={"Location": server.url("final.html")})
    assert fetch(server.url("p1")).moved_permanently           # 301 then 308: the URL has a new home
    assert not fetch(server.url("final.html")).moved_permanently
    server.routes["/loop1"] = reply(302, headers={"Location": "/loop2"})
    server.routes["/loop2"] = reply(302, headers={"Location": "/loop1"})
    with pytest.raises(TerminalFetchError, match="redirect"):
        fetch(server.url("loop1"))
    for i in range(10):
        server.routes[f"/chain{i}"] = reply(302, headers={"Location": f"/chain{i + 1}"})
    with pytest.raises(TerminalFetchError, match="too many redirects"):
        fetch(server.url("chain0"))


def test_private_addresses_refused_by_default(server, tmp_path: Path) -> None:
    (tmp_path / "site" / "x.html").write_text("secret")
    strict = FetchSettings(per_host_delay=0.0)
    for url in (server.url("x.html"), server.url("x.html").replace("127.0.0.1", "localhost")):
        with pytest.raises(ForbiddenAddressError, match="loopback"):
            fetch(url, strict)
    assert server.requests == []   # nothing reached the server, not even robots.txt


def test_redirect_to_private_address_refused(server) -> None:
    # The listing host is allowed here only because the test server itself is on loopback; the redirect
    # target is checked on its own at connect time, so a link-local metadata address is refused too.
    server.routes["/meta"] = reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(ForbiddenAddressError):
        asyncio.run(_fetch_with_policy(server.url("meta")))


async def _fetch_with_policy(url: str):  # type: ignore[no-untyped-def]
    """Loopback allowed for the first hop only, by resolving with the strict policy for other hosts."""
    from connectors import http as h

    async with Fetcher(LOOPBACK) as f:
        backend = f.backend
        original = backend.resolve

        async def resolve(host: str, port: int):  # type: ignore[no-untyped-def]
            if host == "127.0.0.1":
                return await original(host, port)
            reason = h.forbidden_reason(host)
            if reason:
                raise ForbiddenAddressError(f"refused {host}: {reason}")
            return await original(host, port)
        backend.resolve = resolve
        return await f.fetch(url)


@pytest.mark.parametrize("ip, reason", [
    ("10.0.0.1", "private"), ("192.168.1.1", "private"), ("172.16.0.1", "private"), ("127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("::1", "loopback"), ("fd00::1", "private"), ("fe80::1", "link-local"),
    ("::ffff:10.0.0.1", "private"), ("0.0.0.0", "private"), ("8.8.8.8", None), ("2a00:1450::1", None),
])
def test_forbidden_reason(ip: str, reason: str | None) -> None:
    got = forbidden_reason(ip)
    assert (got is None) == (reason is None)


def test_body_size_cap(server, tmp_path: Path) -> None:
    (tmp_path / "site" / "big.html").write_bytes(b"x" * 200_000)
    with pytest.raises(BodyTooLargeError):
        fetch(server.url("big.html"), replace(LOOPBACK, max_body_bytes=50_000))
    bomb = gzip.compress(b"\0" * 5_000_000)
    server.routes["/bomb"] = reply(200, bomb, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
    with pytest.raises(BodyTooLargeError, match="decompressed"):
        fetch(server.url("bomb"), replace(LOOPBACK, max_body_bytes=1_000_000))


def test_robots_disallow(server, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (site / "private").mkdir()
    (site / "private" / "p.html").write_text("no")
    (site / "ok.html").write_text("yes")
    assert fetch(server.url("ok.html")).body == b"yes"
    with pytest.raises(RobotsDisallowedError):
        fetch(server.url("private/p.html"))
    assert not any(r["path"] == "/private/p.html" for r in server.requests)


def test_429_retry_after_seconds_is_honoured(server, tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(h):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            h.send_body(429, b"slow down", {"Retry-After": "7"})
        else:
            h.send_body(200, b"ok", {"Content-Type": "text/plain"})
    server.routes["/rl"] = flaky
    sleeps = Sleeps()
    assert fetch(server.url("rl"), sleep=sleeps).body == b"ok"
    assert sleeps.calls == [7.0]


def test_long_retry_after_is_raised_not_waited(server) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    server.routes["/busy"] = reply(503, b"", {"Retry-After": when})
    sleeps = Sleeps()
    with pytest.raises(TransientFetchError) as info:
        fetch(server.url("busy"), sleep=sleeps)
    assert sleeps.calls == [] and info.value.retry_after and 7000 < info.value.retry_after <= 7200


def test_5xx_retried_with_backoff_then_raised(server) -> None:
    server.routes["/down"] = reply(500, b"boom")
    sleeps = Sleeps()
    with pytest.raises(TransientFetchError, match="HTTP 500"):
        fetch(server.url("down"), sleep=sleeps)
    assert sleeps.calls == [0.01, 0.02]
    assert sum(r["path"] == "/down" for r in server.requests) == 3


def test_404_is_terminal_and_not_retried(server) -> None:
    sleeps = Sleeps()
    with pytest.raises(TerminalFetchError) as info:
        fetch(server.url("gone.html"), sleep=sleeps)
    assert info.value.status == 404 and sleeps.calls == []


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None


def test_per_host_concurrency_and_delay(server) -> None:
    state = {"now": 0, "max": 0, "starts": []}
    lock = threading.Lock()

    def slow(h):  # type: ignore[no-untyped-def]
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state["starts"].append(time.monotonic())
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        h.send_body(200, b"ok", {"Content-Type": "text/plain"})
    for i in range(6):
        server.routes[f"/s{i}"] = slow

    async def go(settings: FetchSettings) -> None:
        async with Fetcher(settings) as f:
            await asyncio.gather(*(f.fetch(server.url(f"s{i}")) for i in range(6)))
    asyncio.run(go(replace(LOOPBACK, per_host_concurrency=2)))
    assert state["max"] == 2


def test_connections_are_reused_when_many_hosts_are_polled_at_once(tmp_path: Path) -> None:
    """4 hosts × 8 per host in flight is more than httpx keeps idle by default (20): still one connection
    per slot, not one per request (the servers see which client ports their requests came from)."""
    from app.devserver import LoopbackServer

    for i in range(30):
        (tmp_path / f"p{i}.html").write_text(f"<p>page {i}</p>" * 50)
    servers = [LoopbackServer(tmp_path).start() for _ in range(4)]
    try:
        async def go() -> None:
            async with Fetcher(replace(LOOPBACK, per_host_concurrency=8)) as f:
                await asyncio.gather(*(f.fetch(s.url(f"p{i}.html")) for s in servers for i in range(30) for _ in range(2)))
        asyncio.run(go())
        for s in servers:
            pages = [r for r in s.requests if r["path"].endswith(".html")]
            assert len(pages) == 60
            assert len({r["client"] for r in s.requests}) <= 8 + 1   # the slots (+ robots.txt's)
    finally:
        for s in servers:
            s.stop()


def test_unchanged_feeds_redirects_and_error_pages_keep_the_connection(server, tmp_path: Path) -> None:
    """A re-poll is mostly 304s: each used to leave its connection unread, so httpx closed it and the next
    feed opened a new one (a TLS handshake on a real site). Short unwanted bodies are now read to their end
    and the connection is reused; a long error page is not read beyond DRAIN_MAX_BYTES and still fails fast."""
    from connectors.http import DRAIN_MAX_BYTES

    for i in range(6):
        (tmp_path / "site" / f"f{i}.xml").write_text(f"<rss>{i}</rss>" * 100)
    server.routes["/moved"] = reply(301, b"<p>moved</p>" * 50, {"Location": "/f0.xml"})
    server.routes["/gone"] = reply(404, b"<p>not here</p>" * 100)
    server.routes["/huge-error"] = reply(500, b"x" * (DRAIN_MAX_BYTES * 8))

    async def go() -> tuple[list[bool], type[Exception] | None]:
        async with Fetcher(replace(LOOPBACK, per_host_concurrency=1, retries=0)) as f:
            first = [await f.fetch(server.url(f"f{i}.xml")) for i in range(6)]
            again = [await f.fetch(server.url(f"f{i}.xml"), etag=r.etag) for i, r in enumerate(first)]
            moved = await f.fetch(server.url("moved"))
            assert moved.final_url.endswith("/f0.xml") and moved.status == 200
            with pytest.raises(TerminalFetchError):
                await f.fetch(server.url("gone"))
            await f.fetch(server.url("f1.xml"))
            with pytest.raises(TransientFetchError):
                await f.fetch(server.url("huge-error"))
            await f.fetch(server.url("f2.xml"))
            return [r.not_modified for r in again], None
    not_modified, _ = asyncio.run(go())
    assert all(not_modified)
    clients = [r["client"] for r in server.requests]
    # robots.txt (a 404 page), 6 feeds, 6 revalidations, the redirect and its target, the 404, a feed and the
    # long error page: one connection; that page is left unread, so the last feed needs a second one
    assert len(server.requests) == 19
    assert len(set(clients[:-1])) == 1
    assert clients[-1] != clients[0]


def test_a_redirect_whose_body_breaks_off_is_still_followed(server, tmp_path: Path) -> None:
    """The body of a redirect is read only to keep its connection; one that breaks off costs the connection,
    not the fetch."""
    (tmp_path / "site" / "feed.xml").write_text("<rss>KFOR</rss>")

    def broken(h) -> None:  # type: ignore[no-untyped-def]
        h.send_response(302)
        h.send_header("Location", "/feed.xml")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"<p>moved")   # 8 of the 1000 bytes announced, then the server hangs up
        h.close_connection = True

    server.routes["/old"] = broken
    r = fetch(server.url("old"), replace(LOOPBACK, retries=0))
    assert r.status == 200 and r.body == b"<rss>KFOR</rss>" and r.redirects == (server.url("old"),)


def test_idle_pools_past_max_pools_are_closed_and_busy_ones_are_not(tmp_path: Path, monkeypatch) -> None:
    """One pool per site, but not thousands kept open: past MAX_POOLS the least recently used idle pool is
    closed (its site then gets a new connection); a pool with a request under way is never closed."""
    from app.devserver import LoopbackServer
    from connectors import http as h

    monkeypatch.setattr(h, "MAX_POOLS", 2)
    (tmp_path / "p.html").write_text("<p>KFOR</p>" * 20)

    def slow(handler) -> None:  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        handler.send_body(200, b"<p>slow</p>", {"Content-Type": "text/html"})

    servers = [LoopbackServer(tmp_path, routes={"/slow": slow}).start() for _ in range(4)]
    try:
        async def go() -> list[int]:
            async with Fetcher(LOOPBACK) as f:
                slow_page = asyncio.create_task(f.fetch(servers[0].url("slow")))
                await asyncio.sleep(0.2)                   # its request is under way on server 0's pool
                for s in servers[1:]:                      # three more sites: two pools are the limit
                    await f.fetch(s.url("p.html"))
                    assert len(f._clients) <= 3            # server 0's busy pool, and at most two others
                body = (await slow_page).body
                assert body == b"<p>slow</p>"
                await f.fetch(servers[3].url("p.html"))   # the most recent pool: still open
                await f.fetch(servers[1].url("p.html"))   # the first closed
                return [len({r["client"] for r in s.requests if r["path"] == "/p.html"}) for s in servers[1:]]
        ports = asyncio.run(go())
        assert ports == [2, 1, 1]   # client ports seen by sites 1-3: site 1 reconnected, site 3 did not
    finally:
        for s in servers:
            s.stop()


def test_https_is_verified_and_its_connections_are_reused(tmp_path: Path, monkeypatch) -> None:
    """Real sites are HTTPS: the shared TLS context verifies certificates (a self-signed one is refused until
    it is trusted through SSL_CERT_FILE), and an unchanged re-poll revalidates every feed over the one
    connection, one TLS handshake in all."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from app.devserver import LoopbackServer
    from balkanwatch.errors import FetchError
    from tests.tls import certificate, key_pem, pem, serve_https

    site = tmp_path / "site"
    site.mkdir()
    for i in range(4):
        (site / f"f{i}.xml").write_text(f"<rss>{i}</rss>" * 50)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("balkanwatch test site", key, ca=True, days=(-1, 1))   # self-signed, for 127.0.0.1
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "chain.pem").write_bytes(pem(cert) + key_pem(key))
    with LoopbackServer(site) as srv:
        base = serve_https(srv, tmp_path / "chain.pem")
        settings = replace(LOOPBACK, per_host_concurrency=1, retries=0)
        with pytest.raises(FetchError, match="TLS certificate of 127.0.0.1:[0-9]+ rejected: self-signed certificate"):
            fetch(f"{base}/f0.xml", settings)
        assert srv.requests == []

        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))

        async def go() -> list[bool]:
            async with Fetcher(settings) as f:
                first = [await f.fetch(f"{base}/f{i}.xml") for i in range(4)]
                assert [r.body for r in first] == [f"<rss>{i}</rss>".encode() * 50 for i in range(4)]
                return [(await f.fetch(f"{base}/f{i}.xml", etag=r.etag)).not_modified for i, r in enumerate(first)]
        assert asyncio.run(go()) == [True] * 4
        assert len(srv.requests) == 1 + 8 and len({r["client"] for r in srv.requests}) == 1   # robots.txt, 4 + 4


def test_loopback_server_listens_with_room_for_a_poller_s_burst() -> None:
    """socketserver listens with a backlog of 5: a poller opening more connections at once had SYNs dropped,
    each retried by the kernel after 1 s (the stalls behind the many-feeds floor in sessions 24-25). The
    kernel's own view of the listening socket (TCP_INFO's tcpi_sacked holds its backlog limit on Linux)."""
    import socket
    import struct
    import sys

    from app.devserver import LoopbackServer

    if not sys.platform.startswith("linux"):
        pytest.skip("TCP_INFO's layout is Linux's")
    with LoopbackServer() as srv:
        info = srv.httpd.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        backlog = struct.unpack_from("I", info, 28)[0]   # u8 × 8, then rto, ato, snd_mss, rcv_mss, unacked, sacked
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert backlog >= min(128, somaxconn)


def test_per_host_delay_spaces_request_starts() -> None:
    """HostLimiter with an injected clock: starts to one host are `delay` apart, other hosts do not wait."""
    from connectors.http import HostLimiter

    now = [0.0]
    starts: list[tuple[str, float]] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = HostLimiter(concurrency=4, delay=0.5, clock=lambda: now[0], sleep=fake_sleep)

    async def use(host: str) -> None:
        async with limiter.slot(host):
            starts.append((host, now[0]))

    async def go() -> None:
        await asyncio.gather(*(use("a:80") for _ in range(4)), use("b:80"))
    asyncio.run(go())
    a_times = [t for h, t in starts if h == "a:80"]
    assert a_times == [0.0, 0.5, 1.0, 1.5]
    assert [h for h, _ in starts].count("b:80") == 1


def test_the_deadline_counts_time_in_flight_not_time_queued_for_the_host(server, tmp_path: Path) -> None:
    """40 pages of one host, one at a time, 0.1 s apart: the last waits 4 s for its turn, more than the
    whole-request deadline (3 × 0.4 s). Each request takes 0.05 s once sent, so every page arrives; the
    elapsed time they report is the server's, not the queue's."""
    for i in range(40):
        (tmp_path / "site" / f"p{i}.html").write_text(f"<p>page {i}</p>")
    server.routes["/slowish"] = lambda h: (time.sleep(0.05), h.send_body(200, b"<p>ok</p>", {}))
    settings = replace(LOOPBACK, per_host_concurrency=1, per_host_delay=0.1, timeout=0.4, retries=0)

    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings) as f:
            return await asyncio.gather(*(f.fetch(server.url(f"p{i}.html" if i % 2 else "slowish"))
                                          for i in range(40)))
    results = asyncio.run(go())
    assert [r.status for r in results] == [200] * 40
    assert max(r.elapsed_ms for r in results) < 1000


def test_a_page_whose_host_has_no_turn_within_its_patience_is_host_busy(server, tmp_path: Path) -> None:
    """`patience`: the longest a fetch waits for its host's turn. Past it: HostBusyError, no request sent."""
    from balkanwatch.errors import HostBusyError

    for i in range(12):
        (tmp_path / "site" / f"p{i}.html").write_text(f"<p>page {i}</p>")
    settings = replace(LOOPBACK, per_host_concurrency=1, per_host_delay=0.2, retries=0)

    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings) as f:
            await f.fetch(server.url("p0.html"))          # robots.txt and one page: the queue starts empty
            return await asyncio.gather(*(f.fetch(server.url(f"p{i}.html"), patience=0.9) for i in range(1, 12)),
                                        return_exceptions=True)
    results = asyncio.run(go())
    fetched = [r for r in results if not isinstance(r, BaseException)]
    busy = [r for r in results if isinstance(r, HostBusyError)]
    assert len(fetched) + len(busy) == 11 and 3 <= len(fetched) <= 6, results   # about 0.9 / 0.2 turns
    assert "is busy" in str(busy[0]) and busy[0].kind == "host-busy"
    asked = [r["path"] for r in server.requests if r["path"].startswith("/p") and r["path"] != "/p0.html"]
    assert len(asked) == len(fetched)                           # the busy ones sent nothing


def test_free_port_is_bindable_and_outside_the_range_outgoing_connections_take() -> None:
    """A port the OS picks is the next one it gives any outgoing connection; free_port draws below that range
    so a test's own HTTP client cannot take an SMTP fixture's port before the server binds it."""
    import socket

    from app.devserver import _ephemeral_low, free_port

    for _ in range(20):
        port = free_port()
        assert 1024 <= port < _ephemeral_low()
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
