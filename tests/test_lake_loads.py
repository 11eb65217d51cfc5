"""How polled sources reach the warehouse (issue #16, session 13): a lake's commit limits are
`[warehouse]` settings, and a source with more new articles than a chunk hands its chunks to the batch's
load queue (committed with the other sources, under the queue's article limit) instead of committing each
in a transaction of its own. Observed through the lake's own snapshots (one per commit) and on both
backends through what is stored and reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.devserver import LoopbackServer
from balkanwatch.config import load_config
from balkanwatch.errors import ConfigError
from bench.many_feeds import sources_toml, write_feeds, write_sites
from flows.poll import LOAD_CHUNK
from tests.conftest import loopback_config, on_lake, toml_sources

BIG = 2 * LOAD_CHUNK + 20   # two whole chunks and a remainder


def ingest(cfg: Path) -> tuple[int, dict[str, int]]:
    from flows.ingest import run_ingest

    summary = asyncio.run(run_ingest(load_config(cfg), settle=False))   # the loads' commits alone
    assert summary.status == "completed", summary.note
    return summary.new_articles, {s.name: s.new_articles for s in summary.sources}


def article_commits(cfg: Path) -> int:
    """The lake's snapshots that inserted into `articles` (each a load transaction that stored articles)."""
    from warehouse import Warehouse

    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        tid = wh.rows("SELECT table_id FROM ducklake_table_info('lake') WHERE table_name = 'articles'")[0]["table_id"]
        snaps = wh.rows("SELECT changes FROM ducklake_snapshots('lake')")
    inserted = ("tables_inserted_into", "inlined_insert")   # into Parquet files, or inlined in the catalog
    return sum(any(str(tid) in map(str, s["changes"].get(k) or []) for k in inserted) for s in snaps)


def stored(cfg: Path) -> tuple[int, int]:
    from warehouse import Warehouse

    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        row = wh.query("SELECT count(*), count(DISTINCT article_id) FROM articles")[1][0]
    return int(row[0]), int(row[1])


def test_load_limits_are_checked(tmp_path: Path) -> None:
    for bad, message in (("load_articles = 0", "at least 1"), ("load_seconds = -1", "negative"),
                         ("ask_window_seconds = 60", "at most 10")):
        cfg = tmp_path / "c.toml"
        cfg.write_text(loopback_config("").replace('path = "wh.duckdb"', f'path = "wh.duckdb"\n{bad}'))
        with pytest.raises(ConfigError, match=message):
            load_config(cfg)
    cfg.write_text(loopback_config(""))
    w = load_config(cfg).warehouse
    assert (w.load_articles, w.load_seconds, w.ask_window_seconds) == (200, 5.0, 0.05)


def test_a_load_limit_of_one_article_commits_every_source_alone(corpus, postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With a clock that never strikes, the corpus's sources (one batch, fewer articles than the default
    200) go in one commit; with `load_articles = 1` every source with articles commits alone."""
    sources, arts, _ = corpus
    assert len(arts) < 200
    commits = {}
    for name, limits in (("together", "load_seconds = 600"), ("one", "load_articles = 1")):
        cfg = tmp_path / f"{name}.toml"
        text = loopback_config(toml_sources(sources)).replace('path = "wh.duckdb"', f'path = "wh.duckdb"\n{limits}')
        cfg.write_text(on_lake(text, postgres.createdb(f"limits_{name}")).replace(
            'data_path = "lake-data"', f'data_path = "{name}-data"\nsearch_index = "{name}-search.duckdb"'))
        new, per_source = ingest(cfg)
        assert new == len(arts) and stored(cfg) == (len(arts), len(arts))
        commits[name] = article_commits(cfg)
        with_articles = sum(n > 0 for n in per_source.values())
    assert with_articles >= 3
    assert commits == {"together": 1, "one": with_articles}, commits


@pytest.fixture
def big_source(tmp_path: Path):  # type: ignore[no-untyped-def]
    """One feed of BIG new pages on a loopback server: [[sources]] text."""
    roots = write_sites(tmp_path / "big", sites=1, feeds=1, pages_per_feed=BIG, seed=13)
    with LoopbackServer(roots[0]) as srv:
        feeds = write_feeds(roots, [srv.base], 1, BIG, datetime.now(UTC), minutes_per_feed=3)
        yield sources_toml(feeds)


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
@pytest.mark.parametrize(("limit", "commits"), [(200, 1), (100, 2)])
def test_a_large_source_s_chunks_join_the_load_queue(big_source: str, warehouse_backend, limit: int,  # type: ignore[no-untyped-def]
                                                    commits: int, tmp_path: Path) -> None:
    """BIG articles of one source (no clock: load_seconds = 600): every article once and counted as its
    source's, in the run's report and its health. On a lake its chunks wait in the load queue: under a
    limit of 200 one commit stores all (chunks committed on their own made three), and the limit still
    bounds what waits (100: the two chunks, then the rest). The file commits each chunk at once, as before."""
    cfg = tmp_path / "big.toml"
    text = loopback_config(big_source, extra="max_items_per_source = 1000").replace(
        'path = "wh.duckdb"', f'path = "wh.duckdb"\nload_articles = {limit}\nload_seconds = 600')
    cfg.write_text(warehouse_backend(text))
    new, per_source = ingest(cfg)
    assert new == BIG and list(per_source.values()) == [BIG]
    assert stored(cfg) == (BIG, BIG)
    if load_config(cfg).warehouse.backend == "ducklake":
        assert article_commits(cfg) == commits
    assert ingest(cfg)[0] == 0   # nothing stored twice, nothing left over
