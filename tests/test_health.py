from datetime import datetime, timedelta

from balkanwatch.health import due_slack_minutes, ingest_stalled, is_due, next_poll

NOW = datetime(2026, 11, 1, 12, 0)


def test_success_resets_and_schedules_interval() -> None:
    when, failures = next_poll(NOW, ok=True, failures_before=5, poll_minutes=10, max_backoff_minutes=360)
    assert (when, failures) == (NOW + timedelta(minutes=10), 0)


def test_backoff_is_graded_capped_and_never_disables() -> None:
    waits, failures = [], 0
    for _ in range(12):
        when, failures = next_poll(NOW, ok=False, failures_before=failures, poll_minutes=10, max_backoff_minutes=360)
        waits.append((when - NOW).total_seconds() / 60)
    assert waits[:6] == [10, 20, 40, 80, 160, 320]
    assert max(waits) == 360 and waits[-1] == 360      # capped, and still scheduled: never disabled
    assert failures == 12


def test_retry_after_and_gone() -> None:
    when, _ = next_poll(NOW, ok=False, failures_before=0, poll_minutes=10, max_backoff_minutes=360, retry_after=7200)
    assert when == NOW + timedelta(hours=2)
    when, _ = next_poll(NOW, ok=False, failures_before=0, poll_minutes=10, max_backoff_minutes=360, gone=True)
    assert when == NOW + timedelta(minutes=40)


def test_is_due() -> None:
    assert is_due(None, NOW) and is_due(NOW, NOW) and not is_due(NOW + timedelta(seconds=1), NOW)
    # with slack: due from that long before its time (the run nearest it polls it)
    assert is_due(NOW + timedelta(minutes=5), NOW, 5) and not is_due(NOW + timedelta(minutes=5, seconds=1), NOW, 5)


def test_only_healthy_sources_get_slack_half_a_period() -> None:
    assert due_slack_minutes(10, 0) == 5.0 and due_slack_minutes(10, 1) == 0.0 and due_slack_minutes(60, 0) == 30.0


def test_slack_is_half_the_time_to_the_next_run_when_it_is_known() -> None:
    assert due_slack_minutes(10, 0, 4.0) == 2.0            # a manual run 6 minutes after a scheduled one
    assert due_slack_minutes(10, 0, -1.5) == 0.0           # the next run is late already: only what is due
    assert due_slack_minutes(10, 0, 25.0) == 5.0           # never more than half a period
    assert due_slack_minutes(10, 2, 10.0) == 0.0           # a failing source keeps its backoff


def test_fts_rebuild_policy() -> None:
    from balkanwatch.health import fts_refresh

    assert fts_refresh(1000, 0, 0, 500) is None                 # nothing unindexed
    assert fts_refresh(0, 0, 9, 5) is None                      # a small fresh tail: search's scan covers it
    assert fts_refresh(0, 0, 9, 61) == "recent"                 # …until its oldest article has waited an hour
    assert fts_refresh(0, 0, 500, 0) == "whole"                 # a large tail
    assert fts_refresh(100_000, 0, 600, 5) is None              # 600 < 5% of 100k
    assert fts_refresh(100_000, 0, 600, 61) == "recent"         # …waited an hour: the recent index, not all
    assert fts_refresh(100_000, 4000, 600, 61) == "recent"      # what the whole index lacks: 4,600 < 5,000
    assert fts_refresh(100_000, 4500, 600, 5) == "whole"        # 5,100: the whole index again
    assert fts_refresh(100_000, 5000, 0, 61) is None            # all indexed, some in the recent index
    # a file's index of segments of 50,000: folding in is a segment's work, so it comes at 5% of a segment
    seg = {"segment_articles": 50_000}
    assert fts_refresh(100_000, 2000, 400, 5, **seg) is None    # 2,400 < 2,500
    assert fts_refresh(100_000, 2000, 500, 5, **seg) == "seal"
    assert fts_refresh(10_000, 0, 499, 5, **seg) is None        # under a segment's worth: as one index
    assert fts_refresh(10_000, 0, 500, 5, **seg) == "seal"
    # stale articles (their text changed since they were indexed) count with what the index lacks
    assert fts_refresh(100_000, 0, 0, None, stale=2500, **seg) == "seal"
    assert fts_refresh(100_000, 0, 0, None, stale=2499, **seg) is None
    # …and those a search finds by their old words go into the recent index at once (session 44)
    assert fts_refresh(100_000, 0, 0, None, stale=1, outdated=1, **seg) == "recent"
    assert fts_refresh(100_000, 300, 0, None, outdated=1, **seg) == "recent"   # revised in the recent index
    assert fts_refresh(100_000, 2000, 0, None, stale=500, outdated=500, **seg) == "seal"
    assert fts_refresh(100_000, 0, 1, 5, stale=5000) == "whole"  # one index (a lake's): rebuilt whole


def test_ingest_stalls_after_its_periods_without_a_completed_run() -> None:
    last = NOW - timedelta(minutes=60)
    assert ingest_stalled(last, NOW, 10, 6) and not ingest_stalled(last + timedelta(seconds=1), NOW, 10, 6)
    assert not ingest_stalled(None, NOW, 10, 6)              # never completed a run: nothing to compare
    assert not ingest_stalled(NOW - timedelta(days=3), NOW, 10, 0)   # turned off
