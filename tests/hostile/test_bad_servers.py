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
from tests.conftest import loopback_config, toml_sources
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
    from balkanwatch.corpus import SITES, build_corpus
    from balkanwatch.devserver import LoopbackServer

    tmp_path = tmp_path_factory.mktemp("hostile")
    servers = {}
    for site_def in SITES:
        (tmp_path / "sites" / site_def.slug).mkdir(parents=True)
        servers[site_def.slug] = LoopbackServer(tmp_path / "sites" / site_def.slug).start()
    (tmp_path / "site").mkdir()
    server = LoopbackServer(tmp_path / "site").start()
    try:
        sources, arts = build_corpus(tmp_path / "sites", {k: v.base for k, v in servers.items()})
        yield _run(tmp_path, server, sources, arts)
    finally:
        for srv in [*servers.values(), server]:
            srv.stop()


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
    listener, silent_url = silent_listener()
    hostile = [
        {"name": "Trickle", "feed": server.url("trickle.xml")},
        {"name": "Reset", "feed": server.url("reset.xml")},
        {"name": "Silent", "feed": silent_url},
        {"name": "Rate limited", "feed": server.url("429.xml")},
        {"name": "Bad pages", "feed": server.url("feed-pages.xml")},
        {"name": "Ten thousand", "feed": server.url("big.xml")},
        {"name": "No such host", "feed": "http://no-such-host.invalid/feed.xml"},
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
    with Warehouse.open(load_config(cfg_path).warehouse_path, read_only=True) as wh:
        health = {h["name"]: h for h in wh.source_health()}
        rows = wh.rows("SELECT url, count(*) AS n FROM articles GROUP BY url")
    return summary, health, rows, arts, sources, elapsed


def test_run_completes_and_good_sources_land(hostile_run) -> None:  # type: ignore[no-untyped-def]
    summary, health, rows, arts, sources, elapsed = hostile_run
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
