"""Listings: RSS 0.9x/1.0/2.0, Atom and RDF feeds (feedparser), sitemaps and news sitemaps (lxml).

Pure functions over bytes: no I/O here. A malformed feed is parsed as far as possible; the parser's
complaint is returned as a warning, and only a listing with no usable item at all is a ParseError.
"""

from __future__ import annotations

import calendar
import gzip
import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

from balkanwatch.errors import ParseError
from balkanwatch.models import FeedItem, ParsedListing

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS_NS = "{http://www.google.com/schemas/sitemap-news/0.9}"
MAX_SITEMAP_BYTES = 50_000_000   # the sitemaps.org limit for one (uncompressed) file
EPOCH_FLOOR = datetime(1995, 1, 1, tzinfo=UTC)   # dates before the web had news feeds are junk (e.g. 1970)


def _when(struct: object) -> datetime | None:
    """feedparser's UTC struct_time to an aware datetime; implausible dates become None."""
    if not struct:
        return None
    try:
        # feedparser's value, of any type: junk raises the TypeError caught below
        when = datetime.fromtimestamp(calendar.timegm(struct), tz=UTC)  # type: ignore[arg-type]
    except (OverflowError, ValueError, TypeError):
        return None
    return when if when >= EPOCH_FLOOR else None


def _http_link(link: str | None, base: str) -> str | None:
    if not link:
        return None
    absolute = urljoin(base, link.strip())
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _entry_link(entry: feedparser.FeedParserDict, base: str) -> str | None:
    candidates = [entry.get("link")]
    candidates += [alt.get("href") for alt in entry.get("links", []) if alt.get("rel", "alternate") == "alternate"]
    guid = entry.get("id")
    if guid and entry.get("guidislink", False):
        candidates.append(guid)
    elif guid and str(guid).startswith(("http://", "https://")):
        candidates.append(guid)
    for cand in candidates:
        if link := _http_link(cand, base):
            return link
    return None


TITLE_SHOWN = 80   # characters of an HTML page's <title> quoted in the error (it comes from the site)


def not_a_feed(body: bytes, base_url: str, content_type: str = "") -> str:
    """What the analyst is told a source's answer is, when it is not a feed: an empty answer; a web page (its
    title, and the feeds it announces, to put in the config); JSON; or bytes of some other kind."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if not head:
        return "the server answered with nothing (0 bytes)"
    if "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")) or b"<head" in head:
        from lxml import html as lxml_html

        try:
            page = lxml_html.fromstring(body)
        except (etree.ParserError, ValueError):
            return "an HTML page"
        title = " ".join(" ".join(page.xpath("//title//text()")).split())
        shown = f" titled \"{title[:TITLE_SHOWN]}{'…' if len(title) > TITLE_SHOWN else ''}\"" if title else ""
        feeds = [urljoin(base_url, h.strip()) for h in page.xpath(
            "//link[contains(concat(' ', normalize-space(@rel), ' '), ' alternate ')]"
            "[contains(@type, 'rss') or contains(@type, 'atom')]/@href")]
        feeds = [f for f in dict.fromkeys(feeds) if urlsplit(f).scheme in ("http", "https")]
        if feeds:
            return f"an HTML page{shown}, which announces the feed {feeds[0]}: set that as the source's `feed`"
        return (f"an HTML page{shown}: a bot check, a login or error page, or a web page's address "
                "(`balkanwatch sources add URL` finds a site's feed)")
    if head.startswith((b"{", b"[")):
        return "JSON"
    return "neither RSS, Atom nor RDF"


def _content(entry: Any) -> str | None:
    """The entry's full content (RSS `content:encoded`, Atom `<content>`), the longest one when there are
    several; None when it has none or only repeats the summary."""
    values = [str(c.get("value") or "") for c in entry.get("content") or ()]
    best = max(values, key=len, default="")
    return best if best.strip() and best != entry.get("summary") else None


def parse_feed(body: bytes, base_url: str, content_type: str = "") -> ParsedListing:
    """Items of an RSS/Atom/RDF feed, newest first; duplicate links and items without a link dropped."""
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    warning = None
    if parsed.get("bozo"):
        warning = f"malformed feed: {type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
    items: dict[str, FeedItem] = {}
    for entry in parsed.entries:
        link = _entry_link(entry, base_url)
        if not link or link in items:
            continue
        items[link] = FeedItem(
            link=link, guid=entry.get("id") or None, title=(entry.get("title") or "").strip() or None,
            published=_when(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
            author=entry.get("author") or None, summary=entry.get("summary") or None,
            content=_content(entry),
            updated=_when(dict.get(entry, "updated_parsed")))   # not entry.get: it falls back to published
    if not items:
        version = parsed.get("version")
        if version:
            raise ParseError(f"no usable items ({version}){'; ' + warning if warning else ''}")
        raise ParseError(f"not a feed: {not_a_feed(body, base_url, content_type)}")
    ordered = sorted(items.values(), key=lambda i: i.published or EPOCH_FLOOR, reverse=True)
    return ParsedListing(items=tuple(ordered), title=parsed.feed.get("title"), warning=warning,
                         ttl_minutes=_ttl(parsed.feed.get("ttl")))


def _ttl(value: object) -> float | None:
    """RSS <ttl> in minutes (None when absent, not a number or not positive)."""
    try:
        minutes = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if minutes > 0 else None


def _maybe_gunzip(body: bytes) -> bytes:
    if body[:2] != b"\x1f\x8b":
        return body
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as fh:
        data = fh.read(MAX_SITEMAP_BYTES + 1)
    if len(data) > MAX_SITEMAP_BYTES:
        raise ParseError(f"gzipped sitemap inflates beyond {MAX_SITEMAP_BYTES} bytes")
    return data


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC) if when >= EPOCH_FLOOR else None


def parse_sitemap(body: bytes, base_url: str) -> tuple[ParsedListing, tuple[str, ...]]:
    """(page items, child sitemaps) of a urlset, news sitemap or sitemap index; plain-text lists too."""
    data = _maybe_gunzip(body)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines()]
        links = [ln for ln in lines if ln.startswith(("http://", "https://")) and " " not in ln]
        if not links:
            raise ParseError("sitemap is neither XML nor a plain list of URLs")
        return ParsedListing(items=tuple(FeedItem(link=u) for u in dict.fromkeys(links))), ()
    children = tuple(u for u in (_http_link(sm.findtext(f"{SITEMAP_NS}loc"), base_url)
                                 for sm in root.iter(f"{SITEMAP_NS}sitemap")) if u)
    items: dict[str, FeedItem] = {}
    for url_el in root.iter(f"{SITEMAP_NS}url"):
        link = _http_link(url_el.findtext(f"{SITEMAP_NS}loc"), base_url)
        if not link or link in items:
            continue
        news = url_el.find(f"{NEWS_NS}news")
        published = _iso(news.findtext(f"{NEWS_NS}publication_date")) if news is not None else None
        title = news.findtext(f"{NEWS_NS}title") if news is not None else None
        lastmod = _iso(url_el.findtext(f"{SITEMAP_NS}lastmod"))
        items[link] = FeedItem(link=link, title=title, published=published or lastmod, updated=lastmod)
    if not items and not children:
        raise ParseError("sitemap lists no URLs")
    ordered = sorted(items.values(), key=lambda i: i.published or EPOCH_FLOOR, reverse=True)
    return ParsedListing(items=tuple(ordered)), children
