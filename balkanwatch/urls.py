"""URL normalisation and ids: the same article reached by different URLs gets one id."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the content. courlan (trafilatura's URL
# library) knows the common trackers (utm_*, fbclid, gclid, xtor, *_campaign, ref, source …); these are the
# ones it does not strip that news feeds add to their links, kept here.
TRACKING_PARAMS = frozenset({
    "mc_cid", "mc_eid", "__twitter_impression", "cmpid", "ocid", "spm", "rss", "feed", "amp", "outputtype",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "ga_")


@lru_cache(maxsize=4096)
def _keep_param(name: str) -> bool:
    """Whether a query parameter can identify content: not one of our trackers, and not one courlan drops
    (its `courlan.clean.clean_query` on the parameter alone answers that)."""
    from courlan.clean import clean_query

    low = name.lower()
    if low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES):
        return False
    return bool(clean_query(f"{name}=1"))


def _normalise_path(path: str) -> str:
    """Drop AMP suffixes and trailing slashes; keep case (paths are case-sensitive)."""
    for suffix in ("/amp/", "/amp", ".amp"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if path.startswith("/amp/"):
        path = path[4:]
    path = path.rstrip("/")
    return path or "/"


def normalise_url(url: str) -> str:
    """Canonical form used for ids: https, lower-case host without www./m./amp., no fragment, no tracking."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile.", "amp."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
    port = parts.port
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if _keep_param(k)))
    return urlunsplit(("https", host, _normalise_path(parts.path), query, ""))


def article_id(url: str) -> str:
    """Stable id of an article: a hash of its normalised URL (idempotent loads key on it)."""
    return hashlib.sha256(normalise_url(url).encode("utf-8")).hexdigest()[:32]


def host_of(url: str) -> str:
    """host[:port] as used for per-host politeness."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


MOBILE_HOST = re.compile(r"^(?:m|mobile|amp)\.(?=[^.]+\.)")   # m.b92.net, amp.example.co.uk: the outlet's own


def publisher_of(url: str | None) -> str | None:
    """Who published the page at this URL, as a host: lower case, no leading "www." nor mobile or AMP label
    ("m.", "mobile.", "amp." before a name with a dot: one outlet, not two), with its port only when it is not
    the scheme's default (the same rules backfill older articles in warehouse/migrations/009_source_metadata.sql
    and 014_mobile_publishers.sql)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    host = MOBILE_HOST.sub("", host)
    try:
        port = parts.port
    except ValueError:
        port = None
    if host and port and port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host or None
