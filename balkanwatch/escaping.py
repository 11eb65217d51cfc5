"""Scraped text made inert for where it lands: Prefect UI table cells (rendered as HTML) and markdown.

Titles, URLs, error texts and excerpts come from pages we do not control. Prefect's v1 UI renders a
table artifact's cells as markdown with raw HTML (an `<img src=…>` is a tracking pixel, a `<style>`
restyles the page, `[x](javascript:…)` a live link), its v2 UI as plain text; both render a markdown
artifact's `[x](javascript:…)` as a live link. So every such
value passes through one of these pure functions on its way into an artifact:

    cell(text)      plain text for a table cell: one line, capped, no `<` or `>` (‹ ›), no `](` or `][`
    markdown(text)  plain text inside markdown: one line, capped, markdown punctuation backslash-escaped,
                    `<` and `&` as entities
    link(url)       a URL we would show as a link: http(s) only, escaped like a cell; anything else is
                    shown as text, never as a link
    markdown_link(text, url)  a link in a markdown artifact: its text with no escapes (`link_text`: ‹ › for
                    < >, ( ) for [ ]), an http(s) target with what could end it %-encoded; anything else is
                    the text alone
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

MAX_CHARS = 300          # a cell or a line of markdown: enough for any real title or error, not a page
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def one_line(text: object, limit: int = MAX_CHARS) -> str:
    """Control characters and every kind of line break folded to spaces, capped at `limit` characters."""
    flat = " ".join(_BREAKS.sub(" ", "" if text is None else str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


_ANGLES = str.maketrans({"<": "‹", ">": "›"})
ZERO_WIDTH_SPACE = "\u200b"


def cell(text: object, limit: int = MAX_CHARS) -> str:
    """Text for a table artifact's cell, read right by both of Prefect's UIs: the default (v2) shows a cell
    as plain text, so entities would show literally (`&lt;img …`); the other (v1, one click away) renders
    it as markdown with raw HTML. So no entities: `<` and `>` become ‹ and ›, which neither HTML nor
    markdown reads as a tag or an autolink, and a zero-width space after every `]` keeps markdown from
    making a link or an image of `[x](…)`, `![x](…)` or `[x][y]`, and one after every `@` keeps it from
    making a mailto: link of an address (checked in Chromium on both UIs: tests/test_ui_chromium.py)."""
    return (one_line(text, limit).translate(_ANGLES).replace("]", "]" + ZERO_WIDTH_SPACE)
            .replace("@", "@" + ZERO_WIDTH_SPACE))


def markdown(text: object, limit: int = MAX_CHARS) -> str:
    """Text inside a markdown artifact: one line; markdown punctuation escaped; `<`, `>` and `&` as entities."""
    return _MARKDOWN.sub(r"\\\1", html.escape(one_line(text, limit), quote=False))


def safe_url(url: object) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace or control characters."""
    text = "" if url is None else str(url)
    if _BREAKS.search(text) or " " in text:
        return False
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_LINK_SAFE = ":/?#@!$&'*+,;=%~"   # kept as they are in a markdown link's target; ( ) < > [ ] | \ ` and the rest are %-encoded


_LABEL = str.maketrans({"<": "‹", ">": "›", "[": "(", "]": ")", "\\": "⧵"})


def link_text(text: object, limit: int = MAX_CHARS) -> str:
    """Text for a markdown link's label, read the same in both Prefect UIs: the old one shows backslash
    escapes and entities inside a link's text as they are (`\\(`, `&lt;`), so nothing is escaped: `<` and
    `>` become ‹ and › (no tag), `[` and `]` become ( and ) (the label cannot end early, nor hold a link or
    an image), a backslash becomes ⧵ (it cannot escape what follows)."""
    return one_line(text, limit).translate(_LABEL)


def markdown_link(text: object, url: object, limit: int = MAX_CHARS) -> str:
    """A link inside a markdown artifact: `text` as `link_text` gives it, the target an http(s) URL with
    every character that could end it, or a table cell, %-encoded; a URL that is not http(s) gives the text
    alone (as `markdown` escapes it), never a link."""
    if not safe_url(url):
        return markdown(text, limit) or markdown(url, limit)
    from urllib.parse import quote

    label = link_text(text, limit) or link_text(url, limit)
    return f"[{label}]({quote(str(url), safe=_LINK_SAFE)})"


def link(url: object, limit: int = MAX_CHARS) -> str:
    """A URL for a table cell: made inert like any cell when it is http(s), else marked as not a link."""
    return cell(url, limit) if safe_url(url) else "(not an http link) " + cell(url, 80)
