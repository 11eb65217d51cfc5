"""Pure decisions about when to poll a source again. No I/O: the flow passes in what happened."""

from __future__ import annotations

from datetime import datetime, timedelta

# A failing source is retried after poll_minutes * 2**(failures-1), capped at ingest.max_backoff_minutes,
# and never disabled: dead feeds come back (site migrations, expired certificates get fixed).
GONE_BACKOFF_FACTOR = 4   # 404/410: the feed may have moved; back off four times faster than for a 5xx


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


# The FTS index is rebuilt whole (O(articles)); rebuilding after every run would cost minutes per run at
# 100k articles. Rebuild when the unindexed tail is large relative to the index, or old enough.
FTS_REBUILD_FRACTION = 0.05   # unindexed ≥ 5% of indexed: search's fallback scan would be getting slow
FTS_REBUILD_MINUTES = 60.0    # and at least hourly while anything is unindexed


def should_rebuild_fts(indexed: int, unindexed: int, minutes_since_build: float | None) -> bool:
    """Whether to rebuild the full-text index now."""
    if unindexed == 0:
        return False
    if indexed == 0 or minutes_since_build is None:
        return True
    return unindexed >= FTS_REBUILD_FRACTION * indexed or minutes_since_build >= FTS_REBUILD_MINUTES
