"""A lake's upkeep and time travel (issue #16, slice 3), on a real PostgreSQL catalog (tests/postgres.py):
`warehouse maintain` flushes, merges, expires and cleans up without changing a row; `sql --as-of` /
`--version` read the lake as it was; the maintenance deployment is declared with its schedule."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from balkanwatch.config import Config, load_config
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.test_lake import cli
from warehouse import Warehouse
from warehouse.migrate import lake_tables

ROOT = Path(__file__).resolve().parent.parent


def fingerprint(config: Config) -> dict[str, tuple[int, int]]:
    """(rows, sum of row hashes) of every table: equal before and after means no row gained, lost or changed."""
    with Warehouse.for_config(config, read_only=True) as wh:
        return {t: tuple(wh.con.execute(f"SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0) FROM {t} x").fetchone())
                for t in lake_tables(wh)}  # type: ignore[misc]


def table_files(config: Config) -> dict[str, int]:
    """Data and delete files the lake's current snapshot reads, per table."""
    with Warehouse.for_config(config, read_only=True) as wh:
        return {r[0]: int(r[1]) for r in wh.con.execute(
            "SELECT table_name, file_count + delete_file_count FROM ducklake_table_info('lake')").fetchall()}


def snapshot_times(config: Config) -> dict[int, datetime]:
    with Warehouse.for_config(config, read_only=True) as wh:
        return {int(r["snapshot_id"]): r["snapshot_time_utc"] for r in wh.snapshots(limit=100_000)}


def two_ingests(corpus, lake_config, tmp_path: Path) -> tuple[Config, Config, datetime]:  # type: ignore[no-untyped-def]
    """Two sources into a fresh lake, then (after time T, returned) all four: the two configs share the lake."""
    sources, _, _ = corpus
    some = load_config(lake_config(toml_sources(sources[:2])))
    every = tmp_path / "every.toml"
    every.write_text(some.path.read_text().split("[[sources]]")[0] + toml_sources(sources))  # type: ignore[union-attr]
    asyncio.run(run_ingest(some))
    time.sleep(0.2)
    then = datetime.now(UTC)
    time.sleep(0.2)
    asyncio.run(run_ingest(load_config(every)))
    return some, load_config(every), then


def test_maintain_shrinks_the_lake_keeps_every_row_and_is_idempotent(corpus, lake_config, tmp_path: Path) -> None:
    _, arts, _ = corpus
    _, config, then = two_ingests(corpus, lake_config, tmp_path)
    asyncio.run(run_ingest(config, force=True))          # a re-poll: small commits only (sources, runs, fetches)
    rows_before, times = fingerprint(config), snapshot_times(config)
    assert rows_before["articles"][0] == len(arts)
    old = {sid for sid, when in times.items() if when < then.replace(tzinfo=None)}
    assert old and len(old) < len(times)

    files_before = table_files(config)
    with Warehouse.for_config(config) as wh:   # keep what is younger than `then`, delete unneeded files at once
        report = wh.maintain(keep=datetime.now(UTC) - then, grace=timedelta(0))
    assert report.status == "completed" and report.backend == "ducklake"
    # a corpus this small is mostly inlined in the catalog: the flush writes those rows out, one file a table
    assert report.inlined_rows_flushed > 0 and report.files_merged > report.files_written > 0
    files_after = table_files(config)
    several = {t for t, n in files_before.items() if n > 1}
    assert several and all(files_after[t] <= files_before[t] for t in several)   # small files merged, even
    assert any(files_after[t] < files_before[t] for t in several)                 # with the flushed rows added
    assert all(files_after[t] >= 1 for t, n in fingerprint(config).items() if n[0])
    assert report.data_files_after == sum(files_after.values())
    assert report.files_deleted > 0 and report.files_on_disk_after is not None
    assert report.files_on_disk_after >= report.data_files_after   # and the kept snapshots' files
    assert report.snapshots_before == len(times) and report.snapshots_expired == len(old)
    kept = snapshot_times(config)
    assert not old & set(kept) and set(times) - old <= set(kept)   # exactly the older snapshots went
    assert fingerprint(config) == rows_before                     # every row, unchanged

    again = cli("--config", str(config.path), "warehouse", "maintain", "--no-prefect", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads(again.stdout)   # keep_snapshots_days = 7: nothing old enough; nothing small left
    assert (second["inlined_rows_flushed"], second["files_merged"], second["snapshots_expired"]) == (0, 0, 0)
    assert second["data_files_after"] == second["data_files_before"] == report.data_files_after
    assert second["files_on_disk_after"] == second["files_on_disk_before"] == report.files_on_disk_after
    assert table_files(config) == files_after
    assert fingerprint(config) == rows_before
    shown = cli("--config", str(config.path), "warehouse", "maintain", "--no-prefect")
    assert shown.returncode == 0 and "flushed 0 inlined rows" in shown.stdout and "expired 0 of" in shown.stdout

    gone = cli("--config", str(config.path), "sql", "SELECT count(*) FROM articles", "--as-of", then.isoformat())
    assert gone.returncode == 2 and "no snapshot then" in gone.stderr and "Traceback" not in gone.stderr


def test_sql_as_of_a_time_or_a_version_sees_the_lake_as_it_was(corpus, lake_config, tmp_path: Path) -> None:
    _, arts, _ = corpus
    some, config, then = two_ingests(corpus, lake_config, tmp_path)
    path = str(config.path)

    def count(*when: str, sql: str = "SELECT count(*) AS n FROM articles") -> int:
        out = cli("--config", path, "sql", sql, "--format", "json", *when)
        assert out.returncode == 0, out.stderr[-2000:]
        return int(json.loads(out.stdout)[0]["n"])

    first = count("--as-of", then.isoformat())
    assert 0 < first < len(arts) and count() == len(arts)   # what the lake held at `then`, and now
    naive_utc = then.replace(tzinfo=None).isoformat()         # no offset: UTC, as the warehouse's own times
    local = then.astimezone(timezone(timedelta(hours=2))).isoformat()      # 2 hours ahead of UTC
    assert count("--as-of", naive_utc) == count("--as-of", local) == first
    with Warehouse.for_config(config, read_only=True) as wh:
        at_then = max(sid for sid, when in snapshot_times(config).items() if when <= then.replace(tzinfo=None))
        latest = int(wh.snapshots(limit=1)[0]["snapshot_id"])
    assert count("--version", str(at_then)) == first
    assert count(sql=f"SELECT count(*) AS n FROM articles AT (VERSION => {at_then})") == first
    inserted = f"""SELECT count(*) AS n FROM table_changes('articles', {at_then + 1}, {latest})
                   WHERE change_type = 'insert'"""
    assert count(sql=inserted) == len(arts) - first        # the change feed: what came in since

    listed = cli("--config", path, "warehouse", "snapshots", "--limit", "500", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    snaps = json.loads(listed.stdout)
    assert snaps[0]["snapshot_id"] == latest and any(" into articles" in s["changes"] for s in snaps), snaps[:5]

    for sql in ("DELETE FROM articles", "SELECT * FROM read_text('/etc/hostname')"):   # still the sandbox
        out = cli("--config", path, "sql", sql, "--as-of", then.isoformat())
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    bad = cli("--config", path, "sql", "SELECT 1", "--as-of", "yesterday")
    assert bad.returncode == 2 and "not an ISO time" in bad.stderr
    early = cli("--config", path, "sql", "SELECT 1", "--version", "100000")
    assert early.returncode == 2 and "warehouse snapshots" in early.stderr and "Traceback" not in early.stderr


def test_on_the_file_time_travel_is_refused_and_maintain_checkpoints(write_config) -> None:
    cfg = write_config("")
    assert cli("--config", str(cfg), "warehouse", "init").returncode == 0
    out = cli("--config", str(cfg), "sql", "SELECT 1", "--as-of", "2026-01-01T14:00")
    assert out.returncode == 2 and "needs the DuckLake backend" in out.stderr and "Traceback" not in out.stderr
    listed = cli("--config", str(cfg), "warehouse", "snapshots")
    assert listed.returncode == 2 and "DuckLake-only" in listed.stderr
    done = cli("--config", str(cfg), "warehouse", "maintain", "--no-prefect")
    assert done.returncode == 0 and "checkpointed the DuckDB file" in done.stdout and "DuckLake-only" in done.stdout


def test_maintain_waits_for_a_load(corpus, lake_config) -> None:
    """The maintenance takes the ingest run lock: while a run holds it, maintain skips (after lock_timeout)."""
    sources, _, _ = corpus
    path = lake_config(toml_sources(sources[:1]))
    path.write_text(path.read_text().replace("lock_timeout = 30", "lock_timeout = 1"))
    config = load_config(path)
    from flows.upkeep import run_maintain

    with Warehouse.run_lock(config):
        report = run_maintain(config)
    assert report.status == "skipped" and "lock is held" in report.note
    assert run_maintain(config).status == "completed"


def test_the_maintenance_deployment_is_declared_with_its_schedule(lake_config, write_config) -> None:
    from deployments.serve import build_deployments

    lake = load_config(lake_config(""))
    deployments = {d.name: d for d in build_deployments(lake)}
    dep = deployments["balkanwatch-maintain"]
    assert dep.schedules[0].schedule.interval.total_seconds() == 24 * 3600
    assert dep.parameters == {"config_path": str(lake.path)} and dep.concurrency_limit == 1
    assert [d.name for d in build_deployments(load_config(write_config("")))] == ["balkanwatch-ingest"]

    declared = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    [maintain] = [d for d in declared["deployments"] if d["name"] == "balkanwatch-maintain"]
    assert maintain["entrypoint"] == "flows/upkeep.py:maintain" and maintain["schedules"] == [{"interval": 86400}]
    assert maintain["concurrency_limit"]["limit"] == 1


@pytest.mark.prefect
def test_the_maintain_flow_publishes_its_report(prefect_server, corpus, lake_config) -> None:
    from prefect.client.orchestration import get_client

    from flows.upkeep import maintain

    sources, _, _ = corpus
    config = load_config(lake_config(toml_sources(sources[:1])))
    asyncio.run(run_ingest(config))
    report = maintain(config_path=str(config.path))
    assert report["status"] == "completed" and report["inlined_rows_flushed"] > 0

    async def artifact():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_latest_artifacts()
    found = [a for a in asyncio.run(artifact()) if a.key == "warehouse-maintenance"]
    assert found and f"flushed {report['inlined_rows_flushed']} inlined rows" in str(found[0].data)
