"""Pages whose extraction takes minutes (session 31; found by a probe of big hostile pages).

A page made of links costs time that grows with the square of its size: 2.2 s at 0.25 MB, 19 s at 1 MB, 74 s
at 2 MB, most of it in boilerpy3 (one of the chooser's opinions) and the rest in trafilatura itself. Under
`fetch.max_body_bytes` (10 MB) one such page held an extraction worker for about half an hour, and the run
with it. Now a page has `ingest.extract_timeout` (connectors/extract.py, `deadline`): the opinions may use
half of it, after which trafilatura's text stands, and past all of it the page fails as an item.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.devserver import LoopbackServer
from balkanwatch.config import load_config
from balkanwatch.errors import ExtractionTimeout
from connectors import extract
from connectors.extract import PageJob, _past_deadline, _PastDeadline, deadline, extract_page, safe_extract
from flows.ingest import run_ingest
from tests.conftest import loopback_config, toml_sources
from warehouse import Warehouse

PARAGRAPH = ("KFOR troops increased patrols near the administrative boundary line in northern Kosovo on Tuesday "
             "after reports of a roadblock, a spokesperson for the mission said{}, adding that talks with local "
             "representatives were continuing.")


def links_page(size: int) -> bytes:
    """A page of links and nothing else, `size` bytes: slow to extract."""
    return ("<html><body>" + "<a href='/x'>link text here</a> " * (size // 35) + "</body></html>").encode()


def article_page(n: int) -> bytes:
    paragraphs = "".join(f"<p>{PARAGRAPH.format(f' (update {n}.{i})')}</p>" for i in range(5))
    return f"<html><head><title>Patrols {n}</title></head><body><article><h1>Patrols {n}</h1>{paragraphs}</article></body></html>".encode()


def _job(body: bytes, timeout: float) -> PageJob:
    return PageJob("s", "http://x.org/a", "http://x.org/a", body, "utf-8", datetime.now(UTC), timeout=timeout)


def _spin(seconds: float, *, swallow: bool = False) -> None:
    """Python work for `seconds`, optionally inside a library-style `except Exception` that swallows errors."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sum(range(1000))
        except Exception:   # noqa: BLE001 (what a careless library does)
            if not swallow:
                raise


def test_deadlines_nest_stop_python_work_and_leave_no_timer_behind() -> None:
    before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(_PastDeadline), deadline(1.0):
        with pytest.raises(_PastDeadline), deadline(0.2):
            _spin(10, swallow=True)     # an `except Exception` does not swallow it
        inner = time.monotonic() - started
        _spin(10)                       # the outer deadline still holds after the inner one ended
    outer = time.monotonic() - started
    assert 0.15 < inner < 0.6 and 0.9 < outer < 1.5, (inner, outer)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) == before
    with deadline(5.0), deadline(10.0):   # an inner block never outlasts the outer one
        assert signal.getitimer(signal.ITIMER_REAL)[0] <= 5.0
    fired: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:   # someone else's timer survives a deadline, shortened by the time spent in it
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        with deadline(1.0):
            _spin(0.2)
        assert 29.0 < signal.getitimer(signal.ITIMER_REAL)[0] < 29.9 and signal.getsignal(signal.SIGALRM) != _past_deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert not fired
    done: list[float] = []

    def elsewhere() -> None:   # outside the main thread there is no timer to use: no limit
        with deadline(0.05):
            _spin(0.3)
        done.append(time.monotonic())
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert done


def test_a_page_past_its_deadline_fails_with_the_reason() -> None:
    started = time.monotonic()
    result = safe_extract(_job(links_page(1_000_000), timeout=0.5))   # ~19 s without a deadline
    assert isinstance(result, str) and "took longer than 0.5 s (ingest.extract_timeout; 0.9 MB of HTML)" in result
    # The deadline may fire inside a callback that swallows it (a weakref's, during garbage collection): it
    # fires again every _PastDeadline.EXTRA_SECONDS, so the page ends within a few of those, far from 19 s.
    assert time.monotonic() - started < 6
    with pytest.raises(ExtractionTimeout):   # `balkanwatch extract` sees the same error
        extract_page(_job(links_page(250_000), timeout=0.5))


def test_opinions_that_take_too_long_leave_trafilaturas_text(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """The chooser asks further extractors on this page; one that never returns (the stand-in for boilerpy3 on
    a huge page) is given up at half the deadline, and the page keeps trafilatura's text."""
    body = links_page(60_000)
    plain = extract_page(_job(body, timeout=0))
    asked: list[str] = []

    def never_returns(name: str, html: str, url: str, language: str | None) -> str:
        asked.append(name)
        _spin(3600)
        return ""
    monkeypatch.setattr(extract, "opinion", never_returns)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="connectors.extract"):
        art = extract_page(_job(body, timeout=4.0))
    took = time.monotonic() - started
    assert asked, "the chooser asked no opinion on this page: the test proves nothing"
    assert art.text_from == "trafilatura" and art.text == plain.text
    assert 1.9 < took < 4.0, took
    assert "extractor agreement given up on http://x.org/a after 2 s" in caplog.text


def test_a_huge_slow_page_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "huge.html").write_bytes(links_page(2_000_000))   # 74 s to extract without a deadline
    for n in range(2):
        (site / f"a{n}.html").write_bytes(article_page(n))
    with LoopbackServer(site) as srv:
        sources = [{"name": "Slow", "urls": [srv.url("a0.html"), srv.url("huge.html"), srv.url("a1.html")]}]
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text(loopback_config(toml_sources(sources), extra="extract_timeout = 2\nextract_workers = 2")
                       .replace("extract_workers = 1\n", ""), encoding="utf-8")
        config = load_config(cfg)
        started = time.monotonic()
        summary = asyncio.run(run_ingest(config))
        took = time.monotonic() - started
    assert summary.status == "completed", summary.note
    assert took < 30, took
    with Warehouse.open(config.warehouse_path, read_only=True) as wh:
        landed = sorted(r["url"].rsplit("/", 1)[1] for r in wh.rows("SELECT url FROM articles"))
        failed = wh.rows("SELECT url, error FROM failed_items")
        health = {h["name"]: h for h in wh.source_health()}
    assert landed == ["a0.html", "a1.html"]
    assert [f["url"].rsplit("/", 1)[1] for f in failed] == ["huge.html"]
    assert "took longer than 2 s (ingest.extract_timeout; 1.8 MB of HTML)" in failed[0]["error"], failed
    assert health["Slow"]["health"] == "healthy"
