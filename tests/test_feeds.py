"""Listings parse into FeedItems: golden files for RSS 0.91/2.0, Atom, RDF; malformed feeds; sitemaps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from balkanwatch.errors import ParseError
from connectors.feeds import parse_feed, parse_sitemap

FEEDS = Path(__file__).parent / "data" / "feeds"


def as_json(listing) -> dict:  # type: ignore[no-untyped-def]
    return {"title": listing.title, "items": [
        {"link": i.link, "guid": i.guid, "title": i.title,
         "published": i.published.isoformat() if i.published else None, "author": i.author} for i in listing.items]}


@pytest.mark.parametrize("name", sorted(p.stem for p in FEEDS.glob("*.xml")))
def test_golden_feeds(name: str) -> None:
    body = (FEEDS / f"{name}.xml").read_bytes()
    expected = json.loads((FEEDS / f"{name}.expected.json").read_text(encoding="utf-8"))
    base = expected["items"][0]["link"].rsplit("/", 1)[0] + "/"
    assert as_json(parse_feed(body, base)) == expected


def test_malformed_feed_parsed_as_far_as_possible() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken &nbsp; feed</title>
    <item><title>First</title><link>https://x.example/1</link></item>
    <item><title>Second \x01 with control char</title><link>https://x.example/2</link></item>
    <item><title>Unclosed<link>https://x.example/3</link></item>"""
    listing = parse_feed(body, "https://x.example/")
    assert listing.warning and "malformed" in listing.warning
    assert [i.link for i in listing.items][:2] == ["https://x.example/1", "https://x.example/2"]


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (b"", "", "not a feed: the server answered with nothing (0 bytes)"),
    (b"<html><body><h1>Not a feed</h1><p>hello</p></body></html>", "", "not a feed: an HTML page: a bot check"),
    (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>",
     "text/html", 'not a feed: an HTML page titled "Just a moment...": a bot check, a login or error page'),
    (b"<html><head><title>Daily</title><link rel='alternate' type='application/rss+xml' href='/rss.xml'></head>"
     b"<body></body></html>", "text/html; charset=utf-8",
     "not a feed: an HTML page titled \"Daily\", which announces the feed https://x.example/rss.xml: set that as"),
    (b'{"error": "rate limited"}', "application/json", "not a feed: JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png", "not a feed: neither RSS, Atom nor RDF"),
    (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>", "", "no usable items (rss20)"),
])
def test_not_a_feed_is_a_parse_error_that_says_what_came(body: bytes, content_type: str, said: str) -> None:
    """A source whose "feed" is something else says what came instead (found by a probe: every case read
    "no usable items (not a feed)"): a page's title shows a bot check or an error page, and a web page's
    announced feed is named, for the config."""
    with pytest.raises(ParseError) as caught:
        parse_feed(body, "https://x.example/news/", content_type)
    assert str(caught.value).startswith(said), str(caught.value)


def test_news_sitemap_and_index() -> None:
    news = b"""<?xml version="1.0" encoding="UTF-8"?>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
    <url><loc>https://s.example/old</loc><lastmod>2023-09-01</lastmod></url>
    <url><loc>https://s.example/new</loc><news:news><news:publication_date>2023-10-03T10:00:00+02:00</news:publication_date>
    <news:title>KFOR</news:title></news:news></url></urlset>"""
    listing, children = parse_sitemap(news, "https://s.example/")
    assert children == ()
    assert [(i.link, i.title, i.published.isoformat()) for i in listing.items] == [
        ("https://s.example/new", "KFOR", "2023-10-03T08:00:00+00:00"),
        ("https://s.example/old", None, "2023-09-01T00:00:00+00:00")]
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>https://s.example/a.xml</loc></sitemap><sitemap><loc>/b.xml.gz</loc></sitemap></sitemapindex>"""
    listing, children = parse_sitemap(gzip.compress(index), "https://s.example/")
    assert children == ("https://s.example/a.xml", "https://s.example/b.xml.gz") and listing.items == ()


def test_plain_text_url_list_and_garbage() -> None:
    listing, _ = parse_sitemap(b"https://s.example/1\nhttps://s.example/2\n", "https://s.example/")
    assert [i.link for i in listing.items] == ["https://s.example/1", "https://s.example/2"]
    with pytest.raises(ParseError):
        parse_sitemap(b"\x00\x01 junk", "https://s.example/")
