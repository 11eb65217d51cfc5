"""The Atom feeds of unique stories, written where `feeds.dir` says after every run that settles.

`all.atom` holds the newest stories of every source, `topics/<topic>.atom` each watchlist's, `alerts.atom`
the surges the alerts detected (rewritten by every alerts cycle too), and with
`feeds.base_url` set, `feeds.opml` lists them for a feed reader's import. A file is replaced whole (written
beside it, then renamed), and only when its bytes change, so a reader or a web server never sees half a
feed and a run that brought nothing new leaves them as they were. The feed of a topic no longer
configured is removed. What goes in an entry is decided by `balkanwatch.atom` (pure).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from balkanwatch.atom import INCIDENT_STORIES, entry, incident_entry, opml, render
from balkanwatch.config import Config
from warehouse import Warehouse

ALL_FEED = "all.atom"
ALERTS_FEED = "alerts.atom"
TOPICS_DIR = "topics"
OPML_FILE = "feeds.opml"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def topic_file(topic: str) -> str:
    """The file name of a topic's feed: the name itself when it is a safe file name, else a safe form of it
    with a hash of the name (two names that differ only in unsafe characters get two files)."""
    safe = _UNSAFE.sub("_", topic).strip("._") or "topic"
    if safe != topic:
        safe = f"{safe[:60]}-{hashlib.sha256(topic.encode('utf-8')).hexdigest()[:8]}"
    return f"{safe}.atom"


def document(topic: str | None, stories: list[dict[str, Any]], self_url: str = "") -> bytes:
    """The feed of one topic (None: of every story) from `Warehouse.feed_stories`' rows for it."""
    entries = [entry(s, s["topics"]) for s in stories]
    if topic is None:
        return render("urn:balkanwatch:feed:all", "balkanwatch: every story", entries, self_url=self_url,
                      subtitle="The newest stories of every source, each once however many sites carry it.")
    return render(f"urn:balkanwatch:feed:topic:{topic}", f"balkanwatch: {topic}", entries, self_url=self_url,
                  subtitle=f"The newest stories of the topic {topic!r}, each once however many sites carry it.")


def feed_url(config: Config, rel: str) -> str:
    """Where the feed file `rel` (relative to feeds.dir) is served, under feeds.base_url; "" when unset."""
    base = config.feeds.base_url
    base = base if base.endswith("/") or not base else base + "/"
    return urljoin(base, quote(rel)) if base else ""


def alerts_document(wh: Warehouse, limit: int, self_url: str = "") -> bytes:
    """The alerts feed of the `limit` newest incidents (`Warehouse.feed_incidents`): one entry per surge
    e-mail, each listing its first INCIDENT_STORIES stories."""
    entries = [incident_entry(i) for i in wh.feed_incidents(limit, INCIDENT_STORIES)]
    return render("urn:balkanwatch:feed:alerts", "balkanwatch: surges", entries, self_url=self_url,
                  subtitle="Every surge the alerts detected, newest first: what the alert e-mails say, for a desk "
                  "that reads its news in a feed reader (with or without e-mail).")


def feed_documents(wh: Warehouse, config: Config) -> dict[str, bytes]:
    """Every feed file's bytes, by path relative to feeds.dir."""
    f = config.feeds
    topics = [w.name for w in config.watchlists]
    stories = wh.feed_stories(topics, f.entries)

    def url(rel: str) -> str:
        return feed_url(config, rel)

    files = {ALL_FEED: None, **{f"{TOPICS_DIR}/{topic_file(t)}": t for t in topics}}
    docs = {rel: document(topic, stories[topic], url(rel)) for rel, topic in files.items()}
    docs[ALERTS_FEED] = alerts_document(wh, f.entries, url(ALERTS_FEED))
    if config.feeds.base_url:
        docs[OPML_FILE] = opml("balkanwatch feeds", [
            ("balkanwatch: surges", url(ALERTS_FEED)),
            *[(f"balkanwatch: {'every story' if t is None else t}", url(rel)) for rel, t in files.items()]])
    return docs


def write_alerts_feed(wh: Warehouse, config: Config) -> bool | None:
    """Rewrite the alerts feed alone (the alerts cycle, after recording its surges): True when its bytes
    changed, None when feeds.dir is unset; OSError when the folder cannot be written."""
    folder = config.feeds.folder(config.base_dir)
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return _write_changed(folder / ALERTS_FEED, alerts_document(wh, config.feeds.entries, feed_url(config, ALERTS_FEED)))


@dataclass
class FeedsWritten:
    folder: Path
    written: list[str] = field(default_factory=list)     # files whose bytes changed
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)     # feeds of topics no longer configured


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole: a temporary file beside it, flushed, renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_changed(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` (whole, `_replace`) unless it already holds those bytes; True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    _replace(path, data)
    return True


def write_feeds(wh: Warehouse, config: Config) -> FeedsWritten | None:
    """Write the feeds under feeds.dir (None when it is unset); OSError when the folder cannot be written."""
    folder = config.feeds.folder(config.base_dir)
    if folder is None:
        return None
    docs = feed_documents(wh, config)
    (folder / TOPICS_DIR).mkdir(parents=True, exist_ok=True)
    done = FeedsWritten(folder)
    for rel, data in docs.items():
        if _write_changed(folder / rel, data):
            done.written.append(rel)
        else:
            done.unchanged += 1
    for old in sorted((folder / TOPICS_DIR).glob("*.atom")):
        if f"{TOPICS_DIR}/{old.name}" not in docs:
            old.unlink()
            done.removed.append(f"{TOPICS_DIR}/{old.name}")
    if OPML_FILE not in docs:
        (folder / OPML_FILE).unlink(missing_ok=True)
    return done
