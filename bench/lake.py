"""DuckLake against the DuckDB file (issue #16), on the same served pages, in the same run, interleaved.

Small synthetic articles (bench/many_feeds.py's, so the warehouse's share of the work shows) in FEEDS feeds
on four loopback hosts, two in each shard of two, served by a child process as remote sites would be. The
lake's catalog is a throwaway PostgreSQL on loopback (tests/postgres.py), started here. Every round on
fresh warehouses, created (`warehouse init`) before the clock starts, as a desk does once before its
workers start:

- (a) `run_ingest` (the `--no-prefect` path) in this process, into the file and into a lake;
- (b) one `ingest --no-prefect` process loading everything into a lake, against two load-only shard
  processes (`ingest --shard K/2 --no-settle`) started at once and then one `settle`, into another lake;
- (c) on (a)'s two warehouses, the search index built (`rebuild_fts`, what `reindex` runs), then a reader's
  queries: a `topic_counts` window (the unique stories per topic
  and hour of the alerts flow's 28 days) and `search` (BM25; the file's FTS index, the lake's local one),
  each QUERY_REPEATS times, interleaved, in an open read-only session, plus opening that session.

Medians of ROUNDS rounds (the order of file and lake swapped every round). `python -m bench.lake`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from balkanwatch.config import Config, load_config
from balkanwatch.sharding import shard_of
from bench.many_feeds import sources_toml, write_feeds, write_sites
from bench.throughput import ServedSites

ROOT = Path(__file__).resolve().parent.parent
FEEDS = 60               # 300 pages: a lake ingest ~15 s here, so the module stays under ~3 minutes; below
PAGES_PER_FEED = 5       # health.FTS_MIN_TAIL (500), so no ingest builds its search index: built after, timed apart
ROUNDS = 2
QUERY_REPEATS = 15
SEARCHES = ("border patrol", "election")
WATCHLISTS = """
[[watchlists]]
name = "border"
any = ["border", "checkpoint"]

[[watchlists]]
name = "vote"
any = ["election"]
all_of_any = [["parliament", "council"]]
"""
TOPIC_WINDOW = """SELECT watchlist, bucket, stories FROM topic_counts WHERE bucket >= ?
                  ORDER BY watchlist, bucket"""


def hosts_per_shard(count: int = 2) -> list[str]:
    """Loopback hosts, `count` in each of the two shards (the shard is a hash of the host name)."""
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for i in itertools.count(1):
        host = f"127.0.0.{i}"
        if len(by_shard[shard_of(f"http://{host}/", 2)]) < count:
            by_shard[shard_of(f"http://{host}/", 2)].append(host)
        if all(len(v) == count for v in by_shard.values()):
            return by_shard[0] + by_shard[1]
    raise AssertionError("unreachable")


class Bench:
    """The served sites, the PostgreSQL for catalogs, and fresh configs on either backend."""

    def __init__(self, folder: Path, createdb: Callable[[str], str], sources: str) -> None:
        self.folder, self.createdb, self.sources = folder, createdb, sources

    def config(self, name: str, *, lake: bool, catalog: Callable[[str], str] = lambda c: c,
               data_path: str = "", extra: str = "") -> Config:
        """A fresh warehouse `name`, created (schema applied) before any clock starts. A lake's catalog
        string goes through `catalog` (bench/lake_remote.py: another port), its data path is `data_path`
        (default a folder beside the config), `extra` adds `[warehouse]` lines."""
        from warehouse import Warehouse

        where = (f'backend = "ducklake"\ncatalog = "{catalog(self.createdb(name))}"\n'
                 f'data_path = "{data_path or name + "-data"}"\nsearch_index = "{name}-search.duckdb"'
                 if lake else f'path = "{name}.duckdb"') + (f"\n{extra}" if extra else "")
        path = self.folder / f"{name}.toml"
        path.write_text(f"""[warehouse]\n{where}\nlock_timeout = 120\n
[fetch]\nallow_private_networks = true\nper_host_concurrency = 8\nper_host_delay = 0.0\n
[ingest]\nextract_workers = 2\nmax_items_per_source = 1000\n{WATCHLISTS}\n{self.sources}""", encoding="utf-8")
        config = load_config(path)
        with Warehouse.for_config(config):
            pass
        return config


def in_process(config: Config) -> float:
    """(a): one `run_ingest`, seconds."""
    from flows.ingest import run_ingest

    t0 = time.perf_counter()
    summary = asyncio.run(run_ingest(config))
    assert summary.status == "completed", summary.note
    return time.perf_counter() - t0


def cli(config: Config, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(config.path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finished(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args} failed: {err[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def one_process(config: Config) -> float:
    """(b), the reference: one process loading and settling everything, seconds (interpreter included)."""
    t0 = time.perf_counter()
    assert finished(cli(config, "ingest", "--no-prefect", "--json"))["status"] == "completed"
    return time.perf_counter() - t0


def two_shards(config: Config) -> tuple[float, float, int]:
    """(b): two load-only shard processes at once, then `settle`: (seconds in all, of them the loads, the
    smaller shard's share of the new articles)."""
    t0 = time.perf_counter()
    procs = [cli(config, "ingest", "--no-prefect", "--json", "--shard", f"{k}/2", "--no-settle") for k in range(2)]
    loads = [finished(p) for p in procs]
    loaded = time.perf_counter() - t0
    assert [d["status"] for d in loads] == ["completed", "completed"], loads
    assert finished(cli(config, "settle", "--no-prefect", "--json"))["status"] == "completed"
    return time.perf_counter() - t0, loaded, min(d["new_articles"] for d in loads)


def landed(config: Config) -> tuple[int, int, int]:
    """(articles, distinct article ids, articles without a story) in a warehouse."""
    from warehouse import Warehouse

    with Warehouse.for_config(config, read_only=True) as wh:
        row = wh.query("SELECT count(*), count(DISTINCT article_id), count(*) FILTER (story_id IS NULL) "
                       "FROM articles")[1][0]
    return int(row[0]), int(row[1]), int(row[2])


@contextmanager
def reader(config: Config, opened: list[float]) -> Iterator[Any]:
    """A read-only session, its opening time appended to `opened`."""
    from warehouse import Warehouse

    t0 = time.perf_counter()
    with Warehouse.for_config(config, read_only=True) as wh:
        opened.append(time.perf_counter() - t0)
        yield wh


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def build_index(config: Config) -> float:
    """(c): `rebuild_fts` (the file's FTS index, the lake's local one), seconds."""
    from warehouse import Warehouse

    with Warehouse.for_config(config) as wh:
        return timed(wh.rebuild_fts)[0]


def queries(file: Config, lake: Config, times: dict[str, list[float]]) -> dict[str, bool]:
    """(c): the topic window and the searches on both, interleaved; whether both answered the same."""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=28)
    answers: dict[str, dict[str, Any]] = {"file": {}, "lake": {}}
    with reader(file, times["open_file"]) as f, reader(lake, times["open_lake"]) as k:
        for _ in range(QUERY_REPEATS):
            for name, wh in (("file", f), ("lake", k)):
                seconds, rows = timed(lambda wh=wh: [tuple(r.values()) for r in wh.rows(TOPIC_WINDOW, [since])])
                times[f"topics_{name}"].append(seconds)
                answers[name]["topics"] = rows
                for q in SEARCHES:
                    seconds, hits = timed(lambda wh=wh, q=q: wh.search(q))
                    times[f"search_{name}"].append(seconds)
                    answers[name][q] = [h["score"] for h in hits]
        indexed = f.has_fts() and k.has_fts()
    same = {key: answers["file"][key] == answers["lake"][key] for key in answers["file"]}
    return {"same_topics": same.pop("topics") and bool(answers["file"]["topics"]),
            "same_scores": all(same.values()) and all(answers["file"][q] for q in SEARCHES), "indexed": indexed}


def measure() -> dict[str, Any]:
    """Every measurement ROUNDS times, interleaved; medians, and what every run landed."""
    from tests.postgres import postgres_bin, running_postgres

    if postgres_bin() is None:
        return {"skipped": "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                           "apt-get install postgresql"}
    times: dict[str, list[float]] = {k: [] for k in (
        "file", "lake", "index_file", "index_lake", "one_process", "shards", "shard_loads", "open_file", "open_lake", "topics_file",
        "topics_lake", "search_file", "search_lake")}
    landings: list[tuple[int, int, int]] = []
    flags: list[dict[str, bool]] = []
    smaller_shard = []
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as pg:
        folder, hosts = Path(tmp), hosts_per_shard()
        roots = write_sites(folder, len(hosts), FEEDS, PAGES_PER_FEED, seed=16)
        sites = ServedSites(roots, hosts)
        try:
            feeds = write_feeds(roots, sites.bases, FEEDS, PAGES_PER_FEED, datetime.now(UTC), minutes_per_feed=7)
            bench = Bench(folder, pg.createdb, sources_toml(feeds))
            for i in range(ROUNDS):
                file, lake = bench.config(f"file{i}", lake=False), bench.config(f"lake{i}", lake=True)
                for name, cfg in (("file", file), ("lake", lake))[::1 if i % 2 == 0 else -1]:
                    times[name].append(in_process(cfg))
                for name, cfg in (("file", file), ("lake", lake)):
                    times[f"index_{name}"].append(build_index(cfg))
                single, sharded = bench.config(f"single{i}", lake=True), bench.config(f"sharded{i}", lake=True)
                times["one_process"].append(one_process(single))
                total, loads, smaller = two_shards(sharded)
                times["shards"].append(total)
                times["shard_loads"].append(loads)
                smaller_shard.append(smaller)
                landings += [landed(c) for c in (file, lake, single, sharded)]
                flags.append(queries(file, lake, times))
        finally:
            sites.close()
    out: dict[str, Any] = {k: median(v) for k, v in times.items()}
    pages = FEEDS * PAGES_PER_FEED
    out.update(pages=pages, feeds=FEEDS, rounds=ROUNDS, query_repeats=QUERY_REPEATS, runs=len(landings),
               every_page_once=all(n == ids == pages and unassigned == 0 for n, ids, unassigned in landings),
               landed=sorted({n for n, _, _ in landings}), smaller_shard=min(smaller_shard),
               same_topics=all(f["same_topics"] for f in flags), same_scores=all(f["same_scores"] for f in flags),
               indexed=all(f["indexed"] for f in flags),
               ingest_ratio=out["lake"] / out["file"], shard_ratio=out["shards"] / out["one_process"],
               topics_ratio=out["topics_lake"] / out["topics_file"], search_ratio=out["search_lake"] / out["search_file"],
               open_ratio=out["open_lake"] / out["open_file"], index_ratio=out["index_lake"] / out["index_file"])
    return out


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    print(json.dumps(measure(), indent=1))
