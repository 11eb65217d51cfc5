"""Entries appended to the config file: OPML (the feed readers' export format) as [[sources]], and a topic
tried with `topics try` as [[watchlists]] (`topics add`)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from lxml import etree

from balkanwatch.config import WatchlistSettings, check_url
from balkanwatch.errors import ConfigError
from balkanwatch.urls import normalise_url


def read_opml(data: bytes) -> list[tuple[str, str]]:
    """(title, xmlUrl) of every feed outline, nested folders included, in document order."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"not an OPML file: {exc}") from exc
    feeds = []
    for node in root.iter("outline"):
        url = (node.get("xmlUrl") or node.get("xmlurl") or "").strip()
        if url:
            check_url("opml outline", url)
            title = " ".join((node.get("title") or node.get("text") or "").split())   # one line: a source's name
            feeds.append((title or url, url))
    return feeds


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)   # a JSON string is a valid TOML basic string


ADDRESS_KEYS = ("feed", "sitemap", "listing")   # a source's one address (`urls` sources list pages)


def append_sources(config_path: Path, feeds: list[tuple[str, str]], *, language: str = "",
                   key: str = "feed") -> list[str]:
    """Append sources not yet configured (by URL), each as `key = URL` (feed, or sitemap); names made
    unique. Returns the names added."""
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    existing = tomllib.loads(text).get("sources", []) if text else []
    names = {s.get("name") for s in existing}
    urls = {normalise_url(s[k]) for s in existing for k in ADDRESS_KEYS if isinstance(s.get(k), str)}
    blocks, added = [], []
    for title, url in feeds:
        if normalise_url(url) in urls:   # http/https, www., tracking parameters: one address (config's check)
            continue
        name, n = title, 2
        while name in names:
            name, n = f"{title} ({n})", n + 1
        names.add(name)
        urls.add(normalise_url(url))
        lines = ["", "[[sources]]", f"name = {_toml_str(name)}", f"{key} = {_toml_str(url)}"]
        if language:
            lines.append(f"language = {_toml_str(language)}")
        blocks.append("\n".join(lines))
        added.append(name)
    if blocks:
        _append(config_path, blocks)
    return added


def _append(config_path: Path, blocks: list[str]) -> None:
    """Append TOML entries to the config file, on a line of their own."""
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    with config_path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if text and not text.endswith("\n") else "") + "\n".join(blocks) + "\n")


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def append_watchlist(config_path: Path, w: WatchlistSettings) -> None:
    """Append `w` as a [[watchlists]] entry (only the settings it sets) to the config file; the caller checks
    the file still loads (and puts the old text back if not)."""
    lines = ["", "[[watchlists]]", f"name = {_toml_str(w.name)}", f"any = {_toml_list(w.any)}"]
    if w.all_of_any:
        lines.append("all_of_any = [" + ", ".join(_toml_list(g) for g in w.all_of_any) + "]")
    if w.none:
        lines.append(f"none = {_toml_list(w.none)}")
    if w.alerts_per_month:
        lines.append(f"alerts_per_month = {w.alerts_per_month:g}")
    if w.every_story:
        lines.append("every_story = true")
    if w.email_to:
        lines.append(f"email_to = {_toml_list(w.email_to)}")
    _append(config_path, ["\n".join(lines)])
