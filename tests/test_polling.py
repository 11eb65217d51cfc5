"""Many sources, cheaply: task batches, adaptive intervals, silence, shards (issue #15)."""

from __future__ import annotations

import asyncio
import json
import pickle
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.devserver import LoopbackServer
from balkanwatch.config import ConfigError, load_config
from balkanwatch.health import Publication, adaptive_minutes, is_silent
from balkanwatch.sharding import BATCH_SOURCES, batch_label, batches, host_name, parse_shard, shard_of
from connectors.feeds import parse_feed
from connectors.http import parse_max_age
from flows.ingest import run_ingest
from tests.conftest import loopback_config, toml_sources

NOW = datetime(2026, 12, 1, 12, 0)
WORDS = ("patrol border crossing mission police bridge municipality council barricade convoy statement ministry "
         "delegation agreement election protest checkpoint village commander spokesman report officials talks").split()


def text_page(title: str, seed: int) -> str:
    rng = random.Random(seed)
    paras = "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(40)).capitalize()}.</p>" for _ in range(5))
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{paras}</article></body></html>"


def rss(base: str, items: list[tuple[str, datetime]], ttl: int | None = None) -> str:
    entries = "".join(f"<item><title>{slug}</title><link>{base}/{slug}.html</link><guid>{base}/{slug}</guid>"
                      f"<pubDate>{format_datetime(when)}</pubDate></item>" for slug, when in items)
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{ttl_tag}{entries}</channel></rss>'


def publish(root: Path, base: str, name: str, items: list[tuple[str, datetime]], ttl: int | None = None,
            seed: int = 0) -> str:
    """Write the feed `name`.xml and its article pages under root; returns the feed URL."""
    for i, (slug, _) in enumerate(items):
        (root / f"{slug}.html").write_text(text_page(slug.replace("-", " "), seed * 1000 + i), encoding="utf-8")
    (root / f"{name}.xml").write_text(rss(base, items, ttl), encoding="utf-8")
    return f"{base}/{name}.xml"


def smtp_toml(port: int) -> str:
    """The [smtp] section for an aiosmtpd server on loopback."""
    return f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 5\n'


def health(cfg: Path) -> dict[str, dict]:
    with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
        cur = con.execute("SELECT * FROM source_health")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


@contextmanager
def loopback_hosts(tmp_path: Path, count: int = 4) -> Iterator[list[tuple[int, Path, LoopbackServer]]]:
    """(h, folder, server) for servers on 127.0.0.1 … 127.0.0.<count>: distinct hosts to the sharding."""
    servers: list[tuple[int, Path, LoopbackServer]] = []
    try:
        for h in range(1, count + 1):
            root = tmp_path / f"host{h}"
            root.mkdir()
            servers.append((h, root, LoopbackServer(root, host=f"127.0.0.{h}").start()))
        yield servers
    finally:
        for _, _, srv in servers:
            srv.stop()


# -- pure decisions ---------------------------------------------------------------------------------------
def pub_every(gap: timedelta, count: int, newest_ago: timedelta = timedelta(0)) -> Publication:
    newest = NOW - newest_ago
    times = [newest - gap * i for i in range(count)]
    recent = [t for t in times if t > NOW - timedelta(days=7)]
    return Publication(len(recent), min(recent) if recent else None, newest, gap.total_seconds() / 60)


def test_the_interval_follows_how_often_a_source_publishes_within_the_bounds():
    bounds = {"configured": 10.0, "min_minutes": 5.0, "max_minutes": 360.0}
    fast = adaptive_minutes(NOW, pub_every(timedelta(minutes=10), 50), **bounds)
    hourly = adaptive_minutes(NOW, pub_every(timedelta(hours=1), 50), **bounds)
    daily = adaptive_minutes(NOW, pub_every(timedelta(days=1), 20), **bounds)
    assert fast == 5.0                       # every 10 minutes → the floor
    assert 25 <= hourly <= 35                # about half an hour: twice per usual gap
    assert daily == 360.0                    # daily → the ceiling
    assert adaptive_minutes(NOW, Publication(0, None, None, None), **bounds) == 10.0    # nothing yet: configured
    quiet_week = Publication(0, None, NOW - timedelta(days=9), 60.0)
    assert adaptive_minutes(NOW, quiet_week, **bounds) == 360.0
    # the server's floor (RSS <ttl>, Cache-Control max-age) within the bounds
    assert adaptive_minutes(NOW, pub_every(timedelta(minutes=10), 50), **bounds, server_floor_seconds=7200) == 120
    assert adaptive_minutes(NOW, pub_every(timedelta(minutes=10), 50), **bounds, server_floor_seconds=86400) == 360


def test_a_burst_polls_a_source_sooner_until_it_is_over():
    bounds = {"configured": 10.0, "min_minutes": 5.0, "max_minutes": 360.0}
    daily = pub_every(timedelta(days=1), 20, newest_ago=timedelta(hours=5))
    assert adaptive_minutes(NOW, daily, **bounds) == 360.0
    six = replace(daily, burst=6, oldest_burst=NOW - timedelta(hours=2))           # six stories in two hours
    assert adaptive_minutes(NOW, six, **bounds) == 10.0                              # 120 min / 6 / 2
    one = replace(daily, burst=1, oldest_burst=NOW - timedelta(minutes=30))         # one story is not a burst
    assert adaptive_minutes(NOW, one, **bounds) == 360.0
    # a busy source is not slowed by a burst window calmer than its week
    fast = replace(pub_every(timedelta(minutes=20), 300), burst=2, oldest_burst=NOW - timedelta(hours=2, minutes=50))
    week = adaptive_minutes(NOW, replace(fast, burst=0, oldest_burst=None), **bounds)
    assert adaptive_minutes(NOW, fast, **bounds) == week == 10.0                     # the week's 20 min / 2


def test_silence_needs_several_usual_gaps_and_the_floor():
    hourly = timedelta(hours=1)
    assert not is_silent(NOW, pub_every(hourly, 30, newest_ago=timedelta(hours=3)), gaps=4, floor_hours=2)
    assert is_silent(NOW, pub_every(hourly, 30, newest_ago=timedelta(hours=5)), gaps=4, floor_hours=2)
    assert not is_silent(NOW, pub_every(hourly, 30, newest_ago=timedelta(hours=5)), gaps=4, floor_hours=48)
    assert not is_silent(NOW, Publication(0, None, NOW - timedelta(days=30), None), gaps=4, floor_hours=1)


def test_cache_hints_are_read_from_headers_and_feeds():
    assert parse_max_age("public, max-age=600") == 600
    assert parse_max_age('max-age="120", must-revalidate') == 120
    assert parse_max_age("no-cache, max-age=600") is None and parse_max_age("max-age=0") is None
    assert parse_max_age(None) is None and parse_max_age("max-age=soon") is None
    feed = rss("http://x.test", [("a", NOW.replace(tzinfo=UTC))], ttl=90).encode()
    assert parse_feed(feed, "http://x.test/feed").ttl_minutes == 90
    assert parse_feed(rss("http://x.test", [("a", NOW.replace(tzinfo=UTC))]).encode(), "http://x").ttl_minutes is None


def test_shards_are_stable_by_host_and_batches_keep_hosts_together():
    urls = [f"https://site{i}.example/feed{j}.xml" for i in range(40) for j in range(3)]
    before = {u: shard_of(u, 4) for u in urls}
    assert set(before.values()) == {0, 1, 2, 3}
    assert all(len({before[f"https://site{i}.example/feed{j}.xml"] for j in range(3)}) == 1 for i in range(40))
    more = urls + [f"https://new{i}.example/rss" for i in range(20)]
    assert all(shard_of(u, 4) == before[u] for u in more if u in before)     # adding sources moves none
    assert shard_of("https://Site3.example:8443/x", 4) == before["https://site3.example/feed0.xml"]
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)
    groups = batches(urls, lambda u: u, size=25)
    assert [len(g) for g in groups] == [25, 25, 25, 25, 20] and sorted(sum(groups, [])) == sorted(urls)
    assert [host_name(u) for g in groups for u in g] == sorted(host_name(u) for u in urls)
    assert batch_label(groups[0], lambda u: u).endswith("(25 sources)")


def test_poll_bounds_are_checked(tmp_path: Path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(loopback_config("", extra="min_poll_minutes = 60\nmax_poll_minutes = 30"), encoding="utf-8")
    with pytest.raises(ConfigError, match="min_poll_minutes"):
        load_config(cfg)


# -- through the pipeline, on loopback ---------------------------------------------------------------------
def test_a_frequent_feed_is_polled_more_often_than_a_daily_one_and_cache_hints_hold(server, tmp_path: Path):
    site = tmp_path / "site"
    now = datetime.now(UTC)
    fast = publish(site, server.base, "fast", [(f"fast-{i}", now - timedelta(minutes=10 * i)) for i in range(12)])
    daily = publish(site, server.base, "daily", [(f"daily-{i}", now - timedelta(days=i)) for i in range(6)], seed=1)
    ttl = publish(site, server.base, "ttl", [(f"ttl-{i}", now - timedelta(minutes=10 * i)) for i in range(6)],
                  ttl=120, seed=2)
    cached = publish(site, server.base, "cached", [(f"cached-{i}", now - timedelta(minutes=10 * i)) for i in range(6)],
                     seed=3)
    server.httpd.header_overrides = {"/cached.xml": {"Cache-Control": "public, max-age=5400"}}   # as _headers.json
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(toml_sources([{"name": n, "feed": u} for n, u in
                                                 [("fast", fast), ("daily", daily), ("ttl", ttl), ("cached", cached)]]),
                                   extra="min_poll_minutes = 5\nmax_poll_minutes = 600"), encoding="utf-8")
    summary = asyncio.run(run_ingest(load_config(cfg)))
    assert summary.new_articles == 12 + 6 + 6 + 6
    rows = health(cfg)
    assert rows["fast"]["poll_minutes"] == 5.0                           # every 10 minutes → the floor
    assert 600 >= rows["daily"]["poll_minutes"] >= 8 * 60                 # daily → close to the ceiling
    assert rows["ttl"]["poll_minutes"] == 120                             # <ttl>120</ttl>
    assert rows["cached"]["poll_minutes"] == 90                           # max-age=5400
    assert all(r["configured_minutes"] == 10 and r["health"] == "healthy" for r in rows.values())
    # the next poll is that far away, and the report says so
    by_name = {r.name: r for r in summary.sources}
    assert by_name["ttl"].poll_minutes == 120
    assert rows["daily"]["next_poll_at"] - rows["fast"]["next_poll_at"] > timedelta(hours=7)
    # an unchanged re-poll keeps the <ttl> it no longer parses
    asyncio.run(run_ingest(load_config(cfg), force=True))
    assert health(cfg)["ttl"]["poll_minutes"] == 120


def test_a_daily_feed_covering_an_incident_is_polled_again_within_minutes(server, tmp_path: Path):
    """Stored articles decide it: a feed with a story a day and six in the last two hours is polled again in
    minutes (the two-hour rate), the same feed without the burst in hours (the week's)."""
    site = tmp_path / "site"
    now = datetime.now(UTC)
    days = [(f"day-{i}", now - timedelta(days=i, hours=4)) for i in range(6)]
    burst = [(f"clash-{i}", now - timedelta(minutes=20 * i)) for i in range(6)]   # 0 to 100 minutes ago
    incident = publish(site, server.base, "incident", burst + days)
    calm = publish(site, server.base, "calm", [(f"calm-{i}", now - timedelta(days=i, hours=4)) for i in range(6)],
                   seed=1)
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(toml_sources([{"name": "incident", "feed": incident}, {"name": "calm", "feed": calm}]),
                                   extra="min_poll_minutes = 5\nmax_poll_minutes = 600"), encoding="utf-8")
    assert asyncio.run(run_ingest(load_config(cfg))).new_articles == 18
    rows = health(cfg)
    assert 7 <= rows["incident"]["poll_minutes"] <= 10          # ~100 minutes / 6 stories / 2
    assert rows["calm"]["poll_minutes"] >= 8 * 60


def test_a_lowered_max_poll_minutes_applies_from_the_next_run(server, tmp_path: Path):
    """A daily feed scheduled hours out under max_poll_minutes = 600 is polled on the next run once the bound
    is lowered (not after the old schedule); a failing source keeps its backoff."""
    site = tmp_path / "site"
    now = datetime.now(UTC)
    daily = publish(site, server.base, "daily", [(f"daily-{i}", now - timedelta(days=i)) for i in range(6)])
    sources = toml_sources([{"name": "daily", "feed": daily}, {"name": "gone", "feed": f"{server.base}/missing.xml"}])
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(sources, extra="min_poll_minutes = 5\nmax_poll_minutes = 600"), encoding="utf-8")
    asyncio.run(run_ingest(load_config(cfg)))
    before = health(cfg)
    assert before["daily"]["poll_minutes"] >= 8 * 60 and before["gone"]["consecutive_failures"] == 1
    assert asyncio.run(run_ingest(load_config(cfg))).sources_polled == 0       # nothing due for hours
    cfg.write_text(loopback_config(sources, extra="min_poll_minutes = 0.01\nmax_poll_minutes = 0.02"),
                   encoding="utf-8")
    time.sleep(1.5)                          # past the new bound (1.2 s) after the daily feed's poll
    again = asyncio.run(run_ingest(load_config(cfg)))
    assert [s.name for s in again.sources] == ["daily"] and again.sources[0].ok
    after = health(cfg)
    assert after["daily"]["poll_minutes"] <= 0.02
    assert after["gone"]["next_poll_at"] == before["gone"]["next_poll_at"]      # the backoff stands


def test_a_source_due_just_after_a_run_starts_is_polled_by_that_run(server, tmp_path: Path):
    """Runs a period apart (schedule.ingest_every_minutes = 1): a healthy source due within half a period is
    polled by this run, not the next (its last fetch came a moment after its run started, so a source with the
    period as interval was polled every other run); a failing source waits for its backoff to the second."""
    site = tmp_path / "site"
    now = datetime.now(UTC)
    fast = publish(site, server.base, "fast", [(f"fast-{i}", now - timedelta(minutes=i)) for i in range(5)])
    sources = "[schedule]\ningest_every_minutes = 1\n\n" + toml_sources(
        [{"name": "fast", "feed": fast}, {"name": "gone", "feed": f"{server.base}/missing.xml"}])
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(sources, extra="poll_minutes = 0.5\nmin_poll_minutes = 0.5\nmax_poll_minutes = 0.5"),
                   encoding="utf-8")
    first = asyncio.run(run_ingest(load_config(cfg)))
    assert first.sources_polled == 2 and first.new_articles == 5
    rows = health(cfg)
    assert rows["fast"]["poll_minutes"] == 0.5 and rows["gone"]["consecutive_failures"] == 1
    again = asyncio.run(run_ingest(load_config(cfg)))     # seconds later: both are due in about 30 s
    assert [s.name for s in again.sources] == ["fast"] and again.sources[0].ok
    assert health(cfg)["gone"]["next_poll_at"] == rows["gone"]["next_poll_at"]     # its backoff stands


def test_the_next_scheduled_run_decides_how_early_a_source_is_polled(prefect_server, server, tmp_path: Path):
    """Under Prefect a healthy source is polled early only when it is nearer this run than the next scheduled
    run of its config (not any config's): a run seconds before the next one, or one started while the next
    is already late (Prefect's catch-up runs after an outage), polls only what is due; a run a period before
    the next polls what is due within half of it."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from flows.ingest import ingest

    site = tmp_path / "site"
    now = datetime.now(UTC)
    fast = publish(site, server.base, "fast", [(f"fast-{i}", now - timedelta(minutes=i)) for i in range(5)])
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config("[schedule]\ningest_every_minutes = 2\n\n" + toml_sources(
        [{"name": "fast", "feed": fast}]), extra="poll_minutes = 1\nmin_poll_minutes = 1\nmax_poll_minutes = 1"),
        encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text(), encoding="utf-8")

    async def deployments() -> list:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("ingest")
            return [await client.create_deployment(flow_id=flow_id, name=f"next-run-{path.stem}-{tmp_path.name}",
                                                   parameters={"config_path": str(path)}) for path in (cfg, other)]

    async def schedule(dep_id, seconds: float):  # type: ignore[no-untyped-def]
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(
                dep_id, state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(seconds=seconds)))
            return run.id

    async def delete(*run_ids) -> None:  # type: ignore[no-untyped-def]
        async with get_client() as client:
            for run_id in run_ids:
                await client.delete_flow_run(run_id)

    mine, theirs = asyncio.run(deployments())
    try:
        assert asyncio.run(ingest(config_path=str(cfg)))["sources_polled"] == 1   # nothing scheduled: first poll
        soon = asyncio.run(schedule(mine, 10))                  # the next run in 10 s: fast is due in ~1 min
        assert asyncio.run(ingest(config_path=str(cfg)))["sources_polled"] == 0
        asyncio.run(delete(soon))
        runs = [asyncio.run(schedule(mine, 120)), asyncio.run(schedule(theirs, 5))]   # a period away; not ours
        polled = asyncio.run(ingest(config_path=str(cfg)))
        assert polled["sources_polled"] == 1 and polled["sources"][0]["ok"]            # nearer this run
        asyncio.run(delete(*runs))
        late = asyncio.run(schedule(mine, -40))                 # the next run should have started 40 s ago
        assert asyncio.run(ingest(config_path=str(cfg)))["sources_polled"] == 0
        asyncio.run(delete(late))
        # without Prefect the next run is taken to be a period away, as before: due within a minute
        assert asyncio.run(run_ingest(load_config(cfg))).sources_polled == 1
    finally:
        async def drop() -> None:
            async with get_client() as client:
                for dep_id in (mine, theirs):
                    await client.delete_deployment(dep_id)
        asyncio.run(drop())


def test_a_source_given_a_new_url_is_polled_at_once_without_the_old_urls_validators(server, tmp_path: Path):
    """An analyst fixes a source's feed URL: the next run (not forced) polls the new URL, although the old
    one's failures had put it on backoff, and sends none of the old URL's validators (a server comparing
    If-Modified-Since by date could answer 304 to them and hide the new feed's items)."""
    site = tmp_path / "site"
    now = datetime.now(UTC)
    old = publish(site, server.base, "old", [(f"old-{i}", now - timedelta(hours=i)) for i in range(3)])
    new = publish(site, server.base, "new", [(f"new-{i}", now - timedelta(hours=i)) for i in range(3)], seed=1)
    cfg = tmp_path / "balkanwatch.toml"

    def config(url: str) -> None:
        cfg.write_text(loopback_config(toml_sources([{"name": "wire", "feed": url}])), encoding="utf-8")

    config(old)                                   # a working feed: validators stored
    assert asyncio.run(run_ingest(load_config(cfg))).new_articles == 3
    assert health(cfg)["wire"]["health"] == "healthy"
    config(f"{server.base}/typo.xml")             # moved to a wrong URL: failing, on backoff
    failed = asyncio.run(run_ingest(load_config(cfg), force=True))
    assert not failed.sources[0].ok and health(cfg)["wire"]["consecutive_failures"] == 1
    assert asyncio.run(run_ingest(load_config(cfg))).sources_polled == 0          # waiting for its backoff
    config(new)                                   # fixed
    server.httpd.requests.clear()
    fixed = asyncio.run(run_ingest(load_config(cfg)))
    assert fixed.sources_polled == 1 and fixed.sources[0].ok and fixed.new_articles == 3
    feed_request = next(r for r in server.httpd.requests if r["path"] == "/new.xml")
    assert not {"If-None-Match", "If-Modified-Since"} & set(feed_request["headers"])
    assert health(cfg)["wire"]["health"] == "healthy"


def test_a_feed_moved_permanently_is_followed_and_the_source_says_where_to(server, tmp_path: Path):
    """A feed answering with a 301 is still polled through it, and the source carries a warning naming the
    new URL (`sources`, the health artifact) until the config points there."""
    site = tmp_path / "site"
    now = datetime.now(UTC)
    new = publish(site, server.base, "new", [(f"story-{i}", now - timedelta(hours=i)) for i in range(3)])

    def moved(h):  # type: ignore[no-untyped-def]
        h.send_body(301, b"", {"Location": new})

    server.routes["/old.xml"] = moved
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(toml_sources([{"name": "wire", "feed": f"{server.base}/old.xml"}])), encoding="utf-8")
    assert asyncio.run(run_ingest(load_config(cfg))).new_articles == 3
    row = health(cfg)["wire"]
    assert row["health"] == "healthy" and f"moved permanently to {new}" in row["last_warning"]
    asyncio.run(run_ingest(load_config(cfg), force=True))          # unchanged (304 through the 301): still said
    assert f"moved permanently to {new}" in health(cfg)["wire"]["last_warning"]
    cfg.write_text(loopback_config(toml_sources([{"name": "wire", "feed": new}])), encoding="utf-8")
    asyncio.run(run_ingest(load_config(cfg), force=True))
    assert health(cfg)["wire"]["last_warning"] is None


def test_a_feed_that_stops_publishing_becomes_silent_and_recovers(server, tmp_path: Path):
    site = tmp_path / "site"
    now = datetime.now(UTC)
    items = [(f"story-{i}", now - timedelta(seconds=i)) for i in range(5)]     # one a second
    url = publish(site, server.base, "feed", items)
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(toml_sources([{"name": "wire", "feed": url}]),
                                   extra="silence_gaps = 3\nsilence_floor_hours = 0.001"), encoding="utf-8")
    asyncio.run(run_ingest(load_config(cfg)))
    assert health(cfg)["wire"]["health"] == "healthy"
    time.sleep(5)                           # 5 s: more than 3 usual gaps (1 s) and the floor (3.6 s)
    again = asyncio.run(run_ingest(load_config(cfg), force=True))        # the feed answers, unchanged
    row = health(cfg)["wire"]
    assert row["health"] == "silent" and row["silent_since"] is not None and again.sources[0].silent
    assert 0.9 <= row["usual_gap_minutes"] * 60 <= 1.1
    publish(site, server.base, "feed", [("story-new", datetime.now(UTC)), *items], seed=5)
    back = asyncio.run(run_ingest(load_config(cfg), force=True))
    assert back.new_articles == 1 and health(cfg)["wire"]["health"] == "healthy"
    assert health(cfg)["wire"]["silent_since"] is None


def test_shard_runs_together_load_what_one_full_run_loads(tmp_path: Path):
    """Feeds on four loopback hosts (127.0.0.1-4): shard 0/2 then 1/2 into one warehouse give the same
    articles and stories as one full run into another, and each shard polled only its hosts."""
    sources = []
    now = datetime.now(UTC)
    with loopback_hosts(tmp_path) as hosts:
        for h, root, srv in hosts:
            for f in range(2):
                items = [(f"h{h}-f{f}-{i}", now - timedelta(minutes=30 * i)) for i in range(3)]
                sources.append({"name": f"host{h}-feed{f}",
                                "feed": publish(root, srv.base, f"feed{f}", items, seed=h * 10 + f)})
        assert len({shard_of(s["feed"], 2) for s in sources}) == 2, "the four hosts should fall in both shards"

        def run(folder: str, shards: list[tuple[int, int] | None]) -> tuple[set, set, list]:
            (tmp_path / folder).mkdir()
            cfg = tmp_path / folder / "balkanwatch.toml"
            cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
            polled = []
            for shard in shards:
                summary = asyncio.run(run_ingest(load_config(cfg), shard=shard))
                polled.append(sorted(r.name for r in summary.sources))
            with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
                arts = set(con.execute("SELECT article_id, source, content_hash FROM articles").fetchall())
                stories = set(con.execute("SELECT story_id, articles FROM stories").fetchall())
            return arts, stories, polled

        full = run("full", [None])
        sharded = run("sharded", [(0, 2), (1, 2)])
        assert len(full[0]) == 24 and sharded[0] == full[0] and sharded[1] == full[1]
        first, second = sharded[2]
        assert first and second and not set(first) & set(second) and sorted(first + second) == full[2][0]
        assert all(shard_of(next(s["feed"] for s in sources if s["name"] == n), 2) == 0 for n in first)

        # two load-only shard runs started at once on one DuckDB file: both complete (one waits for the
        # other) and settle nothing; one `settle` afterwards gives the full run's stories
        (tmp_path / "together").mkdir()
        cfg = tmp_path / "together" / "balkanwatch.toml"
        cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
        procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest",
                                   "--no-prefect", "--json", "--shard", f"{k}/2", "--no-settle"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        done = [json.loads(o[0]) for o in outs]
        assert [d["status"] for d in done] == ["completed", "completed"]
        assert [d["settled"] for d in done] == [False, False] and sum(d["new_stories"] for d in done) == 0
        assert sorted(r["name"] for d in done for r in d["sources"]) == full[2][0]
        with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
            assert set(con.execute("SELECT article_id, source, content_hash FROM articles").fetchall()) == full[0]
            assert con.execute("SELECT count(*) FROM articles WHERE story_id IS NOT NULL").fetchone() == (0,)
        settled = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "settle", "--no-prefect",
                                  "--json"], capture_output=True, text=True, timeout=300)
        assert settled.returncode == 0, settled.stderr[-2000:]
        assert json.loads(settled.stdout)["new_stories"] == len(full[1])
        with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
            assert set(con.execute("SELECT story_id, articles FROM stories").fetchall()) == full[1]
        again = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "settle", "--no-prefect",
                                "--json"], capture_output=True, text=True, timeout=300)
        assert json.loads(again.stdout)["new_stories"] == 0          # nothing left to settle


@pytest.mark.prefect
def test_two_hundred_feeds_are_few_task_runs_and_an_unchanged_repoll_writes_nothing(prefect_server, tmp_path: Path):
    """200 feeds on four loopback hosts, under a real Prefect server: the run has ceil(200/BATCH_SOURCES)
    poll task runs, the source-health artifact lists all 200, and a forced re-poll of the unchanged feeds
    fetches only the feeds, extracts and loads nothing, its task runs' logs naming every unchanged source
    on one line per batch."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.utilities.collections import visit_collection

    from flows.ingest import ingest
    from tests.test_ingest import run_artifacts, run_logs, table

    sources = []
    now = datetime.now(UTC)
    with loopback_hosts(tmp_path) as hosts:
        for h, root, srv in hosts:
            for f in range(50):
                url = publish(root, srv.base, f"feed{f}", [(f"s{h}-{f}", now - timedelta(minutes=f))], seed=h * 100 + f)
                sources.append({"name": f"h{h}-feed{f:02d}", "feed": url})
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
        first = asyncio.run(ingest(config_path=str(cfg)))
        assert first["new_articles"] == 200 and first["sources_polled"] == 200

        async def poll_tasks(run_id: str) -> list:
            async with get_client() as client:
                tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
                return [t for t in tasks if t.name.startswith("poll ")]
        polled = asyncio.run(poll_tasks(first["run_id"]))
        batches_of_200 = -(-200 // BATCH_SOURCES)
        assert len(polled) == batches_of_200 and all(t.state.is_completed() for t in polled), [t.name for t in polled]
        assert sum(int(t.name.rsplit("(", 1)[1].split()[0]) for t in polled) == 200
        rows = table(run_artifacts(first["run_id"])["source-health"])
        assert sorted(r["name"] for r in rows) == sorted(s["name"] for s in sources)

        again = asyncio.run(ingest(config_path=str(cfg), force=True))
        assert again["new_articles"] == 0 and all(r["not_modified"] for r in again["sources"])
        visited: list[object] = []     # the summary of 200 sources is one object to Prefect's walk for futures
        visit_collection(again, visit_fn=lambda x: visited.append(x) or x, return_data=False)
        assert len(visited) == 1 and len(again["sources"]) == 200
        assert dict(pickle.loads(pickle.dumps(again))) == dict(again)      # result storage pickles it whole
        shown = run_artifacts(again["run_id"])    # nothing new: no empty new-articles table, the rest as always
        assert "new-articles" not in shown and "new articles: **0**" in shown["ingest-summary"].data
        assert sorted(r["name"] for r in table(shown["source-health"])) == sorted(s["name"] for s in sources)
        unchanged = [m for m in run_logs(again["run_id"]) if " sources not modified: " in m]
        assert len(unchanged) == batches_of_200
        assert sorted(n for m in unchanged for n in m.split(": ", 1)[1].split(", ")) == sorted(s["name"] for s in sources)
        with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
            fetched = con.execute("SELECT count(*), count(*) FILTER (WHERE not_modified) FROM fetches "
                                  "WHERE run_id = ?", [again["run_id"]]).fetchone()
            assert fetched == (200, 200)              # the feeds only, every one unchanged: no page fetched
            assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 200
            assert con.execute("SELECT count(*) FROM articles WHERE run_id = ?", [again["run_id"]]).fetchone()[0] == 0


def test_a_silent_source_is_emailed_once_when_asked(server, tmp_path: Path):
    """alerts.email_silent_sources: the alerts cycle mails one message per silence (a real SMTP server on
    loopback), not again on the next cycle, and the subject cannot be forged by the source's name: the config
    refuses a name over two lines, and `compose_silent` keeps one on one line all the same (a warehouse's
    `sources` table may hold a name from before the rule)."""
    from aiosmtpd.controller import Controller

    from app.devserver import free_port
    from flows.alerts import run_alerts
    from tests.test_alerts import Inbox

    site = tmp_path / "site"
    then = datetime.now(UTC) - timedelta(days=10)
    url = publish(site, server.base, "feed", [(f"old-{i}", then - timedelta(days=i)) for i in range(4)])
    port = free_port()
    alerts = f"""
[alerts]
email_to = ["analyst@example.org"]
email_silent_sources = true

{smtp_toml(port)}
[[watchlists]]
name = "kfor"
any = ["KFOR"]
"""
    from balkanwatch.emails import compose_silent

    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(alerts + toml_sources([{"name": "Wire\r\nBcc: x@evil.example", "feed": url}])),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="must be one line of text"):
        load_config(cfg)
    forged = compose_silent({"name": "Wire\r\nBcc: x@evil.example", "silent_since": then, "usual_gap_minutes": 60,
                             "last_new_item_at": then, "location": url}, "bw@example.org", ["a@example.org"], then)
    assert "\nBcc:" not in forged.raw.decode().split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    assert "source silent: Wire Bcc: x@evil.example" in forged.subject
    cfg.write_text(loopback_config(alerts + toml_sources([{"name": "Wire Bcc: x@evil.example", "feed": url}])),
                   encoding="utf-8")
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.run(run_ingest(load_config(cfg)))     # the newest item is ten days old: silent at once
        assert [r["health"] for r in health(cfg).values()] == ["silent"]
        box.messages.clear()                          # the ingest's own alerts cycle may have sent it already
        with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
            con.execute("DELETE FROM outbox")         # …so start from an empty outbox to count this cycle's
        first = run_alerts(load_config(cfg))
        second = run_alerts(load_config(cfg))
    finally:
        controller.stop()
    assert first.sent == 1 and second.sent == 0 and len(box.messages) == 1
    raw = box.messages[0][2].decode()
    subject = next(line for line in raw.splitlines() if line.startswith("Subject:"))
    assert "source silent: Wire" in subject and box.messages[0][1] == ["analyst@example.org"]
    assert "\nBcc:" not in raw.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")


def watched_ingest(tmp_path: Path, server: LoopbackServer) -> tuple[Path, int]:
    """A feed of three items, an ingest every 10 minutes watched by the alerts (six periods: an hour), e-mail
    to an SMTP port on loopback: (the config, the port)."""
    from app.devserver import free_port

    now = datetime.now(UTC)
    url = publish(tmp_path / "site", server.base, "feed", [(f"item-{i}", now - timedelta(hours=i)) for i in range(3)])
    port = free_port()
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config(f"""
[schedule]
ingest_every_minutes = 10

[alerts]
email_to = ["analyst@example.org"]
ingest_stall_periods = 6

{smtp_toml(port)}
[[watchlists]]
name = "quiet"
any = ["zzzunmatched"]
""" + toml_sources([{"name": "wire", "feed": url}])), encoding="utf-8")
    return cfg, port


def mails(box: Any) -> list[tuple[str, str]]:
    """(Subject line, whole text) of each message the SMTP server got, in order."""
    texts = [raw.decode() for _, _, raw in box.messages]
    return [(next(line for line in t.splitlines() if line.startswith("Subject:")), t) for t in texts]


@contextmanager
def watched_inbox(tmp_path: Path, server: LoopbackServer) -> Iterator[tuple[Path, Any]]:
    """`watched_ingest`'s config after a first ingest, with an SMTP server on its port keeping every message:
    (the config, the server's inbox)."""
    from aiosmtpd.controller import Controller

    from tests.test_alerts import Inbox

    cfg, port = watched_ingest(tmp_path, server)
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert asyncio.run(run_ingest(load_config(cfg))).status == "completed"
        yield cfg, box
    finally:
        controller.stop()


def test_a_stalled_ingest_is_emailed_once_by_the_scheduled_alerts_run(server, tmp_path: Path):
    """alerts.ingest_stall_periods: when no ingest run has completed for that many periods of the schedule, the
    alerts deployment's cycle mails one message (a real SMTP server on loopback) naming when the last one
    did, once per stall; not before the periods have passed, not from a manual `alert`, and again for a new
    stall after ingest ran again."""

    from flows.alerts import run_alerts
    from warehouse.store import utcnow

    with watched_inbox(tmp_path, server) as (cfg, box):
        done = utcnow()
        config = load_config(cfg)

        def cycle(minutes: float, scheduled: bool = True) -> int:
            return run_alerts(config, done + timedelta(minutes=minutes), scheduled=scheduled).sent

        assert cycle(50) == 0                                   # five periods: not yet
        assert cycle(70, scheduled=False) == 0                  # a manual `alert` never checks
        assert cycle(70) == 1 and cycle(90) == 0                # six periods: once for this stall
        assert asyncio.run(run_ingest(load_config(cfg), force=True)).status == "completed"
        again = utcnow()                                        # ingest ran again: said once, no stall for an hour
        assert run_alerts(config, again + timedelta(minutes=50), scheduled=True).sent == 1
        assert run_alerts(config, again + timedelta(minutes=55), scheduled=True).sent == 0
        assert run_alerts(config, again + timedelta(minutes=61), scheduled=True).sent == 1   # a new stall
    (subject, first), (back, _), (later, _) = mails(box)
    assert "no ingest has completed for 1 h" in subject
    assert f"since {done:%Y-%m-%d}" in first and "completed." in first     # the newest run and its status
    assert "ingest is running again (after" in back and "no ingest has completed" in later


def test_runs_that_complete_but_read_no_source_are_emailed_as_a_stall(server, tmp_path: Path):
    """The machine's network goes (DNS, a proxy): every run still completes, with every source failing, so
    no run ever "stalled" and nobody was told while the alerts saw nothing. A run in which every polled
    source failed no longer counts as a completed one for the stall check, and the e-mail says what it is."""

    from flows.alerts import run_alerts
    from warehouse.store import utcnow

    with watched_inbox(tmp_path, server) as (cfg, box):
        read = utcnow()                                         # the last run that read a source
        time.sleep(1)
        server.stop()                                           # every source unreachable from now on
        for _ in range(2):
            blind = asyncio.run(run_ingest(load_config(cfg), force=True))
            assert blind.status == "completed" and blind.sources_failed == blind.sources_polled == 1
        # between the last read and the last (blind) completed run: six periods after the one, not the other
        between = read + (utcnow() - read) / 2
        config = load_config(cfg)
        assert run_alerts(config, between + timedelta(minutes=59), scheduled=True).sent == 0
        assert run_alerts(config, between + timedelta(minutes=60), scheduled=True).sent == 1
        assert run_alerts(config, between + timedelta(minutes=80), scheduled=True).sent == 0   # once
    assert len(box.messages) == 1
    mail = box.messages[0][2].decode()
    assert "every source has failed for 1 h: ingest sees nothing" in mail
    assert "polled 1 source and every one failed, e.g. wire:" in mail


def test_a_warehouse_the_scheduled_alerts_cannot_use_is_emailed_once_per_outage(prefect_server, server,
                                                                               tmp_path: Path):
    """When the scheduled alerts cycles cannot use the warehouse (here a notebook keeps the file open for
    writing), the stall e-mail cannot be queued: the outbox is in the warehouse. The first failing cycle starts
    an outage (a Prefect Variable), and once it has lasted alerts.ingest_stall_periods of the schedule one
    e-mail goes out straight over SMTP (a real server on loopback), naming the error; a cycle that uses the
    warehouse again ends the outage, and the next outage is mailed again."""
    from aiosmtpd.controller import Controller
    from prefect.variables import Variable

    from balkanwatch.errors import WarehouseInUseError
    from flows.alerts import outage_variable, run_alerts
    from tests.hostile.test_file_held import notebook
    from tests.test_alerts import Inbox

    cfg, port = watched_ingest(tmp_path, server)
    cfg.write_text(cfg.read_text().replace("lock_timeout = 30", "lock_timeout = 0.5"), encoding="utf-8")
    config = load_config(cfg)
    assert asyncio.run(run_ingest(config)).status == "completed"
    start = datetime(2026, 12, 6, 8, 0)
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()

    def cycle(minutes: float) -> None:
        run_alerts(config, start + timedelta(minutes=minutes), scheduled=True)

    try:
        held = notebook(tmp_path / "wh.duckdb", "read-write")
        try:
            for minutes in (0, 50):                     # an outage, not yet six periods long
                with pytest.raises(WarehouseInUseError):
                    cycle(minutes)
            assert box.messages == [] and Variable.get(outage_variable(config))["since"] == start.isoformat()
            for minutes in (61, 70):                    # six periods: one e-mail, not one a cycle
                with pytest.raises(WarehouseInUseError):
                    cycle(minutes)
            assert len(box.messages) == 1
        finally:
            held.kill()
            held.wait()
        cycle(80)                                       # the warehouse is back: the outage is over
        assert Variable.get(outage_variable(config)) is None
        held = notebook(tmp_path / "wh.duckdb", "read-write")
        try:
            for minutes in (90, 151):                   # a new outage, mailed once it is an hour old
                with pytest.raises(WarehouseInUseError):
                    cycle(minutes)
        finally:
            held.kill()
            held.wait()
        cycle(160)
    finally:
        controller.stop()
    (subject, first), (back, _), (second, later), (back_again, _) = mails(box)
    assert "the warehouse cannot be used (for 1 h)" in subject and "the warehouse can be used again" in back
    assert "the warehouse cannot be used" in second and "the warehouse can be used again" in back_again
    assert "Since 2026-12-06 08:00 UTC" in first and "is open in another program" in first
    assert "Message-ID: <unreachable-20261206T080000000000@balkanwatch>" in first
    assert "unreachable-20261206T093000000000" in later


def test_only_a_deployment_run_of_the_alerts_flow_checks_for_a_stalled_ingest(prefect_server, server, tmp_path: Path):
    """The alerts flow run from a deployment (as `serve` and workers run it: the engine given the deployment's
    flow run) checks for a stalled ingest; the same flow called directly (`balkanwatch alert`) does not."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from flows.alerts import alerts

    url = publish(tmp_path / "site", server.base, "feed", [("item-0", datetime.now(UTC))])
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(loopback_config('[[watchlists]]\nname = "quiet"\nany = ["zzzunmatched"]\n\n'
                                   + toml_sources([{"name": "wire", "feed": url}])), encoding="utf-8")
    assert asyncio.run(run_ingest(load_config(cfg))).status == "completed"

    async def deployment_run():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("alerts")
            dep_id = await client.create_deployment(flow_id=flow_id, name=f"stall-{tmp_path.name}",
                                                    parameters={"config_path": str(cfg)})
            return dep_id, await client.create_flow_run_from_deployment(dep_id)

    dep_id, flow_run = asyncio.run(deployment_run())
    try:
        served = run_flow(alerts, flow_run=flow_run, parameters={"config_path": str(cfg)})
        called = alerts(config_path=str(cfg))
    finally:
        async def drop() -> None:
            async with get_client() as client:
                await client.delete_deployment(dep_id)
        asyncio.run(drop())
    assert served["ingest_checked"] and not served["ingest_stalled"]    # the ingest just completed
    assert not called["ingest_checked"]


def test_the_extractor_reads_the_learned_templates_once_at_its_first_page() -> None:
    """An unchanged re-poll extracts nothing and so never reads the templates (issue #15); the first pages,
    extracted at once, wait for one read and are extracted with what it gave."""
    from connectors.extract import PageJob
    from flows.poll import Extractor

    reads: list[int] = []

    async def load() -> dict:
        reads.append(1)
        await asyncio.sleep(0.05)     # the pages asking meanwhile wait for this read, not a read of their own
        return {}

    async def run() -> list:
        ex = Extractor(0, load_templates=load)
        await asyncio.sleep(0)
        assert reads == [] and ex.templates == {}
        now = datetime(2026, 11, 1, tzinfo=UTC)
        jobs = [PageJob(source="s", url=f"https://herald.example/a/{i}", final_url=f"https://herald.example/a/{i}",
                        body=text_page(f"Patrol {i}", i).encode(), encoding="utf-8", fetched_at=now) for i in range(3)]
        out = await asyncio.gather(*(ex.extract(j) for j in jobs))
        out.append(await ex.extract(jobs[0]))
        return out

    out = asyncio.run(run())
    assert reads == [1] and all(not isinstance(a, str) and a.title.startswith("Patrol") for a in out)


def test_runs_in_one_process_share_the_workers_and_a_dead_worker_fails_only_its_page() -> None:
    """The extraction workers outlive a run for the next run in the same process (spawning and importing
    trafilatura costs ~1.4 s of CPU a worker); a worker that dies (killed, out of memory) fails the page it
    held with a clear message, and the next page gets a new pool."""
    import os
    import signal

    from connectors.extract import PageJob
    from flows.poll import Extractor

    now = datetime(2026, 11, 1, tzinfo=UTC)
    jobs = [PageJob(source="s", url=f"https://herald.example/w/{i}", final_url=f"https://herald.example/w/{i}",
                    body=text_page(f"Convoy {i}", i).encode(), encoding="utf-8", fetched_at=now) for i in range(3)]
    size = 3                                    # no other test's size: this test's own pool

    def one_run(job: PageJob) -> tuple[object, object]:
        """A run's extractor: (its pool, what it made of `job`)."""
        async def run() -> tuple[object, object]:
            ex = Extractor(size)
            try:
                return await ex.extract(job), ex.pool
            finally:
                ex.close()
        return asyncio.run(run())

    got, pool = one_run(jobs[0])
    assert not isinstance(got, str) and got.title == "Convoy 0"
    got, same = one_run(jobs[1])
    assert same is pool and not isinstance(got, str) and got.title == "Convoy 1"   # the next run's workers
    workers = list(pool._processes)             # type: ignore[attr-defined]
    assert len(workers) == size
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    dead, _ = one_run(jobs[2])
    assert isinstance(dead, str) and "extraction worker died" in dead
    got, fresh = one_run(jobs[2])
    assert fresh is not pool and not isinstance(got, str) and got.title == "Convoy 2"


def test_the_warehouse_gate_holds_between_close_loads_and_lets_readers_in(write_config, monkeypatch) -> None:
    """A run's loads that follow each other within the idle time share one session (each close is a DuckDB
    checkpoint, dearer the more the run has appended); a reader waits while it is held, gets in once the
    run has been idle that long, and also between two loads once a session has been held for max_hold."""
    from flows.poll import WarehouseGate
    from warehouse.store import Warehouse, WarehouseError

    config = load_config(write_config(toml_sources([{"name": "s", "feed": "http://127.0.0.1:9/feed.xml"}])))
    opened: list[float] = []
    real = Warehouse.for_config

    def counted(*args, **kwargs):   # the real warehouse, counted
        opened.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(Warehouse, "for_config", staticmethod(counted))

    def reader_gets_in() -> bool:
        try:
            with Warehouse.open(config.warehouse_path, read_only=True, lock_timeout=0.05) as wh:
                return wh.version() > 0
        except WarehouseError:
            return False

    async def scenario() -> dict[str, object]:
        gate = WarehouseGate(config)
        gate.idle_close, gate.max_hold = 1.0, 1.5
        seen: dict[str, object] = {}
        for _ in range(3):                               # loads 0.1 s apart: one session
            async with gate.open() as wh:
                wh.version()
            await asyncio.sleep(0.1)
        seen["held"] = await asyncio.to_thread(reader_gets_in)
        seen["sessions while close"] = len(opened)
        await asyncio.sleep(1.6)                         # idle longer than idle_close: released
        seen["after idle"] = await asyncio.to_thread(reader_gets_in)
        opened.clear()
        start = time.monotonic()
        released_between_loads = False
        while time.monotonic() - start < 2.5:            # loads back to back for longer than max_hold
            async with gate.open() as wh:
                wh.version()
            released_between_loads |= gate._session is None   # right after a use: max_hold, not the idle timer
            await asyncio.sleep(0.1)
        seen["released between loads"] = released_between_loads
        seen["sessions in 2.5 s of loads"] = len(opened)
        gate.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen["sessions while close"] == 1 and seen["held"] is False, seen
    assert seen["after idle"] is True, seen
    assert seen["released between loads"] is True and seen["sessions in 2.5 s of loads"] >= 2, seen


def test_pages_a_busy_host_cannot_serve_in_time_wait_for_the_next_run(tmp_path: Path) -> None:
    """A first poll lists 30 pages of one host that takes one request at a time, 0.2 s apart. Before, every
    page still queued when the whole-request deadline (3 × timeout) ran out failed ("deadline exceeded"),
    and failed again each run until its attempts ran out. Now a page waits fetch.host_queue_seconds for its
    turn at most and is left for the next run: not a failure, not counted against it; the source's health
    says how many wait. A few runs bring all 30."""
    root = tmp_path / "site"
    root.mkdir()
    now = datetime.now(UTC)
    with LoopbackServer(root) as srv:
        url = publish(root, srv.base, "feed", [(f"busy-{i}", now - timedelta(hours=5 * i)) for i in range(30)])
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text('[warehouse]\npath = "wh.duckdb"\n[fetch]\nallow_private_networks = true\n'
                       'per_host_concurrency = 1\nper_host_delay = 0.2\nretries = 0\ntimeout = 0.5\n'
                       'host_queue_seconds = 2\n[ingest]\nextract_workers = 1\n'
                       + toml_sources([{"name": "busy", "feed": url}]), encoding="utf-8")
        config = load_config(cfg)
        first = asyncio.run(run_ingest(config))
        assert first.item_errors == 0 and 5 <= first.new_articles < 30, first.as_dict()
        waiting = 30 - first.new_articles
        row = health(cfg)["busy"]
        assert row["last_warning"].startswith(f"{waiting} pages left for the next run")
        # it publishes every 5 h, so it would be polled again in hours: with pages waiting, in 5 minutes
        assert row["next_poll_at"] - row["last_attempt_at"] <= timedelta(minutes=5, seconds=5)
        total, runs = first.new_articles, 1
        while total < 30 and runs < 8:
            again = asyncio.run(run_ingest(config, force=True))
            assert again.item_errors == 0 and again.new_articles > 0
            total, runs = total + again.new_articles, runs + 1
        row = health(cfg)["busy"]
        assert total == 30 and row["last_warning"] is None
        assert row["next_poll_at"] - row["last_attempt_at"] > timedelta(hours=1)   # nothing waits: its own pace
    with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM failed_items").fetchone() == (0,)
        assert con.execute("SELECT count(DISTINCT url) FROM articles").fetchone() == (30,)
