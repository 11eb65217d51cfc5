"""Pure decisions about when to poll a source again. No I/O: the flow passes in what happened."""

from __future__ import annotations

from dataclasses import dataclass
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


# -- adaptive polling and silence (issue #15) ----------------------------------------------------------------
# A source's interval follows how often it publishes, as Miniflux's entry-frequency scheduler does: the mean
# gap between its items over the last week, judged from when each item appeared (its publication time, or
# when we first saw it if undated or dated later), halved so an item waits about a quarter of a gap on
# average. Bounded by ingest.min_poll_minutes and ingest.max_poll_minutes; a source with no articles yet
# keeps its configured interval; the server's own floor (RSS <ttl>, Cache-Control max-age) is honoured
# within the bounds.
RATE_WINDOW_DAYS = 7       # publication history the interval is judged on
POLLS_PER_GAP = 2.0        # poll twice per usual gap between items
# …unless the source is busier right now: an outlet with a story a day that puts out six in two hours is
# covering an incident, and a week's mean would poll it again in six hours. The rate over the last
# BURST_WINDOW_HOURS counts too (from BURST_MIN_ITEMS items there), and the faster of the two wins; once the
# burst is over the window empties and the week's rate governs again.
BURST_WINDOW_HOURS = 3
BURST_MIN_ITEMS = 2
SILENCE_WINDOW_DAYS = 28   # the usual gap for silence is measured over the 28 days before the newest item
SILENCE_MIN_ITEMS = 3      # …and needs at least three items there (two give one gap: too little to judge)


@dataclass(frozen=True)
class Publication:
    """A source's publication history as the warehouse sees it (one query per poll)."""

    recent: int                      # items that appeared in the last RATE_WINDOW_DAYS
    oldest_recent: datetime | None   # when the oldest of those appeared
    newest: datetime | None          # when the newest item of the source appeared
    usual_gap_minutes: float | None  # mean gap between items in the SILENCE_WINDOW_DAYS before `newest`
    burst: int = 0                   # items that appeared in the last BURST_WINDOW_HOURS
    oldest_burst: datetime | None = None   # when the oldest of those appeared


def _per_gap(now: datetime, oldest: datetime, items: int) -> float:
    """Minutes between polls for `items` that appeared since `oldest`: their mean gap / POLLS_PER_GAP."""
    return max((now - oldest).total_seconds() / 60, 0.0) / items / POLLS_PER_GAP


def adaptive_minutes(now: datetime, pub: Publication, *, configured: float, min_minutes: float,
                     max_minutes: float, server_floor_seconds: float | None = None) -> float:
    """Minutes until the next poll of a healthy source."""
    lo, hi = min(min_minutes, max_minutes), max(min_minutes, max_minutes)
    if pub.newest is None:
        minutes = configured                              # nothing published yet: the configured start
    elif pub.recent == 0 or pub.oldest_recent is None:
        minutes = hi                                      # nothing for a week: poll as rarely as allowed
    else:
        minutes = _per_gap(now, pub.oldest_recent, pub.recent)
        if pub.burst >= BURST_MIN_ITEMS and pub.oldest_burst is not None:   # busier now than over the week
            minutes = min(minutes, _per_gap(now, pub.oldest_burst, pub.burst))
    minutes = min(max(minutes, lo), hi)
    if server_floor_seconds:
        minutes = min(max(minutes, server_floor_seconds / 60), hi)   # the server's floor, within the bounds
    return round(minutes, 1)      # shown in `sources` and the health artifact: 21.1, not 21.052201737500003


def is_silent(now: datetime, pub: Publication, *, gaps: float, floor_hours: float) -> bool:
    """A source that answers but has published nothing for `gaps` times its usual gap (and at least
    `floor_hours`) is silent: a redesign, a moved feed, or a feed that serves yesterday's items forever."""
    if pub.newest is None or pub.usual_gap_minutes is None:
        return False
    quiet_minutes = (now - pub.newest).total_seconds() / 60
    return quiet_minutes >= max(gaps * pub.usual_gap_minutes, floor_hours * 60)


# Runs come on a schedule (`schedule.ingest_every_minutes`). Due only once its time has passed, a source is
# polled by the first run after that time: since its last fetch came a few seconds after its run started, a
# source whose interval is the schedule's period (the defaults: both 10 minutes) was due a few seconds after
# the next run started and waited for the one after, polled every other run; one of 12 minutes waited 20.
# So a healthy source is polled by the run nearest its time: it is due from DUE_SLACK of the time to the next
# run before it (the first run after its time could be up to that time late). The next run is the one Prefect
# has scheduled, when there is one: so the late runs Prefect starts close together after an outage, and a
# manual run between two scheduled ones, poll only the sources whose time is nearer them than the next run;
# without one (`--no-prefect`, cron, nothing served) it is taken to be a period away.
# Failing sources get no slack: their backoff and a server's Retry-After hold to the second.
DUE_SLACK = 0.5


def is_due(next_poll_at: datetime | None, now: datetime, slack_minutes: float = 0.0) -> bool:
    """A source is due when it never ran or its next poll time comes within `slack_minutes` of now."""
    return next_poll_at is None or next_poll_at <= now + timedelta(minutes=slack_minutes)


def due_slack_minutes(period_minutes: float, failures: int, minutes_to_next_run: float | None = None) -> float:
    """How early a source may be polled by this run: DUE_SLACK of the time to the next run when healthy (that
    time is `minutes_to_next_run`, negative when the next run is already late, or a period when unknown), and
    never more than DUE_SLACK of a period."""
    if failures:
        return 0.0
    if minutes_to_next_run is None:
        return DUE_SLACK * period_minutes
    return DUE_SLACK * min(max(minutes_to_next_run, 0.0), period_minutes)


def ingest_stalled(last_completed: datetime | None, now: datetime, period_minutes: float, periods: int) -> bool:
    """Whether ingest has stalled: no run completed for `periods` of the schedule's period since the last one
    that did (a warehouse that never completed a run has nothing to compare; `periods` 0 never stalls)."""
    return periods > 0 and last_completed is not None and now - last_completed >= timedelta(
        minutes=periods * period_minutes)


# DuckDB's FTS index is built whole: ~1.3 ms an article of real length here (bench/search_index_cost.py), so
# minutes at 100,000 articles. Articles newer than it are found by search's plain scan, and listed after the
# ranked ones; within the hour (FTS_MAX_WAIT_MINUTES) they are indexed in the recent index, rebuilt alone (its
# cost the articles since the last fold, not every article); what the index lacks (recent or not indexed at
# all) and what it holds stale (an article whose title or text changed since it was indexed) are folded in
# once they reach FTS_MIN_TAIL and FTS_REBUILD_FRACTION of the index (of one segment's worth, on a file).
# Before session 42 the whole index was rebuilt every hour new articles came in: 8 minutes an hour at a year
# of 1,000 a day.
FTS_MIN_TAIL = 500
FTS_REBUILD_FRACTION = 0.05
FTS_MAX_WAIT_MINUTES = 60.0
# A file's index is segments of at most this many articles (session 43; Warehouse.seal_fts): a fold rebuilds
# the last segment and at most one other (a full segment ~65-80 s at 1.3-1.6 ms an article), under the run lock; before, the fold
# rebuilt every article: ~8 minutes at a year of 1,000 a day, near `warehouse.lock_timeout` (10 minutes),
# past which the next run gives up waiting. More segments make a search slower (bench/search_index_cost.py:
# 8 segments of 5,000 against one index of 40,000, 0.2 s against 0.1 s a query).
FTS_SEGMENT_ARTICLES = 50_000


def fts_refresh(whole: int, recent: int, unindexed: int, oldest_unindexed_minutes: float | None, *,
                stale: int = 0, outdated: int = 0, segment_articles: int | None = None) -> str | None:
    """What to rebuild of the full-text index now: "whole", "seal", "recent" or nothing (None). `whole`,
    `recent`: the articles each index holds; `unindexed`: in neither; `stale`: held by the segments with an
    older title or text, and not by the recent index; `outdated`: found by older words than they have now
    (the recent index takes them at once: a revision is searchable by its new words from the run that
    stored it). `segment_articles`: the size of a segment of a segmented index (a file's), None for one
    index (a lake's). A segmented index folds what it lacks and holds stale into its segments ("seal"), at
    most two segments' worth of work (Warehouse.seal_fts); one index is rebuilt "whole"."""
    if unindexed == 0 and stale == 0 and outdated == 0:
        return None
    base = whole if segment_articles is None else min(whole, segment_articles)
    if recent + unindexed + stale >= max(FTS_MIN_TAIL, FTS_REBUILD_FRACTION * base):
        return "whole" if segment_articles is None else "seal"
    if outdated or (oldest_unindexed_minutes is not None and oldest_unindexed_minutes >= FTS_MAX_WAIT_MINUTES):
        return "recent"
    return None
