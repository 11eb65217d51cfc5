"""`balkanwatch sources add URL`: find a site's feed the way feed readers do, check it once.

    fetch URL | a feed itself? | announced and common feed URLs, each fetched and parsed | the one with
    the most items (ties: the first found) | else a sitemap from robots.txt | DiscoveredSource or an error
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from balkanwatch.config import FetchSettings
from balkanwatch.errors import BalkanwatchError, ParseError
from balkanwatch.models import ParsedListing
from connectors.discovery import COMMON_FEED_PATHS, feed_candidates, robots_sitemaps
from connectors.feeds import parse_feed, parse_sitemap
from connectors.http import Fetcher


class NoFeedFound(BalkanwatchError):
    """A page whose site offers no working feed or sitemap."""

    kind = "discovery"


@dataclass(frozen=True)
class DiscoveredSource:
    kind: str            # feed | sitemap
    url: str
    title: str | None
    items: int
    newest: str | None   # the newest item's date, as the feed gives it


async def _listing(fetcher: Fetcher, url: str, kind: str) -> ParsedListing | None:
    try:
        r = await fetcher.fetch(url)
        listing = parse_feed(r.body, r.final_url, r.content_type) if kind == "feed" \
            else parse_sitemap(r.body, r.final_url)[0]
    except BalkanwatchError:
        return None
    return listing if listing.items else None


def _found(kind: str, url: str, listing: ParsedListing) -> DiscoveredSource:
    dates = [i.published for i in listing.items if i.published]
    return DiscoveredSource(kind, url, listing.title, len(listing.items), max(dates).isoformat() if dates else None)


async def discover(url: str, settings: FetchSettings) -> DiscoveredSource:
    """The best feed (or, failing that, sitemap) of the site at `url`; NoFeedFound with the reason."""
    async with Fetcher(settings) as fetcher:
        try:
            page = await fetcher.fetch(url)
        except BalkanwatchError as exc:
            raise NoFeedFound(f"could not fetch {url}: {exc}") from exc
        try:
            itself = parse_feed(page.body, page.final_url, page.content_type)
            if itself.items:
                return _found("feed", page.final_url, itself)
        except ParseError:
            pass
        best: DiscoveredSource | None = None
        for candidate in feed_candidates(page.body, page.final_url):
            listing = await _listing(fetcher, candidate, "feed")
            if listing is not None and (best is None or len(listing.items) > best.items):
                best = _found("feed", candidate, listing)
        if best is not None:
            return best
        parts = urlsplit(page.final_url)
        try:
            robots = await fetcher.fetch(f"{parts.scheme}://{parts.netloc}/robots.txt")
            sitemaps = robots_sitemaps(robots.body.decode("utf-8", "replace"), page.final_url)
        except BalkanwatchError:
            sitemaps = []
        for sitemap in sitemaps:
            listing = await _listing(fetcher, sitemap, "sitemap")
            if listing is not None:
                return _found("sitemap", sitemap, listing)
    raise NoFeedFound(f"no feed found for {url}: no <link rel=\"alternate\"> feed, none at the common paths "
                      f"({', '.join(COMMON_FEED_PATHS)}), no sitemap in robots.txt")
