"""Listing pages as sources: an official news page without a feed, read for its links to articles.

    page | drop chrome (nav, header, footer, aside, forms, menus, breadcrumbs, pagination, tags, sharing)
         | links of the same site | not navigation (courlan: /tag/, /category/, /page/2) nor uncrawlable
           (courlan: login, cart, feeds) | deeper than the site's root, not the listing itself | in page order

A listing that yields no article link is a source error (ParseError), like a feed with no items: a
redesign that moved the links is what an analyst must hear about.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

from balkanwatch.errors import ParseError
from balkanwatch.models import FeedItem, ParsedListing

if TYPE_CHECKING:
    from lxml.html import HtmlElement

CHROME_TAGS = ("nav", "header", "footer", "aside", "form", "script", "style", "noscript", "template")
# class or id words of page chrome (matched as whole words in the attribute)
CHROME_WORDS = re.compile(r"(?:^|[\s_-])(nav|navbar|menu|footer|header|breadcrumbs?|pagination|pager|tags?|"
                          r"share|social|sidebar|related|cookie|skip)(?:$|[\s_-])", re.I)
QUERY_PAGING = re.compile(r"(?:^|&)(page|p|start|offset)=", re.I)


def _is_chrome(element: HtmlElement) -> bool:
    """Page chrome; a header or footer inside an article card (its headline, its date) is not."""
    if element.tag in ("header", "footer") and any(p.tag == "article" for p in element.iterancestors()):
        return False
    attrs = f"{element.get('class') or ''} {element.get('id') or ''} {element.get('role') or ''}"
    return element.tag in CHROME_TAGS or bool(CHROME_WORDS.search(attrs)) or element.get("role") == "navigation"


def looks_like_article(url: str, listing_url: str) -> bool:
    """A link worth fetching as an article: same host as the listing, http(s), a path below the root that
    is neither the listing itself nor a navigation or uncrawlable page, no paging query."""
    from courlan import is_navigation_page, is_not_crawlable

    parts, base = urlsplit(url), urlsplit(listing_url)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != base.netloc.lower():
        return False
    path = parts.path.rstrip("/")
    if not path or path == base.path.rstrip("/") or QUERY_PAGING.search(parts.query):
        return False
    return not is_navigation_page(url) and not is_not_crawlable(url)


def parse_listing(body: bytes, url: str) -> ParsedListing:
    """The article links of a listing page, in page order, each with its anchor text as title."""
    import lxml.html

    try:
        tree = lxml.html.document_fromstring(body)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ParseError(f"listing page {url} is not HTML: {exc}") from exc
    for element in list(tree.iter()):
        if isinstance(element.tag, str) and element.getparent() is not None and _is_chrome(element):
            element.drop_tree()
    main = next(iter(tree.xpath("//main | //*[@role='main']")), tree)
    items: dict[str, FeedItem] = {}
    for a in main.iter("a"):
        href = (a.get("href") or "").strip()
        if not href:
            continue
        link = urldefrag(urljoin(url, href))[0]
        if link not in items and looks_like_article(link, url):
            items[link] = FeedItem(link=link, title=" ".join(a.text_content().split()) or None)
    if not items:
        raise ParseError(f"no article links found on the listing page {url}")
    return ParsedListing(items=tuple(items.values()))
