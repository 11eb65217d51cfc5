"""Aggregator links resolved to the publisher's article: pure functions, no I/O.

News aggregators are how analysts find coverage in outlets they do not list, but their feed items do not
link to the article:

- Google News RSS items link to `https://news.google.com/rss/articles/<id>`, a page that reaches the
  publisher only by JavaScript. The older ids (`CBMi…`) are base64url of a small protobuf that carries the
  publisher URL itself: field 4 (tag 0x22), length-prefixed, after the header 0x08 0x13. Newer ids
  (`AU_yqL…` inside the same envelope) carry no URL and need Google's own decoding exchange, which needs
  news.google.com: such items are recorded as item errors, never stored as articles.
- Bing News RSS items link to `bing.com/news/apiclick.aspx?…&url=<publisher URL>`.
- Any item may land on an interstitial that forwards by `<meta http-equiv="refresh">` (followed once by
  the poller) or by script alone (an item error: the interstitial is not an article).
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urljoin, urlsplit

from balkanwatch.errors import AggregatorLinkError

GOOGLE_NEWS_HOSTS = {"news.google.com"}
BING_HOSTS = {"bing.com", "www.bing.com"}
INTERSTITIAL_BYTES = 20_000   # a page this small that forwards by script or refresh is a redirect, not an article
_REFRESH = re.compile(rb"""<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.I)
_REFRESH_URL = re.compile(rb"""content\s*=\s*["']?\s*\d*\s*;?\s*url\s*=\s*['"]?([^"'>\s]+)""", re.I)
_SCRIPT_REDIRECT = re.compile(rb"""(window\.|document\.|top\.)?location(\.href)?\s*=|location\.(replace|assign)\s*\(""")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def google_news_url(article_id: str) -> str:
    """The publisher URL inside a Google News article id, or AggregatorLinkError."""
    try:
        data = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (ValueError, TypeError) as exc:
        raise AggregatorLinkError(f"Google News link with an undecodable id {article_id[:40]!r}") from exc
    if data.startswith(b"\x08\x13\x22"):
        try:
            length, pos = _varint(data, 3)
        except ValueError as exc:
            raise AggregatorLinkError("Google News link with a truncated id") from exc
        url = data[pos: pos + length].decode("utf-8", "replace")
        if url.startswith(("http://", "https://")):
            return url
        if url.startswith("AU_yqL"):
            raise AggregatorLinkError("Google News link in the newer form (AU_yqL…): it carries no publisher URL "
                                      "and needs Google's decoding exchange, which balkanwatch does not do")
    raise AggregatorLinkError(f"Google News link whose id holds no publisher URL ({article_id[:40]!r})")


def publisher_link(url: str) -> str:
    """The publisher's URL for an aggregator's item link; any other URL unchanged."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in GOOGLE_NEWS_HOSTS:
        segments = [s for s in parts.path.split("/") if s]
        if "articles" in segments[:-1]:
            return google_news_url(segments[segments.index("articles") + 1])
        raise AggregatorLinkError(f"Google News link that is not an article: {url[:120]}")
    if host in BING_HOSTS or host.endswith(".bing.com"):
        if parts.path.lower().startswith("/news/apiclick.aspx"):
            target = parse_qs(parts.query).get("url", [""])[0]
            if target.startswith(("http://", "https://")):
                return target
            raise AggregatorLinkError(f"Bing News link without a publisher URL: {url[:120]}")
    return url


def refresh_target(body: bytes, base: str) -> str | None:
    """Where a small page's `<meta http-equiv="refresh" content="0; url=…">` sends the reader, if anywhere else."""
    if len(body) > INTERSTITIAL_BYTES:
        return None
    tag = _REFRESH.search(body)
    found = _REFRESH_URL.search(tag.group(0)) if tag else None
    if not found:
        return None
    target = urljoin(base, found.group(1).decode("utf-8", "replace"))
    return target if target.startswith(("http://", "https://")) and target != base else None


def script_redirect(body: bytes) -> bool:
    """True for a small page that forwards by script (a JS interstitial, not an article)."""
    return len(body) <= INTERSTITIAL_BYTES and bool(_SCRIPT_REDIRECT.search(body))
