"""Retention: `warehouse maintain` deletes raw pages and fetch-log rows past `warehouse.keep_raw_pages_days` /
`keep_fetches_days`, keeps each source's newest raw pages (its page template is learned from them) and every
article, on a DuckDB file and on a DuckLake lake (a real PostgreSQL catalog)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from balkanwatch.config import ConfigError, load_config
from balkanwatch.maintenance import RAW_PAGES_KEPT_PER_SOURCE, Retention
from balkanwatch.templates import LEARN_WINDOW
from flows.ingest import run_ingest
from tests.conftest import served_corpus, toml_sources
from tests.test_lake import cli
from warehouse import Warehouse

KEEP = """lock_timeout = 30
keep_raw_pages_days = 30
keep_fetches_days = 30"""


@pytest.fixture
def pages(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The monitoring corpus's article pages (a month of coverage on four loopback sites) as two `urls`
    sources, "A" with 45 pages and "B" with the rest: each has more than a source keeps whatever their age."""
    with served_corpus(tmp_path / "sites", monitoring=True) as (_, arts, servers):
        urls = [f"{servers[a.site].base}/news/{a.slug}.html" for a in arts]
        yield [{"name": "A", "urls": urls[:45]}, {"name": "B", "urls": urls[45:]}]


def age(config, days_per_rank: dict[str, float]) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Make every article (and its raw page) rank × its source's `days_per_rank` days old (and a minute),
    rank 0 the newest of its source in article_id order; source A's fetch-log rows 40 days old. Returns
    each source's article ids, newest first."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with Warehouse.for_config(config) as wh, wh.transaction():
        ids = wh.con.execute("SELECT source, article_id FROM articles ORDER BY source, article_id").fetchall()
        by_source: dict[str, list[str]] = {}
        for source, art in ids:
            by_source.setdefault(source, []).append(art)
        for source, arts in by_source.items():
            for rank, art in enumerate(arts):
                when = now - timedelta(days=rank * days_per_rank[source], minutes=1)
                wh.con.execute("UPDATE articles SET fetched_at = ? WHERE article_id = ?", [when, art])
                wh.con.execute("UPDATE raw_pages SET fetched_at = ? WHERE article_id = ?", [when, art])
        wh.con.execute("UPDATE fetches SET started_at = started_at - INTERVAL 40 DAY WHERE source = 'A'")
    return by_source


def stored(config, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def, type-arg]
    with Warehouse.for_config(config, read_only=True) as wh:
        return wh.con.execute(sql).fetchall()


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_maintain_deletes_old_raw_pages_and_fetches_but_not_a_sources_newest(pages, write_config,
                                                                             warehouse_backend) -> None:
    path = write_config(toml_sources(pages))
    path.write_text(warehouse_backend(path.read_text().replace("lock_timeout = 30", KEEP)))
    config = load_config(path)
    asyncio.run(run_ingest(config))
    # A: a page every 2 days (ranks 15-19 are older than 30 days but among A's newest 20);
    # B: two a day (its ranks from 20 on are younger than 30 days)
    by_source = age(config, {"A": 2.0, "B": 0.5})
    assert {s: len(a) for s, a in by_source.items()} == {"A": 45, "B": 34}
    old_fetches, new_fetches = (stored(config, f"SELECT count(*) FROM fetches WHERE started_at {op} now() - INTERVAL 30 DAY")
                                [0][0] for op in ("<", ">="))
    assert old_fetches >= 45 and new_fetches >= 34
    articles_before = stored(config, "SELECT article_id, content_hash, story_id FROM articles ORDER BY article_id")

    # Kept: the newest 20 of each source, and any page younger than 30 days.
    expected = set(by_source["A"][:20]) | set(by_source["B"])
    assert RAW_PAGES_KEPT_PER_SOURCE == LEARN_WINDOW == 20
    done = cli("--config", str(path), "warehouse", "maintain", "--no-prefect", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["raw_pages_deleted"] == len(articles_before) - len(expected) == 25
    assert report["fetches_deleted"] == old_fetches
    assert {r[0] for r in stored(config, "SELECT article_id FROM raw_pages")} == expected
    assert stored(config, "SELECT count(*) FROM fetches")[0][0] == new_fetches
    assert stored(config, "SELECT article_id, content_hash, story_id FROM articles ORDER BY article_id") == articles_before

    # Idempotent, and said in words.
    again = cli("--config", str(path), "warehouse", "maintain", "--no-prefect")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "deleted 0 raw pages fetched before" in again.stdout and "each source's newest 20 kept" in again.stdout
    assert "deleted 0 fetch-log rows" in again.stdout
    assert {r[0] for r in stored(config, "SELECT article_id FROM raw_pages")} == expected

    # What has no raw page any more cannot be re-extracted; `reextract` says so and leaves its text.
    re = cli("--config", str(path), "reextract", "--all")
    assert re.returncode == 0, re.stderr[-2000:]
    gone = len(articles_before) - len(expected)
    assert f"re-extracted {len(expected)} articles" in re.stdout
    assert f"{gone} articles have no raw page any more" in re.stdout
    assert stored(config, "SELECT count(*) FROM articles WHERE text <> ''")[0][0] == len(articles_before)


def test_without_retention_maintain_keeps_everything(pages, write_config) -> None:
    config = load_config(write_config(toml_sources(pages[:1])))
    asyncio.run(run_ingest(config))
    age(config, {"A": 2.0})
    counts = stored(config, "SELECT (SELECT count(*) FROM raw_pages), (SELECT count(*) FROM fetches)")
    done = cli("--config", str(config.path), "warehouse", "maintain", "--no-prefect")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "raw pages: all kept (warehouse.keep_raw_pages_days = 0)" in done.stdout
    assert "fetch log: all kept" in done.stdout and "checkpointed the DuckDB file" in done.stdout
    assert stored(config, "SELECT (SELECT count(*) FROM raw_pages), (SELECT count(*) FROM fetches)") == counts


def test_a_revision_brings_back_a_deleted_raw_page(pages, write_config) -> None:
    """A page whose raw copy retention deleted, fetched again with changed text: the new page is stored."""
    from dataclasses import replace

    from connectors.extract import PageJob, safe_extract

    config = load_config(write_config(toml_sources(pages[:1])))
    asyncio.run(run_ingest(config))
    with Warehouse.for_config(config) as wh:
        art_id, url, blob = wh.con.execute("SELECT article_id, url, html_zlib FROM raw_pages LIMIT 1").fetchone()  # type: ignore[misc]
        wh.con.execute("DELETE FROM raw_pages WHERE article_id = ?", [art_id])
        import zlib

        page = zlib.decompress(blob).replace(b"</p>", b" A correction was added.</p>", 1)
        new = safe_extract(PageJob(source="A", url=url, final_url=url, body=page, encoding="utf-8",
                                   fetched_at=datetime.now(UTC)))
        assert not isinstance(new, str)
        wh.record_revision(replace(new, article_id=art_id), 2)
        back = wh.con.execute("SELECT html_zlib FROM raw_pages WHERE article_id = ?", [art_id]).fetchall()
    assert len(back) == 1 and zlib.decompress(back[0][0]) == page


def test_serve_schedules_maintenance_on_a_file_only_with_retention(write_config) -> None:
    from deployments.serve import build_deployments

    plain = load_config(write_config(""))
    assert [d.name for d in build_deployments(plain)] == ["balkanwatch-ingest"]
    path = write_config("")
    path.write_text(path.read_text().replace("lock_timeout = 30", "lock_timeout = 30\nkeep_fetches_days = 14"))
    kept = {d.name: d for d in build_deployments(load_config(path))}
    assert set(kept) == {"balkanwatch-ingest", "balkanwatch-maintain"}
    assert kept["balkanwatch-maintain"].schedules[0].schedule.interval == timedelta(hours=24)


def test_negative_retention_is_refused(write_config) -> None:
    path = write_config("")
    path.write_text(path.read_text().replace("lock_timeout = 30", "lock_timeout = 30\nkeep_raw_pages_days = -1"))
    with pytest.raises(ConfigError, match="keep_raw_pages_days"):
        load_config(path)


def test_retention_cutoffs() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert not Retention.from_days(now, 0, 0).deletes
    r = Retention.from_days(now, 30, 0.5)
    assert r.raw_pages_before == now - timedelta(days=30) and r.fetches_before == now - timedelta(hours=12)
    assert r.deletes and r.keep_per_source == LEARN_WINDOW


def test_the_documented_retention_says_how_many_pages_a_source_keeps() -> None:
    from balkanwatch.config import settings_reference

    [help_text] = [h for key, _, _, h in settings_reference() if key == "warehouse.keep_raw_pages_days"]
    assert f"each source's newest {RAW_PAGES_KEPT_PER_SOURCE}," in help_text
