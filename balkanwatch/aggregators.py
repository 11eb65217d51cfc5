"""Aggregator links resolved to the publisher's article: pure functions, no I/O.

News aggregators are how analysts find coverage in outlets they do not list, but their feed items do not
link to the article:

- Google News RSS items link to `https://news.google.com/rss/articles/<id>`, a page that reaches the
  publisher only by JavaScript. The older ids (`CBMi…`) are base64url of a small protobuf that carries the
  publisher URL itself: field 4 (tag 0x22), length-prefixed, after the header 0x08 0x13. Newer ids
  (`AU_yqL…` inside the same envelope) carry no URL; Google's own decoding exchange gives it, in two
  requests the poller makes (flows/poll.py) around the pure steps here:

      GET  {base}/rss/articles/<id>          → google_news_signature(page): the data-n-a-sg / data-n-a-ts
                                               attributes of its `c-wiz > div[jscontroller]` element
      POST {base}/_/DotsSplashUi/data/batchexecute, f.req = google_news_request(id, timestamp, signature)
                                             → google_news_response_url(answer): `)]}'`, a blank line,
                                               JSON whose Fbv4je row holds ["garturlres", <publisher URL>, …]

  Every step raises AggregatorLinkError on anything unexpected: the item is an item error, never an article.
- Bing News RSS items link to `bing.com/news/apiclick.aspx?…&url=<publisher URL>`.
- Any item may land on an interstitial that forwards by `<meta http-equiv="refresh">` (followed once by
  the poller) or by script alone (an item error: the interstitial is not an article).
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

from balkanwatch.errors import AggregatorLinkError

GOOGLE_NEWS_HOSTS = {"news.google.com"}
BING_HOSTS = {"bing.com", "www.bing.com"}
INTERSTITIAL_BYTES = 20_000   # a page this small that forwards by script or refresh is a redirect, not an article
_REFRESH = re.compile(rb"""<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.I)
_REFRESH_URL = re.compile(rb"""content\s*=\s*["']?\s*\d*\s*;?\s*url\s*=\s*['"]?([^"'>\s]+)""", re.I)
_SCRIPT_REDIRECT = re.compile(rb"""(window\.|document\.|top\.)?location(\.href)?\s*=|location\.(replace|assign)\s*\(""")
GOOGLE_NEWS_BATCH_PATH = "/_/DotsSplashUi/data/batchexecute"
# The client context Google News' own page sends with garturlreq (as public decoders replay it); the
# exchange answers with it unchanged since 2024. Only the id, timestamp and signature vary.
_GARTURLREQ_CONTEXT = [["X", "X", ["X", "X"], None, None, 1, 1, "US:en", None, 1, None, None, None, None, None, 0, 1],
                       "X", "X", 1, [1, 1, 1], 1, 1, None, 0, 0, None, 0]
_SIGNATURE = re.compile(r"[\x21-\x7e]{1,2000}")   # printable ASCII, no spaces: what goes back into the request
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


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


def _google_news_field(article_id: str) -> str | None:
    """Field 4 of a Google News article id's protobuf (a URL or an AU_yqL… token); None without that envelope."""
    try:
        data = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (ValueError, TypeError) as exc:
        raise AggregatorLinkError(f"Google News link with an undecodable id {article_id[:40]!r}") from exc
    if not data.startswith(b"\x08\x13\x22"):
        return None
    try:
        length, pos = _varint(data, 3)
    except ValueError as exc:
        raise AggregatorLinkError("Google News link with a truncated id") from exc
    return data[pos: pos + length].decode("utf-8", "replace")


def google_news_url(article_id: str) -> str:
    """The publisher URL inside a Google News article id, or AggregatorLinkError."""
    url = _google_news_field(article_id)
    if url is not None:
        if url.startswith(("http://", "https://")):
            return url
        if url.startswith("AU_yqL"):
            raise AggregatorLinkError("Google News link in the newer form (AU_yqL…): it carries no publisher URL "
                                      "and needs Google's decoding exchange with news.google.com")
    raise AggregatorLinkError(f"Google News link whose id holds no publisher URL ({article_id[:40]!r})")


def google_news_exchange_id(url: str) -> str | None:
    """The article id of a Google News link in the newer form (only Google's exchange decodes it), else None."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if (parts.hostname or "").lower() not in GOOGLE_NEWS_HOSTS or "articles" not in segments[:-1]:
        return None
    gn_id = segments[segments.index("articles") + 1]
    try:
        token = _google_news_field(gn_id)
    except AggregatorLinkError:   # undecodable: not the newer form; publisher_link says what is wrong with it
        return None
    return gn_id if token is not None and token.startswith("AU_yqL") else None


def google_news_article_page(base: str, gn_id: str) -> str:
    """The article page whose attributes sign the exchange (the /rss/ form answers non-browser clients)."""
    return f"{base.rstrip('/')}/rss/articles/{gn_id}"


def google_news_batch_url(base: str) -> str:
    """Google News' batchexecute endpoint, which answers the garturlreq call."""
    return base.rstrip("/") + GOOGLE_NEWS_BATCH_PATH


class _SignedElement(HTMLParser):
    """Finds the attributes of the first `c-wiz > div[jscontroller]` element that carries data-n-a-sg."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.candidates = 0
        self.found: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "div" and self.open[-1:] == ["c-wiz"] and "jscontroller" in names:
            self.candidates += 1
            if self.found is None and "data-n-a-sg" in names:
                self.found = names
        if tag not in _VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:   # close it and anything left open inside it
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]


def google_news_signature(page: bytes) -> tuple[str, str]:
    """(signature, timestamp): data-n-a-sg and data-n-a-ts of a Google News article page's signed element."""
    finder = _SignedElement()
    finder.feed(page.decode("utf-8", "replace"))
    finder.close()
    if finder.found is None:
        where = (f"{finder.candidates} c-wiz > div[jscontroller] element(s), none with data-n-a-sg"
                 if finder.candidates else "no c-wiz > div[jscontroller] element")
        raise AggregatorLinkError(f"Google News article page without the exchange's signature ({where})")
    signature, timestamp = finder.found.get("data-n-a-sg") or "", finder.found.get("data-n-a-ts") or ""
    if not _SIGNATURE.fullmatch(signature):
        raise AggregatorLinkError(f"Google News article page with an unusable signature data-n-a-sg={signature[:40]!r}")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise AggregatorLinkError(f"Google News article page with a non-numeric timestamp data-n-a-ts={timestamp[:40]!r}")
    return signature, timestamp


def google_news_request(gn_id: str, timestamp: str, signature: str) -> str:
    """The batchexecute `f.req` form value asking for the publisher URL of one article (Fbv4je / garturlreq)."""
    if not timestamp.isascii() or not timestamp.isdigit():
        raise AggregatorLinkError(f"Google News exchange needs a numeric timestamp, got {timestamp[:40]!r}")
    call = json.dumps(["garturlreq", _GARTURLREQ_CONTEXT, gn_id, int(timestamp), signature], separators=(",", ":"))
    return json.dumps([[["Fbv4je", call, None, "generic"]]], separators=(",", ":"))


def _batch_rows(text: str) -> list[object]:
    """The JSON rows after the `)]}'` line and the blank line of a batchexecute answer (a chunk length skipped)."""
    prefix, blank, rest = text.lstrip().partition("\n\n")
    if prefix.strip() != ")]}'" or not blank:
        raise AggregatorLinkError("Google News exchange answered something else than a batchexecute response "
                                  f"(no )]}}' line and blank line): {text[:60]!r}")
    decoder, pos = json.JSONDecoder(), len(rest) - len(rest.lstrip())
    try:
        while True:
            rows, end = decoder.raw_decode(rest, pos)
            if not isinstance(rows, int):   # rt=c answers put each chunk's length on a line before it
                break
            pos = len(rest) - len(rest[end:].lstrip())
    except json.JSONDecodeError as exc:
        raise AggregatorLinkError(f"Google News exchange answered unparseable JSON: {exc}") from exc
    if not isinstance(rows, list):
        raise AggregatorLinkError(f"Google News exchange answered JSON that is not a list of rows: {rest[:60]!r}")
    return rows


def google_news_response_url(answer: bytes) -> str:
    """The publisher URL in a batchexecute answer: the Fbv4je row's inner JSON ["garturlres", URL, …]."""
    rows = _batch_rows(answer.decode("utf-8", "replace"))
    row = next((r for r in rows if isinstance(r, list) and r[:2] == ["wrb.fr", "Fbv4je"]), None)
    if row is None:
        raise AggregatorLinkError("Google News exchange answered no Fbv4je row")
    if len(row) < 3 or not isinstance(row[2], str):
        raise AggregatorLinkError(f"Google News exchange refused the request (Fbv4je row without a result: "
                                  f"{json.dumps(row)[:120]})")
    try:
        result = json.loads(row[2])
    except json.JSONDecodeError as exc:
        raise AggregatorLinkError(f"Google News exchange answered an unparseable Fbv4je result: {exc}") from exc
    url = result[1] if isinstance(result, list) and len(result) > 1 and result[0] == "garturlres" else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise AggregatorLinkError(f"Google News exchange answered no publisher URL: {row[2][:120]!r}")
    if (urlsplit(url).hostname or "").lower() in GOOGLE_NEWS_HOSTS:
        raise AggregatorLinkError(f"Google News exchange answered another Google News link: {url[:120]}")
    return url


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


def _named_target(body: bytes, base: str, tag: re.Pattern[bytes], value: re.Pattern[bytes]) -> str | None:
    """The http(s) URL, other than `base`, that the first `tag` of a small page names in its `value`
    attribute (the first of the value pattern's groups that matched), or None."""
    if len(body) > INTERSTITIAL_BYTES:
        return None
    found_tag = tag.search(body)
    found = value.search(found_tag.group(0)) if found_tag else None
    if not found:
        return None
    href = next(g for g in found.groups() if g is not None).decode("utf-8", "replace").strip()
    target = urljoin(base, href)
    return target if target.startswith(("http://", "https://")) and target != base else None


def refresh_target(body: bytes, base: str) -> str | None:
    """Where a small page's `<meta http-equiv="refresh" content="0; url=…">` sends the reader, if anywhere else."""
    return _named_target(body, base, _REFRESH, _REFRESH_URL)


def script_redirect(body: bytes) -> bool:
    """True for a small page that forwards by script (a JS interstitial, not an article)."""
    return len(body) <= INTERSTITIAL_BYTES and bool(_SCRIPT_REDIRECT.search(body))


_CANONICAL = re.compile(rb"""<link\b[^>]*\brel\s*=\s*["']?canonical["']?[^>]*>""", re.I)
_HREF = re.compile(rb"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
# Hosts that answer a publisher's link with a cookie or privacy consent wall instead of the article
# (Google's, Yahoo's and AOL's "before you continue"; most CMPs use a consent.* host of their own).
CONSENT_HOSTS = frozenset({"guce.yahoo.com", "guce.aol.com", "consent.yahoo.com", "consent.google.com",
                           "consent.youtube.com"})


def canonical_target(body: bytes, base: str) -> str | None:
    """Where a small page's `<link rel="canonical">` points, when that is another http(s) page: an
    interstitial (a script redirect, a consent wall) often names the real article this way."""
    return _named_target(body, base, _CANONICAL, _HREF)


def consent_wall(url: str) -> bool:
    """True when a page was answered from a consent host (CONSENT_HOSTS, or any `consent.` host): what it
    shows is a cookie or privacy wall, never the article."""
    host = (urlsplit(url).hostname or "").lower()
    return host in CONSENT_HOSTS or host.startswith("consent.")
