"""URL normalisation and ids: the same article reached by different URLs gets one id."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the content.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid", "ref", "ref_src",
    "cmpid", "ocid", "spm", "_ga", "__twitter_impression", "at_medium", "at_campaign", "rss", "feed",
    "amp", "outputtype",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "ga_")


def _keep_param(name: str) -> bool:
    low = name.lower()
    return low not in TRACKING_PARAMS and not low.startswith(TRACKING_PREFIXES)


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


def publisher_of(url: str | None) -> str | None:
    """Who published the page at this URL, as a host: lower case, no leading "www.", with its port only when
    it is not the scheme's default (the same rule backfills older articles in
    warehouse/migrations/009_source_metadata.sql)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    if host and port and port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host or None
