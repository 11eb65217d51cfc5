"""Typed, frozen objects that cross the boundaries between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchResult:
    """One HTTP exchange that produced a usable answer (200, or 304 not-modified)."""

    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str
    encoding: str
    etag: str | None
    last_modified: str | None
    body_hash: str
    elapsed_ms: float
    fetched_at: datetime
    not_modified: bool = False
    redirects: tuple[str, ...] = ()
    max_age: float | None = None     # Cache-Control max-age, seconds: the server asks not to come back sooner
    moved_permanently: bool = False  # every redirect on the way was a 301 or 308: the URL has a new home

    def text(self) -> str:
        return self.body.decode(self.encoding, errors="replace")


@dataclass(frozen=True)
class FetchLog:
    """A row of the `fetches` table: every attempt, good or bad."""

    source: str
    url: str
    final_url: str | None
    status: int | None
    started_at: datetime
    elapsed_ms: float
    bytes: int
    not_modified: bool
    error: str | None
    error_kind: str | None


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, URL list or sitemap: where the article is and what the listing says of it."""

    link: str
    guid: str | None = None
    title: str | None = None
    published: datetime | None = None
    author: str | None = None
    summary: str | None = None
    content: str | None = None        # the feed's full content of the item (content:encoded, Atom <content>)
    updated: datetime | None = None   # when the listing says the item last changed (Atom updated, lastmod)


@dataclass(frozen=True)
class ParsedListing:
    """What a feed or sitemap parsed into, with the parser's complaint if it was malformed."""

    items: tuple[FeedItem, ...]
    title: str | None = None
    warning: str | None = None
    ttl_minutes: float | None = None   # RSS <ttl>: minutes the feed may be cached


# `text_from` of a teaser: a listed item whose page gave no article text (a paywall's notice, a page drawn by
# script, a 401/402/403/451 answer, a robots.txt disallow) is kept with the listing's summary as its text,
# or the page's own description when the listing has none (connectors/extract.py, `teaser_text`).
# A feed that carries the item's full content (RSS content:encoded, Atom <content>) gives the article
# itself: `feed-content`, not a teaser, but not the page's text either.
FEED_SUMMARY = "feed-summary"
PAGE_DESCRIPTION = "page-description"
FEED_CONTENT = "feed-content"
PDF_TEXT = "pdf"   # a listed PDF's text (connectors/pdf.py)
TEASERS = frozenset({FEED_SUMMARY, PAGE_DESCRIPTION})
FROM_LISTING = TEASERS | {FEED_CONTENT}   # texts that are not the page's: nothing to learn a site's pages from


def sql_values(values: frozenset[str]) -> str:
    """A set of these literals for SQL's `IN`: "('a', 'b')" (they have no quotes)."""
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


TEASERS_SQL = sql_values(TEASERS)
FROM_LISTING_SQL = sql_values(FROM_LISTING)
# Texts that are not an HTML page's extraction (the listing's; a PDF's), which templates and boilerplate must
# not learn a site's pages from.
NOT_FROM_HTML_SQL = sql_values(FROM_LISTING | {PDF_TEXT})


@dataclass(frozen=True)
class ExtractedArticle:
    """A page turned into clean text with metadata, ready for the warehouse."""

    article_id: str
    url: str
    canonical_url: str | None
    source: str
    title: str | None
    author: str | None
    published_at: datetime | None
    published_from: str          # page | feed | htmldate | none
    fetched_at: datetime
    language: str | None
    site_name: str | None
    text: str
    content_hash: str
    extractor_version: str
    feed_guid: str | None = None
    repeated_paragraphs: int = 0     # exact repeats of a paragraph dropped from the text (kept in raw_html)
    final_url: str | None = None
    encoding: str | None = None
    raw_html: bytes = field(default=b"", repr=False)   # zlib-compressed original body
    raw_bytes: int = 0                                  # size of the original body
    sketch: tuple[int, ...] = ()                        # dedupe sketch (sampled shingle hashes), made in the worker
    listed_updated_at: datetime | None = None           # the listing's "last changed" time when it was fetched
    signatures: tuple[tuple[str, str, str], ...] = ()   # (key, kind, example) of short paragraphs, for boilerplate
    text_from: str = "trafilatura"   # the extractor whose text was kept (balkanwatch/chooser.py), or TEASERS


@dataclass(frozen=True)
class SourceOutcome:
    """How one source's poll went; the warehouse turns it into health columns."""

    source: str
    ok: bool
    not_modified: bool = False
    items_listed: int = 0
    articles: tuple[ExtractedArticle, ...] = ()
    revisions: tuple[ExtractedArticle, ...] = ()   # known articles fetched again because the listing says they changed
    fetches: tuple[FetchLog, ...] = ()
    error: str | None = None
    error_kind: str | None = None
    item_errors: int = 0
    retry_after: float | None = None
    gone: bool = False
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    warning: str | None = None
    max_age: float | None = None       # the listing's Cache-Control max-age, seconds
    ttl_minutes: float | None = None   # the feed's RSS <ttl>, when it was parsed
    backlog: int = 0                   # listed items left for the next run (a busy host, max_items_per_source)


# What the outbox's `kind` says an e-mail is: a surge alert, a topic's new stories (watchlists[].every_story),
# the daily digest, a source gone silent, ingest stalled, the warehouse unreachable, and back again.
EMAIL_KINDS = ("spike", "story", "digest", "silent", "stalled", "unreachable", "back")
