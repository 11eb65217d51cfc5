"""Listing pages as sources (connectors/listing.py): the article links among a page's chrome, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.cli import main
from balkanwatch.config import load_config
from balkanwatch.errors import ParseError
from connectors.listing import parse_listing
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from warehouse import Warehouse

STORIES = ["kfor-patrols-north-after-clash", "kfor-commander-meets-mayors", "border-crossing-reopens-jarinje",
           "eulex-and-kfor-joint-exercise", "kfor-statement-on-banjska", "kfor-hands-over-medical-aid"]


def listing_page(stories: list[str]) -> str:
    cards = "".join(f'<article class="card"><header><h2><a href="/kfor/news/2026/{s}">{s.replace("-", " ")}</a>'
                    f'</h2></header><p>Summary.</p><a href="/kfor/tag/kfor">#kfor</a>'
                    f'<footer><a href="/kfor/news/2026/{s}#comments">comments</a></footer></article>'
                    for s in stories)
    return f"""<html><body>
      <header><a href="/kfor/">Home</a><a href="/kfor/about-kfor">About</a></header>
      <nav class="main-menu"><a href="/kfor/media-center">Media</a><a href="/kfor/news/2026/menu-story-in-nav">x</a></nav>
      <div class="breadcrumbs"><a href="/kfor/media-center/news">News</a></div>
      <main>{cards}
        <div class="pagination"><a href="/kfor/media-center/news?page=2">2</a><a href="/kfor/news/page/3">3</a></div>
        <a href="https://twitter.com/NATO_KFOR/status/1">tweet</a><a href="mailto:press@kfor.example">mail</a>
        <a href="/kfor/media-center/news">this page</a><a href="/kfor/category/press-releases">Press</a>
      </main>
      <aside><a href="/kfor/news/2026/most-read-elsewhere">most read</a></aside>
      <footer><a href="/kfor/privacy-policy">Privacy</a><a href="/kfor/login">Log in</a></footer>
    </body></html>"""


def test_a_listing_yields_its_article_links_in_page_order():
    url = "https://jfcnaples.example/kfor/media-center/news"
    listing = parse_listing(listing_page(STORIES[:5]).encode(), url)
    assert [i.link for i in listing.items] == [f"https://jfcnaples.example/kfor/news/2026/{s}" for s in STORIES[:5]]
    assert listing.items[0].title == "kfor patrols north after clash"


def test_a_listing_without_article_links_is_a_source_error():
    with pytest.raises(ParseError, match="no article links"):
        parse_listing(b"<html><body><nav><a href='/news/2026/x-story'>x</a></nav><p>Moved.</p></body></html>",
                      "https://a.example/news")


def test_a_listing_source_lands_its_articles_and_later_only_the_new_ones(server, write_config, tmp_path: Path):
    site = tmp_path / "site"
    body = "".join(f"<p>KFOR said on Monday that patrols continued in the northern municipalities, paragraph {i}, "
                   "as talks between Belgrade and Pristina resumed in Brussels.</p>" for i in range(8))
    (site / "kfor" / "news" / "2026").mkdir(parents=True)
    for s in STORIES:
        (site / "kfor" / "news" / "2026" / s).write_text(f"<html><head><title>{s}</title></head><body><article>"
                                                       f"<h1>{s.replace('-', ' ')}</h1>{body}</article></body></html>")
    (site / "kfor" / "media-center").mkdir(parents=True)
    (site / "kfor" / "media-center" / "news").write_text(listing_page(STORIES[:5]))
    cfg = write_config(toml_sources([{"name": "KFOR news", "listing": server.url("kfor/media-center/news")}]))
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        first = sorted(r["url"] for r in wh.rows("SELECT url FROM articles"))
        health = {h["name"]: h for h in wh.source_health()}
    assert first == sorted(server.url(f"kfor/news/2026/{s}") for s in STORIES[:5])
    assert health["KFOR news"]["health"] == "healthy"
    (site / "kfor" / "media-center" / "news").write_text(listing_page([STORIES[5], *STORIES[:5]]))
    summary = asyncio.run(run_ingest(load_config(cfg), force=True))
    assert summary.new_articles == 1
    (site / "kfor" / "media-center" / "news").write_text("<html><body><p>We moved.</p></body></html>")
    asyncio.run(run_ingest(load_config(cfg), force=True))
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        health = {h["name"]: h for h in wh.source_health()}
    assert health["KFOR news"]["health"] == "failing" and "no article links" in health["KFOR news"]["last_error"]


def test_the_demos_official_site_lands_its_releases_as_separate_stories(write_config, tmp_path: Path):
    """`make demo`'s listing source (app/corpus.write_official_site): every release, none of the chrome, and
    five stories — releases of one office share a template but are not copies of each other."""
    from app.corpus import write_official_site
    from app.devserver import LoopbackServer

    root = tmp_path / "official"
    root.mkdir()
    with LoopbackServer(root) as srv:
        source, releases = write_official_site(root, srv.base)
        assert source["listing"] == srv.url("media-center/news.html") and source["kind"] == "official"
        cfg = write_config(toml_sources([source]))
        assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = wh.rows("SELECT title, story_id FROM articles")
        [src] = wh.rows("SELECT country, source_type FROM sources")
    assert sorted(r["title"] for r in stored) == sorted(a.title for a in releases)
    assert len({r["story_id"] for r in stored}) == len(releases) == 5
    assert src == {"country": "XK", "source_type": "official"}
