"""Hostile servers and pages (issue #5, first cases): the run completes, the bad source is marked with a
clear error, every other source's articles land, nothing is duplicated."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import time
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import loopback_config, served_corpus, toml_sources
from warehouse import Warehouse


def trickle(h):  # type: ignore[no-untyped-def]
    """Headers at once, then one byte a second."""
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    try:
        for _ in range(60):
            h.wfile.write(b"<")
            h.wfile.flush()
            time.sleep(1)
    except OSError:
        pass


def reset_mid_body(h):  # type: ignore[no-untyped-def]
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"<?xml version='1.0'?><rss><channel><item><title>half")
    h.wfile.flush()
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(h.connection.detach())   # linger 0: the kernel sends RST, mid-body


def huge_page(h, declared: bool = True):  # type: ignore[no-untyped-def]
    """50 MB of HTML, streamed, with or without a Content-Length: the fetcher stops at its cap."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html; charset=utf-8")
    if declared:
        h.send_header("Content-Length", str(50 * 1024 * 1024))
    else:
        h.send_header("Connection", "close")
        h.close_connection = True
    h.end_headers()
    chunk = b"<p>" + b"KFOR " * 200_000 + b"</p>"
    try:
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            h.wfile.write(chunk)
    except OSError:
        pass


CYRILLIC_TITLE = "КФОР појачао патроле на северу Косова"


def charset_feed(base: str, declared: str, actual: str, pages: list[str]) -> bytes:
    items = "".join(f"<item><title>{CYRILLIC_TITLE} {i}</title><link>{base}/{p}</link></item>"
                    for i, p in enumerate(pages))
    return (f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>{CYRILLIC_TITLE}</title>'
            f"{items}</channel></rss>").encode(actual)


def page(title: str, words: str) -> str:
    import random

    rng = random.Random(title)   # distinct text per page, so distinct pages are distinct stories
    vocab = [f"{w}{k}" for w in words.split() for k in range(40)]
    body = "".join(f"<p>{title}: {' '.join(rng.choices(vocab, k=40))}.</p>" for _ in range(6))
    return f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


_NOT_TLS_SERVER = """
import socket
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(16)
print(sock.getsockname()[1], flush=True)
while True:
    conn, _ = sock.accept()
    with conn:
        conn.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n")
"""


class NotTlsListener:
    """An https:// URL whose server answers the TLS handshake with plain HTTP bytes, then hangs up. It runs
    in its own process: a thread of the test process answered late when the run kept the GIL busy, and
    the handshake then timed out (httpx counts the handshake in the connect timeout) instead of failing."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self.process = subprocess.Popen([sys.executable, "-c", _NOT_TLS_SERVER], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = f"https://127.0.0.1:{int(self.process.stdout.readline())}/feed.xml"

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def not_tls_listener() -> tuple[NotTlsListener, str]:
    listener = NotTlsListener()
    return listener, listener.url


def silent_listener() -> tuple[socket.socket, str]:
    """A TCP port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"


def big_feed(base: str, n: int) -> bytes:
    items = "".join(f"<item><title>t{i}</title><link>{base}/gone/{i}.html</link><guid>g{i % 50}</guid></item>"
                    for i in range(n))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One ingest over the good corpus plus the hostile sources (shared by this module's tests)."""
    from app.devserver import LoopbackServer

    tmp_path = tmp_path_factory.mktemp("hostile")
    (tmp_path / "site").mkdir()
    with served_corpus(tmp_path / "sites") as (sources, arts, _), LoopbackServer(tmp_path / "site") as server:
        yield _run(tmp_path, server, sources, arts)


def _run(tmp_path: Path, server, sources, arts):  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    (site / "junk.html").write_bytes(bytes(range(256)) * 400)
    (site / "doc.pdf.html").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n" * 200)
    (site / "nested.html").write_text("<html><body>" + "<div>" * 5000 + "<p>deep</p>" + "</div>" * 5000 + "</body></html>")
    (site / "feed-pages.xml").write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>bad pages</title>
        <item><title>junk</title><link>{server.url('junk.html')}</link></item>
        <item><title>pdf</title><link>{server.url('doc.pdf.html')}</link></item>
        <item><title>nested</title><link>{server.url('nested.html')}</link></item></channel></rss>""")
    server.routes["/big.xml"] = lambda h: h.send_body(200, big_feed(server.base, 10_000), {"Content-Type": "application/rss+xml"})
    server.routes["/trickle.xml"] = trickle
    server.routes["/reset.xml"] = reset_mid_body
    server.routes["/429.xml"] = lambda h: h.send_body(429, b"", {"Retry-After": "3600"})
    server.routes["/huge.html"] = huge_page
    server.routes["/huge-undeclared.html"] = lambda h: huge_page(h, declared=False)
    server.routes["/gone.xml"] = lambda h: h.send_body(410, b"gone", {})
    server.routes["/missing.xml"] = lambda h: h.send_body(404, b"not here", {})
    server.routes["/loop.xml"] = lambda h: h.send_body(302, b"", {"Location": server.url("loop.xml")})
    pages = {f"cs{i}.html": page(f"Charset page {i}", "Kosovo border crossing talks") for i in range(4)}
    pages |= {f"odd{i}.html": page(f"Odd item {i}", "EULEX police report from Mitrovica") for i in range(4)}
    for name, html in pages.items():
        (site / name).write_text(html, encoding="utf-8")
    (site / "huge-feed.xml").write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>
        <item><title>huge</title><link>{server.url('huge.html')}</link></item>
        <item><title>huge, no length</title><link>{server.url('huge-undeclared.html')}</link></item>
        <item><title>fine</title><link>{server.url('odd3.html')}</link></item></channel></rss>""")
    # windows-1251 bytes declared as UTF-8, and UTF-8 bytes declared as windows-1251
    server.routes["/cp1251-says-utf8.xml"] = lambda h: h.send_body(
        200, charset_feed(server.base, "utf-8", "cp1251", ["cs0.html", "cs1.html"]),
        {"Content-Type": "application/rss+xml; charset=utf-8"})
    server.routes["/utf8-says-cp1251.xml"] = lambda h: h.send_body(
        200, charset_feed(server.base, "windows-1251", "utf-8", ["cs2.html", "cs3.html"]),
        {"Content-Type": "application/rss+xml; charset=windows-1251"})
    (site / "odd.xml").write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>odd items</title>
        <item><title>no link at all</title><guid isPermaLink="false">same-guid</guid></item>
        <item><title>no date</title><link>{server.url('odd0.html')}</link><guid isPermaLink="false">same-guid</guid></item>
        <item><title>future</title><link>{server.url('odd1.html')}</link><guid isPermaLink="false">same-guid</guid>
              <pubDate>Mon, 01 Jan 2099 10:00:00 GMT</pubDate></item>
        <item><title>epoch</title><link>{server.url('odd2.html')}</link><pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate></item>
        <item><title>dup link</title><link>{server.url('odd2.html')}</link></item></channel></rss>""")
    listener, silent_url = silent_listener()
    tls_listener, tls_url = not_tls_listener()
    hostile = [
        {"name": "Trickle", "feed": server.url("trickle.xml")},
        {"name": "Reset", "feed": server.url("reset.xml")},
        {"name": "Silent", "feed": silent_url},
        {"name": "Rate limited", "feed": server.url("429.xml")},
        {"name": "Bad pages", "feed": server.url("feed-pages.xml")},
        {"name": "Ten thousand", "feed": server.url("big.xml")},
        {"name": "No such host", "feed": "http://no-such-host.invalid/feed.xml"},
        {"name": "Huge page", "feed": server.url("huge-feed.xml")},
        {"name": "Gone", "feed": server.url("gone.xml")},
        {"name": "Missing", "feed": server.url("missing.xml")},
        {"name": "Redirect loop", "feed": server.url("loop.xml")},
        {"name": "TLS", "feed": tls_url},
        {"name": "Lying UTF-8", "feed": server.url("cp1251-says-utf8.xml")},
        {"name": "Lying 1251", "feed": server.url("utf8-says-cp1251.xml")},
        {"name": "Odd items", "feed": server.url("odd.xml")},
    ]
    cfg_path = tmp_path / "balkanwatch.toml"
    cfg_path.write_text(loopback_config(toml_sources(sources + hostile), extra="max_items_per_source = 20", timeout=1),
                        encoding="utf-8")
    try:
        started = time.monotonic()
        summary = asyncio.run(run_ingest(load_config(cfg_path)))
        elapsed = time.monotonic() - started
    finally:
        listener.close()
        tls_listener.close()
    with Warehouse.open(load_config(cfg_path).warehouse_path, read_only=True) as wh:
        health = {h["name"]: h for h in wh.source_health()}
        rows = wh.rows("SELECT url, count(*) AS n FROM articles GROUP BY url")
        fetched = wh.rows("SELECT url, bytes, error, error_kind FROM fetches")
        odd = wh.rows("""SELECT a.url, a.published_at, a.fetched_at, st.first_seen_at FROM articles a
                         JOIN stories st USING (story_id) WHERE a.source IN ('Odd items', 'Lying UTF-8', 'Lying 1251')""")
    return summary, health, rows, arts, sources, elapsed, fetched, odd


def test_run_completes_and_good_sources_land(hostile_run) -> None:  # type: ignore[no-untyped-def]
    summary, health, rows, arts, sources, elapsed, *_ = hostile_run
    assert summary.status == "completed"
    assert elapsed < 30                                   # trickle and silent servers hit the deadline
    assert all(r["n"] == 1 for r in rows)                 # nothing duplicated
    good = {s["name"] for s in sources}
    assert all(health[n]["health"] == "healthy" for n in good)
    assert len([r for r in rows if "/news/" in r["url"]]) == len(arts)


@pytest.mark.parametrize("name, kind, words", [
    ("Trickle", "transient", "timeout|deadline"),
    ("Reset", "transient", "network error|deadline|timeout"),   # RST, or a hang-up the client sees late
    ("Silent", "transient", "timeout|deadline"),
    ("Rate limited", "transient", "HTTP 429"),
    ("No such host", "transient", "does not resolve"),
    ("Gone", "terminal", "HTTP 410"),
    ("Missing", "terminal", "HTTP 404"),
    ("Redirect loop", "terminal", "redirect"),
    ("TLS", "transient", "SSL|TLS|tls|ssl"),
])
def test_bad_server_marks_its_source(hostile_run, name: str, kind: str, words: str) -> None:  # type: ignore[no-untyped-def]
    _, health, *_ = hostile_run
    h = health[name]
    assert h["health"] == "failing" and h["last_error_kind"] == kind and re.search(words, h["last_error"]), h["last_error"]


def test_long_retry_after_moves_the_next_poll(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, health, *_ = hostile_run
    wait = (health["Rate limited"]["next_poll_at"] - health["Rate limited"]["last_attempt_at"]).total_seconds()
    assert 3500 <= wait <= 3700


def test_bad_pages_fail_alone_and_big_feeds_are_capped(hostile_run) -> None:  # type: ignore[no-untyped-def]
    summary, health, rows, *_ = hostile_run
    assert health["Bad pages"]["health"] == "healthy" and health["Ten thousand"]["health"] == "healthy"
    bad = next(s for s in summary.sources if s.name == "Bad pages")
    assert bad.item_errors == 3 and bad.new_articles == 0
    big = next(s for s in summary.sources if s.name == "Ten thousand")
    assert big.listed == 10_000 and big.item_errors == 20   # capped at max_items_per_source; all 404


def test_gone_backs_off_longer_than_missing(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, health, *_ = hostile_run
    wait = {n: (health[n]["next_poll_at"] - health[n]["last_attempt_at"]).total_seconds() for n in ("Gone", "Missing")}
    assert wait["Gone"] > wait["Missing"] > 0


def test_a_50_mb_page_is_capped_and_the_source_goes_on(hostile_run) -> None:  # type: ignore[no-untyped-def]
    summary, health, rows, *_, fetched, _ = hostile_run
    huge = [f for f in fetched if "/huge" in f["url"] and f["url"].endswith(".html")]
    assert len(huge) == 2 and all(f["error_kind"] == "too-large" and "10000000" in f["error"] for f in huge)
    report = next(s for s in summary.sources if s.name == "Huge page")
    assert health["Huge page"]["health"] == "healthy" and report.item_errors == 2
    assert any(r["url"].endswith("/odd3.html") for r in rows)


def test_lying_feed_charsets_still_deliver_their_articles(hostile_run) -> None:  # type: ignore[no-untyped-def]
    _, health, rows, *_ = hostile_run
    for name in ("Lying UTF-8", "Lying 1251"):
        assert health[name]["health"] == "healthy", health[name]["last_error"]
    landed = {r["url"].rsplit("/", 1)[1] for r in rows}
    assert {"cs0.html", "cs1.html", "cs2.html", "cs3.html"} <= landed


def test_odd_items_no_link_no_date_future_1970_duplicate_guids(hostile_run) -> None:  # type: ignore[no-untyped-def]
    summary, health, rows, *_, odd = hostile_run
    report = next(s for s in summary.sources if s.name == "Odd items")
    assert health["Odd items"]["health"] == "healthy"
    assert report.listed == 3 and report.new_articles == 3          # no-link item dropped, duplicate link once
    mine = [o for o in odd if "/odd" in o["url"]]
    assert sorted(o["url"].rsplit("/", 1)[1] for o in mine) == ["odd0.html", "odd1.html", "odd2.html"]
    assert len({o["first_seen_at"] for o in mine}) == 3               # same GUID, different articles: 3 stories
    for o in mine:
        assert o["first_seen_at"] <= o["fetched_at"]                   # a 2099 date never becomes story time
    assert all(r["n"] == 1 for r in rows)
