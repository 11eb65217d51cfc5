"""Where a site keeps its feed: candidates from a page and its robots.txt, pure functions (no I/O).

    homepage | <link rel="alternate"> feeds and feed-looking links (trafilatura's feed helpers), same site
             first | common paths (/feed/, /rss, /rss.xml, ...) | Sitemap: lines of robots.txt
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

COMMON_FEED_PATHS = ("/feed/", "/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/rss/")
MAX_CANDIDATES = 12      # feeds fetched to check, at most, per `sources add`


def feed_candidates(html: bytes, page_url: str) -> list[str]:
    """Feed URLs a page announces or links to (same site first), then the common paths of its site."""
    from trafilatura.feeds import FeedParameters, determine_feed

    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    announced = determine_feed(html.decode("utf-8", "replace"), FeedParameters(root, parts.netloc, page_url))
    same_site = [u for u in announced if urlsplit(u).netloc == parts.netloc]
    ordered = same_site + [u for u in announced if u not in same_site] + [urljoin(root, p) for p in COMMON_FEED_PATHS]
    return list(dict.fromkeys(u for u in ordered if u != page_url))[:MAX_CANDIDATES]


def robots_sitemaps(robots_txt: str, site_url: str) -> list[str]:
    """The `Sitemap:` URLs of a robots.txt (absolute, http(s) only)."""
    out = []
    for line in robots_txt.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            url = urljoin(site_url, value.strip())
            if urlsplit(url).scheme in ("http", "https"):
                out.append(url)
    return list(dict.fromkeys(out))
