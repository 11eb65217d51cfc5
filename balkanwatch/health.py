"""Pure decisions about when to poll a source again. No I/O: the flow passes in what happened."""

from __future__ import annotations

from datetime import datetime, timedelta

# A failing source is retried after poll_minutes * 2**(failures-1), capped at ingest.max_backoff_minutes,
# and never disabled: dead feeds come back (site migrations, expired certificates get fixed).
GONE_BACKOFF_FACTOR = 4   # 410 Gone: the server says "for good"; back off four times faster than for a 404
                          # or a 5xx, but keep polling (dead feeds come back)


def next_poll(now: datetime, *, ok: bool, failures_before: int, poll_minutes: float,
              max_backoff_minutes: float, retry_after: float | None = None,
              gone: bool = False) -> tuple[datetime, int]:
    """(next_poll_at, consecutive_failures) after a poll that succeeded or failed."""
    if ok:
        return now + timedelta(minutes=poll_minutes), 0
    failures = failures_before + 1
    factor = 2 ** (failures - 1) * (GONE_BACKOFF_FACTOR if gone else 1)
    minutes = min(poll_minutes * factor, max(max_backoff_minutes, poll_minutes))
    wait = timedelta(minutes=minutes)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return now + wait, failures


def is_due(next_poll_at: datetime | None, now: datetime) -> bool:
    """A source is due when it never ran or its next poll time has come."""
    return next_poll_at is None or next_poll_at <= now


# The FTS index is rebuilt whole (O(articles): ~1 s per 300 articles here), so not after every run: search
# also scans the unindexed tail directly, which is cheap while the tail is small. Rebuild when the tail
# grows past FTS_MIN_TAIL and FTS_REBUILD_FRACTION of the index, or when its oldest article has waited
# FTS_MAX_WAIT_MINUTES (so BM25 ranking reaches every article within the hour).
FTS_MIN_TAIL = 500
FTS_REBUILD_FRACTION = 0.05
FTS_MAX_WAIT_MINUTES = 60.0


def should_rebuild_fts(indexed: int, unindexed: int, oldest_unindexed_minutes: float | None) -> bool:
    """Whether to rebuild the full-text index now."""
    if unindexed == 0:
        return False
    if unindexed >= max(FTS_MIN_TAIL, FTS_REBUILD_FRACTION * indexed):
        return True
    return oldest_unindexed_minutes is not None and oldest_unindexed_minutes >= FTS_MAX_WAIT_MINUTES
