"""Mentions step: match articles against the configured watchlists (balkanwatch.watch decides).

Runs at the end of every ingest for new articles, and over all history after `balkanwatch rematch` or when
the watchlist definitions change (articles remember the version of the definitions they were matched with).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from balkanwatch.config import WatchlistSettings
from balkanwatch.progress import Progress
from balkanwatch.watch import Watchlist, match_all
from warehouse import Warehouse
from warehouse.store import utcnow


def watchlist_version(settings: Sequence[WatchlistSettings]) -> str:
    """A short hash of the watchlist definitions: a change means every article must be matched again."""
    spec = sorted([w.name, w.any, w.all_of_any, w.none] for w in settings)
    return hashlib.sha256(json.dumps(spec, ensure_ascii=False).encode()).hexdigest()[:16]


def match_mentions(wh: Warehouse, settings: Sequence[WatchlistSettings], progress: Progress | None = None) -> int:
    """Match every article not yet matched against these definitions; returns how many were matched.
    `progress` counts articles matched, reported once per batch the warehouse hands out."""
    version = watchlist_version(settings)
    watchlists = [Watchlist.build(w.name, w.any, w.all_of_any, w.none) for w in settings]
    wh.drop_mentions_except([w.name for w in settings])
    tell = progress or (lambda done, total: None)
    if not watchlists:
        marked = wh.mark_all_matched(version)
        tell(marked, marked)
        return marked
    done, total = 0, wh.count_to_match(version) if progress else 0
    tell(0, total)
    for batch in wh.articles_to_match(version):
        found = [(art_id, name, terms) for art_id, title, text in batch
                 for name, terms in match_all(watchlists, f"{title}\n{text}").items()]
        wh.record_mentions([b[0] for b in batch], found, version, utcnow())
        done += len(batch)
        tell(done, max(done, total))   # articles arriving meanwhile are matched too
    return done
