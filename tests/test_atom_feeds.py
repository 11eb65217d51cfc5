"""Atom feeds of unique stories (feeds.dir, `balkanwatch feed`): what a feed reader gets from a real ingest of
the loopback corpus, read back with feedparser (what feed readers are built on) and checked against the
warehouse's own `stories` listing."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import feedparser
import pytest

from app.cli import main
from balkanwatch.atom import entry, render
from balkanwatch.config import load_config
from balkanwatch.emails import subject_words
from flows.feeds import topic_file
from flows.ingest import run_ingest
from tests.conftest import loopback_config, served_corpus, toml_sources
from tests.test_alerts import WATCHLISTS as ALERT_WATCHLISTS

WATCHLISTS = ALERT_WATCHLISTS + """
[[watchlists]]
name = "Mitrovica / north"
any = ["Mitrovic*", "Митровиц*"]
"""

FEEDS = """
[feeds]
dir = "feeds"
base_url = "https://feeds.example.org/bw"
"""


@pytest.fixture
def feeds_config(tmp_path: Path, warehouse_backend: Callable[[str], str]) -> Iterator[Path]:
    with served_corpus(tmp_path / "sites", monitoring=True) as (sources, _, _):
        path = tmp_path / "balkanwatch.toml"
        path.write_text(warehouse_backend(loopback_config(FEEDS + WATCHLISTS + toml_sources(sources))),
                        encoding="utf-8")
        yield path


def listed(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert main(["--config", str(config), *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def check_feed(feed: feedparser.FeedParserDict, stories: list[dict]) -> None:
    """The feed has exactly these stories (as `balkanwatch stories` lists them), in that order, each linked to
    its origin and labelled with its topics."""
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.id for e in feed.entries] == [f"urn:balkanwatch:story:{s['story_id']}" for s in stories]
    assert [e.link for e in feed.entries] == [s["url"] for s in stories]
    assert [e.title for e in feed.entries] == [" ".join(s["title"].split()) for s in stories]
    assert [sorted(t.term for t in e.get("tags", [])) for e in feed.entries] == [sorted(s["topics"]) for s in stories]
    for e, s in zip(feed.entries, stories, strict=True):
        assert datetime(*e.published_parsed[:6]) == datetime.fromisoformat(s["first_seen_at"])
        assert e.summary and (f"Carried by {len(s['sources'])} sources" in e.summary) == (len(s["sources"]) > 1)


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_ingest_writes_feeds_of_unique_stories_a_reader_reads(feeds_config: Path, capsys) -> None:
    config = load_config(feeds_config)
    summary = asyncio.run(run_ingest(config))
    assert summary.feeds == "7 written, 0 unchanged", summary.feeds      # all, alerts, four topics, the OPML list
    folder = feeds_config.parent / "feeds"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    odd = topic_file("Mitrovica / north")
    assert names == sorted(["all.atom", "alerts.atom", "feeds.opml", "topics/kfor.atom",
                            "topics/north-kosovo-clash.atom", "topics/eulex.atom", f"topics/{odd}"])
    assert odd.startswith("Mitrovica_north-") and odd != topic_file("Mitrovica_north")

    everything = listed(feeds_config, capsys, "stories", "--limit", "100")
    assert len(everything) > 10 and any(len(s["sources"]) > 1 for s in everything)   # wire copies folded
    all_feed = feedparser.parse((folder / "all.atom").read_bytes())
    check_feed(all_feed, everything)
    assert all_feed.feed.title == "balkanwatch: every story"
    assert all_feed.feed.links[0].rel == "self" and all_feed.feed.links[0].href == "https://feeds.example.org/bw/all.atom"
    for topic in ("kfor", "north-kosovo-clash", "eulex", "Mitrovica / north"):
        stories = listed(feeds_config, capsys, "stories", "--topic", topic, "--limit", "100")
        assert stories, topic
        feed = feedparser.parse((folder / "topics" / topic_file(topic)).read_bytes())
        check_feed(feed, stories)
        assert feed.feed.title == f"balkanwatch: {topic}"
    # every feed in one OPML list, each at its address under feeds.base_url
    outlines = ET.fromstring((folder / "feeds.opml").read_bytes()).findall("./body/outline")
    assert sorted(o.get("xmlUrl") for o in outlines) == sorted(
        ["https://feeds.example.org/bw/all.atom", "https://feeds.example.org/bw/alerts.atom",
         "https://feeds.example.org/bw/topics/kfor.atom",
         "https://feeds.example.org/bw/topics/north-kosovo-clash.atom", "https://feeds.example.org/bw/topics/eulex.atom",
         f"https://feeds.example.org/bw/topics/{odd}"])

    # the surges: one entry per alert e-mail, written by the run's alerts cycle (after the settle's feeds)
    surges = feedparser.parse((folder / "alerts.atom").read_bytes())
    alerts = listed(feeds_config, capsys, "alerts")
    assert not surges.bozo and surges.feed.title == "balkanwatch: surges" and alerts
    assert [e.id for e in surges.entries] == [f"urn:balkanwatch:incident:{i}" for i in dict.fromkeys(
        r["incident_id"] for r in alerts)]
    first = surges.entries[0]
    mine = [r for r in alerts if r["incident_id"] == alerts[0]["incident_id"]]
    assert sorted(t.term for t in first.tags) == sorted(r["watchlist"] for r in mine)
    stories = max(r["stories"] for r in mine)
    assert first.title.startswith(" + ".join(sorted(r["watchlist"] for r in mine)) + f": {stories} new stories")
    assert mine[0]["about"] and f"About: {mine[0]['about']}." in first.summary
    first_event = mine[0]["about"].split("; ")[0].split(", ")           # the title says it as a subject does
    assert first.title.endswith(" about " + ", ".join(subject_words(first_event))), first.title
    surge_links = [line.strip() for line in first.summary.splitlines() if line.strip().startswith("http")]
    assert len(surge_links) == stories and first.link == surge_links[0]       # every story linked, the first too
    assert main(["--config", str(feeds_config), "feed", "--alerts"]) == 0
    assert feedparser.parse(capsys.readouterr().out.encode("utf-8")).entries[0].id == first.id

    # `feed` prints the same document; nothing new: every file left as it was
    assert main(["--config", str(feeds_config), "feed", "--topic", "kfor"]) == 0
    printed = feedparser.parse(capsys.readouterr().out.encode("utf-8"))
    assert [e.id for e in printed.entries] == [e.id for e in feedparser.parse(
        (folder / "topics" / "kfor.atom").read_bytes()).entries]
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.*")}
    again = asyncio.run(run_ingest(config, force=True))
    assert again.new_articles == 0 and again.feeds == "0 written, 7 unchanged", again.feeds
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.*")} == stamps

    # a topic taken out of the config: its feed goes, the others stay
    text = feeds_config.read_text(encoding="utf-8")
    feeds_config.write_text(text.replace('[[watchlists]]\nname = "eulex"\nany = ["EULEX"]\n', ""), encoding="utf-8")
    assert main(["--config", str(feeds_config), "feed", "--write"]) == 0
    assert "removed topics/eulex.atom" in capsys.readouterr().out
    assert not (folder / "topics" / "eulex.atom").exists() and (folder / "topics" / "kfor.atom").exists()
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_scraped_text_stays_text_in_a_feed() -> None:
    """A hostile page's title, text and link: a reader gets them as text, never as markup or a live link, and
    characters XML cannot carry do not break the document."""
    hostile = {"story_id": "s1", "title": "KFOR ]]></title><script>alert(1)</script>\x00\x01 & <b>co</b>",
               "url": "javascript:alert(1)", "first_seen_at": datetime(2026, 12, 7, 8, 1),
               "excerpt": "Text <img src=x onerror=alert(1)> \x0b" + " word" * 200, "sources": ["A"], "articles": 1,
               "publisher": "Pub\x07"}
    good = {**hostile, "story_id": "s2", "url": "https://example.org/a?b=1&c=2", "title": "Two"}
    data = render("urn:test", "t\x00", [entry(hostile, ["kfor"]), entry(good)])
    ET.fromstring(data)                                               # well-formed XML 1.0
    feed = feedparser.parse(data)
    assert not feed.bozo and len(feed.entries) == 2
    first = feed.entries[0]
    assert first.title == "KFOR ]]></title><script>alert(1)</script> & <b>co</b>"
    assert first.title_detail.type == "text/plain" and first.summary_detail.type == "text/plain"
    assert "<img src=x onerror=alert(1)>" in first.summary and first.summary.endswith("…\n\nFrom A.")
    assert b"javascript:" not in data and first.author == "Pub"          # no javascript: link at all
    assert feed.entries[1].link == "https://example.org/a?b=1&c=2"


def test_feed_command_errors_are_clear(feeds_config: Path, capsys) -> None:
    asyncio.run(run_ingest(load_config(feeds_config)))
    capsys.readouterr()
    assert main(["--config", str(feeds_config), "feed", "--topic", "nope"]) == 2
    assert "no watchlist named 'nope'" in capsys.readouterr().err
    text = feeds_config.read_text(encoding="utf-8")
    feeds_config.write_text(text.replace('dir = "feeds"\n', ""), encoding="utf-8")
    assert main(["--config", str(feeds_config), "feed", "--write"]) == 2
    assert "feeds.dir is not set" in capsys.readouterr().err


def test_a_feeds_folder_that_cannot_be_written_does_not_stop_the_run(feeds_config: Path) -> None:
    """feeds.dir naming a file: the run stores its articles and says why the feeds were not written."""
    (feeds_config.parent / "feeds").write_text("not a folder", encoding="utf-8")
    summary = asyncio.run(run_ingest(load_config(feeds_config)))
    assert summary.status == "completed" and summary.new_articles > 10
    assert summary.feeds.startswith("not written: "), summary.feeds


def test_a_surge_s_entry_is_text_and_links_only_its_stories() -> None:
    """The alerts feed's entry of a surge whose stories are hostile pages: their titles stay text, a
    javascript: link is never written, and the entry links its first story with an http(s) address."""
    from balkanwatch.atom import INCIDENT_STORIES, incident_entry

    when = datetime(2026, 12, 7, 12, 0)
    stories = [{"story_id": f"s{i}", "title": f"<script>alert({i})</script> Clash {i}",
                "url": "javascript:alert(1)" if i == 0 else f"https://example.org/{i}?a=1&b=2"} for i in range(12)]
    incident = {"incident_id": "inc-1", "topics": ["kfor", "north"], "created_at": when, "window_start": when,
                "window_end": when, "expected": 0.2, "about": "Ibar valley, sent; <b>gunmen</b>\x00",
                "story_ids": [s["story_id"] for s in stories], "stories": stories[:INCIDENT_STORIES]}
    data = render("urn:test", "surges", [incident_entry(incident)])
    ET.fromstring(data)
    feed = feedparser.parse(data)
    e = feed.entries[0]
    assert not feed.bozo and e.id == "urn:balkanwatch:incident:inc-1" and b"javascript:" not in data
    assert e.title == "kfor + north: 12 new stories about Ibar valley" and e.link == "https://example.org/1?a=1&b=2"
    assert "<script>alert(3)</script> Clash 3" in e.summary and "About: Ibar valley, sent; <b>gunmen</b>." in e.summary
    assert e.summary.rstrip().endswith("and 2 more (`balkanwatch story`, `balkanwatch alerts`)")
    assert e.summary_detail.type == "text/plain" and sorted(t.term for t in e.tags) == ["kfor", "north"]
