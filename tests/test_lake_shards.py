"""Shard runs loading into one lake at the same time (issue #16), on a real PostgreSQL catalog.

Two load-only shard runs (`ingest --shard K/2 --no-settle`, real processes) started at once fetch and
extract side by side and take turns only for their commits (the catalog's writer lock around each
transaction): their runs overlap in time, every article is stored once — also one that feeds of both shards
list — and one `settle` afterwards gives the story partition of a single run into a DuckDB file. `kill -9` of
one of the two mid-load, then its re-run: nothing lost, nothing doubled.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from balkanwatch.config import load_config
from balkanwatch.sharding import shard_of
from tests.conftest import loopback_config, toml_sources
from tests.test_polling import loopback_hosts, publish, rss
from warehouse import Warehouse
from warehouse.lake import LakeTarget, connect_lake
from warehouse.store import retry_conflicts

ROOT = Path(__file__).resolve().parent.parent
_names = itertools.count()
FEEDS_PER_HOST, ITEMS_PER_FEED = 2, 4
# The killed shard's extra feed: at per_host_delay 0.4 s its host is still fetching (~15 s) when the shard's
# other host is done and committed (a lake commits a batch's sources every warehouse.load_seconds), so the kill
# comes mid-load, after a commit and before the last.
SLOW_ITEMS = 30


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def shard_load(cfg: Path, k: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect",
                             "--json", "--force", "--shard", f"{k}/2", "--no-settle"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)    # its own process group: kill -9 takes its workers too


@pytest.fixture
def shard_sites(tmp_path: Path) -> Iterator[tuple[list[dict[str, str]], int, dict[int, tuple[Path, Any]]]]:
    """Feeds on four loopback hosts (both shards), plus one feed per shard listing the same page of a third
    host: (sources, distinct article URLs, a host's (folder, server) per shard)."""
    now = datetime.now(UTC)
    sources: list[dict[str, str]] = []
    with loopback_hosts(tmp_path) as hosts:
        for h, root, srv in hosts:
            for f in range(FEEDS_PER_HOST):
                items = [(f"h{h}-f{f}-{i}", now - timedelta(minutes=30 * i)) for i in range(ITEMS_PER_FEED)]
                sources.append({"name": f"host{h}-feed{f}",
                                "feed": publish(root, srv.base, f"feed{f}", items, seed=h * 10 + f)})
        by_shard = {shard_of(srv.base, 2): (root, srv) for _, root, srv in hosts}
        assert sorted(by_shard) == [0, 1], "the four hosts should fall in both shards"
        target = hosts[0][2]
        shared_item = [("h1-f0-0", now)]          # a page of host 1, listed again by a feed in each shard
        for k, (root, srv) in sorted(by_shard.items()):
            (root / "also.xml").write_text(rss(target.base, shared_item), encoding="utf-8")
            sources.append({"name": f"also-shard{k}", "feed": f"{srv.base}/also.xml"})
        yield sources, len(hosts) * FEEDS_PER_HOST * ITEMS_PER_FEED, by_shard


def lake_cfg(postgres, tmp_path: Path, sources: list[dict[str, str]], folder: str,  # type: ignore[no-untyped-def]
             delay: float) -> Path:
    catalog = postgres.createdb(f"shards{next(_names)}")
    (tmp_path / folder).mkdir()
    cfg = tmp_path / folder / "balkanwatch.toml"
    text = loopback_config(toml_sources(sources)).replace("per_host_delay = 0.0", f"per_host_delay = {delay}")
    cfg.write_text(text.replace('path = "wh.duckdb"', f'backend = "ducklake"\ncatalog = "{catalog}"\n'
                                'data_path = "lake-data"'), encoding="utf-8")
    assert cli(cfg, "warehouse", "init").returncode == 0
    return cfg


def partition(rows: list[dict[str, object]]) -> set[tuple[str, ...]]:
    return {tuple(sorted(r["urls"])) for r in rows}  # type: ignore[call-overload]


STORIES = "SELECT list(url) AS urls FROM articles GROUP BY story_id"


def test_two_shard_loads_at_once_share_the_lake(postgres, shard_sites, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sources, n, _ = shard_sites
    file_cfg = tmp_path / "file" / "balkanwatch.toml"
    file_cfg.parent.mkdir()
    file_cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
    assert cli(file_cfg, "ingest", "--no-prefect", "--force").returncode == 0
    with Warehouse.for_config(load_config(file_cfg), read_only=True) as wh:
        single = partition(wh.rows(STORIES))

    cfg = lake_cfg(postgres, tmp_path, sources, "lake", delay=0.3)
    procs = [shard_load(cfg, k) for k in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    done = [json.loads(o[0]) for o in outs]
    assert [d["status"] for d in done] == ["completed", "completed"] and all(d["new_articles"] for d in done)
    config = load_config(cfg)
    with Warehouse.for_config(config, read_only=True) as wh:
        runs = wh.rows("SELECT started_at, finished_at FROM runs ORDER BY started_at")
        counts = wh.rows("""SELECT count(*) AS rows, count(DISTINCT article_id) AS ids,
                                   count(*) FILTER (WHERE story_id IS NULL) AS unsettled FROM articles""")[0]
    assert len(runs) == 2 and runs[1]["started_at"] < runs[0]["finished_at"], f"the loads did not overlap: {runs}"
    assert counts == {"rows": n, "ids": n, "unsettled": n}      # the page both shards listed: once
    assert sum(d["new_articles"] for d in done) == n

    settled = cli(cfg, "settle", "--no-prefect", "--json")
    assert settled.returncode == 0, settled.stderr[-2000:]
    with Warehouse.for_config(config, read_only=True) as wh:
        assert partition(wh.rows(STORIES)) == single
        assert wh.rows("SELECT count(*) AS n FROM articles WHERE story_id IS NULL") == [{"n": 0}]


def test_kill_9_of_one_of_two_shard_loads_then_its_rerun(postgres, shard_sites, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sources, n, by_shard = shard_sites
    root, srv = by_shard[0]
    slow = [(f"slow-{i}", datetime.now(UTC) - timedelta(minutes=10 * i)) for i in range(SLOW_ITEMS)]
    sources, n = [*sources, {"name": "slow-shard0", "feed": publish(root, srv.base, "slow", slow, seed=99)}], n + SLOW_ITEMS
    cfg = lake_cfg(postgres, tmp_path, sources, "killed", delay=0.4)
    config = load_config(cfg)
    mine = [s["name"] for s in sources if shard_of(s["feed"], 2) == 0]
    victim, other = shard_load(cfg, 0), shard_load(cfg, 1)
    deadline = time.monotonic() + 120
    loaded = 0
    while loaded == 0 and time.monotonic() < deadline:      # kill once the victim has committed something
        time.sleep(0.2)
        with Warehouse.for_config(config, read_only=True) as wh:
            loaded = wh.rows("SELECT count(*) AS n FROM articles WHERE list_contains(?, source)", [mine])[0]["n"]
    assert loaded, "shard 0 loaded nothing in two minutes"
    os.killpg(victim.pid, signal.SIGKILL)      # the shard and its extraction workers, as a dying machine
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0 and json.loads(out)["status"] == "completed", err[-2000:]

    rerun = cli(cfg, "ingest", "--no-prefect", "--json", "--force", "--shard", "0/2", "--no-settle")
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["status"] == "completed", rerun.stderr[-2000:]
    assert cli(cfg, "settle", "--no-prefect").returncode == 0
    with Warehouse.for_config(config, read_only=True) as wh:
        counts = wh.rows("""SELECT (SELECT count(*) FROM articles) AS rows,
                                   (SELECT count(DISTINCT article_id) FROM articles) AS ids,
                                   (SELECT count(*) FROM raw_pages) AS raw,
                                   (SELECT count(*) FROM articles WHERE story_id IS NULL) AS unsettled,
                                   (SELECT count(*) FROM runs WHERE status = 'running') AS running,
                                   (SELECT count(*) FROM runs WHERE status = 'crashed') AS crashed""")[0]
    assert counts == {"rows": n, "ids": n, "raw": n, "unsettled": 0, "running": 0, "crashed": 1}


class Bumping(Warehouse):
    """A warehouse with one more write method, for a conflict made on purpose inside its first attempt."""

    attempts = 0

    @retry_conflicts
    def bump(self, other: duckdb.DuckDBPyConnection) -> None:
        self.attempts += 1
        with self.transaction():
            self.con.execute("UPDATE runs SET new_articles = 1 WHERE run_id = 'r1'")
            if self.attempts == 1:   # another writer commits a change to the same rows meanwhile
                other.execute("UPDATE runs SET item_errors = 7 WHERE run_id = 'r1'")


def test_a_write_the_lake_refused_for_a_conflict_is_redone(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = LakeTarget(postgres.createdb(f"conflict{next(_names)}"), f"{tmp_path}/lake-data/")
    with Bumping.open_lake(target) as wh:
        assert isinstance(wh, Bumping)
        wh.start_run("r1", None)
        other = connect_lake(target, read_only=False)
        try:
            wh.bump(other)
        finally:
            other.close()
        assert wh.attempts == 2                 # the first commit was refused, the second went in
        assert wh.rows("SELECT new_articles, item_errors FROM runs WHERE run_id = 'r1'") == [
            {"new_articles": 1, "item_errors": 7}]
