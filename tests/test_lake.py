"""The DuckLake backend (issue #16, slice 1) on a real PostgreSQL catalog started by the tests: ingest a
loopback corpus into a lake, re-run it, read it back through the CLI, two ingest processes at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from balkanwatch.config import load_config, parse_config
from balkanwatch.errors import ConfigError, WarehouseError
from tests.conftest import toml_sources
from warehouse import Warehouse
from warehouse.lake import lake_schema

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_lake_schema_is_schema_sql_without_keys() -> None:
    schema = (ROOT / "warehouse" / "schema.sql").read_text()
    lake = lake_schema(schema)
    code = "\n".join(line.partition("--")[0] for line in lake.splitlines())
    assert "PRIMARY KEY" not in code and "UNIQUE" not in code
    assert "name                  VARCHAR NOT NULL," in lake   # the key column keeps NOT NULL
    assert lake.count("CREATE TABLE") == schema.count("CREATE TABLE")
    con = duckdb.connect()
    con.execute(lake)   # still valid SQL, every table and view
    assert con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type IN "
                       "('PRIMARY KEY', 'UNIQUE')").fetchone() == (0,)
    assert lake_schema("CREATE TABLE t (\n  a INT NOT NULL,   -- x\n  b INT,\n  PRIMARY KEY (a, b)\n);\n"
                       "CREATE UNIQUE INDEX i ON t (a);\n") == "CREATE TABLE t (\n  a INT NOT NULL,   -- x\n  b INT\n);\n"


def test_lake_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs catalog"):
        parse_config({"warehouse": {"backend": "ducklake"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="no password"):
        parse_config({"warehouse": {"backend": "ducklake", "catalog": "dbname=x password=secret",
                                    "data_path": "d"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="duckdb or ducklake"):
        parse_config({"warehouse": {"backend": "sqlite"}}, base_dir=tmp_path)
    cfg = parse_config({"warehouse": {"backend": "ducklake", "catalog": "dbname=x", "data_path": "d"}},
                       base_dir=tmp_path)
    assert cfg.lake_data_path == f"{tmp_path}/d/"


def test_ingest_into_a_lake_then_read_it_back(corpus, lake_config, tmp_path: Path) -> None:
    sources, arts, _ = corpus
    cfg = lake_config(toml_sources(sources))
    init = cli("--config", str(cfg), "warehouse", "init")
    assert init.returncode == 0 and "schema version" in init.stdout, init.stderr
    first = cli("--config", str(cfg), "ingest", "--no-prefect", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads(first.stdout)
    assert summary["status"] == "completed" and summary["new_articles"] == len(arts)
    again = cli("--config", str(cfg), "ingest", "--no-prefect", "--force", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["new_articles"] == 0, again.stderr[-2000:]

    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        assert wh.lake is not None
        assert wh.rows("SELECT count(*) AS n, count(DISTINCT article_id) AS ids FROM articles") == [
            {"n": len(arts), "ids": len(arts)}]
        for table in ("raw_pages", "article_sketches", "story_assignments"):   # idempotent without keys
            assert wh.rows(f"SELECT count(*) = count(DISTINCT article_id) AS once FROM {table}") == [{"once": True}]
        assert wh.rows("SELECT count(*) AS n FROM articles WHERE story_id IS NULL") == [{"n": 0}]
        stories = wh.rows("SELECT count(*) AS n FROM stories")[0]["n"]
        assert 0 < stories < len(arts)   # the corpus has syndicated copies
        assert {r["status"] for r in wh.rows("SELECT status FROM runs")} == {"completed"}
    assert not list(Path(tmp_path).glob("*.duckdb"))   # nothing went to a DuckDB file

    out = cli("--config", str(cfg), "sql", "SELECT url, title FROM articles", "--format", "json")
    assert out.returncode == 0 and len(json.loads(out.stdout)) == len(arts), out.stderr
    hits = cli("--config", str(cfg), "search", "Bayraktar", "--format", "json")
    assert hits.returncode == 0 and json.loads(hits.stdout), hits.stderr
    assert cli("--config", str(cfg), "reindex").returncode == 0
    listed = cli("--config", str(cfg), "sources", "--format", "json")
    assert listed.returncode == 0 and {r["name"] for r in json.loads(listed.stdout)} == {s["name"] for s in sources}
    told = cli("--config", str(cfg), "stories", "--format", "json")
    assert told.returncode == 0 and len(json.loads(told.stdout)) == min(stories, 20), told.stderr


def test_sql_on_a_lake_is_read_only_and_sandboxed(corpus, lake_config, tmp_path: Path) -> None:
    sources, _, _ = corpus
    cfg = lake_config(toml_sources(sources[:1]))
    config = load_config(cfg)
    with Warehouse.for_config(config) as wh:
        wh.sync_sources(config.sources, 10.0)
    data = config.lake_data_path
    refused = {
        "DELETE FROM sources": "DELETE statements are refused",
        "CREATE TABLE x AS SELECT 1": "CREATE statements are refused",
        f"COPY sources TO '{data}leak.csv'": "COPY statements are refused",      # inside the data path
        f"COPY sources TO '{tmp_path}/leak.csv'": "COPY statements are refused",
        "SELECT * FROM read_text('/etc/hostname')": "disabled by configuration",   # other files
        "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT 1')": "postgres_",
        "SET enable_external_access = true": "SET statements are refused",
        "ATTACH 'dbname=postgres host=127.0.0.1' AS pg (TYPE postgres)": "ATTACH statements are refused",
    }
    for sql, why in refused.items():
        out = cli("--config", str(cfg), "sql", sql)
        assert out.returncode == 2 and why in out.stderr and "Traceback" not in out.stderr, (sql, out.stderr)
    assert not list(Path(tmp_path).rglob("leak.csv"))
    with Warehouse.for_config(config, read_only=True) as wh:   # the sandbox itself, without the statement check
        with pytest.raises(duckdb.Error, match="read-only"):
            wh.con.execute("INSERT INTO sources (name, kind, location, poll_minutes) VALUES ('x', 'feed', 'y', 1)")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            wh.con.execute(f"COPY sources TO '{tmp_path}/leak.csv'")
        assert wh.query("SELECT count(*) FROM sources")[1] == [(1,)]


def test_a_reader_needs_an_initialised_lake(lake_config) -> None:
    cfg = lake_config("")
    with pytest.raises(WarehouseError, match="warehouse init"):
        with Warehouse.for_config(load_config(cfg), read_only=True):
            pass


def test_two_ingest_processes_at_once_into_one_lake(corpus, lake_config) -> None:
    sources, arts, _ = corpus
    cfg = lake_config(toml_sources(sources))
    assert cli("--config", str(cfg), "warehouse", "init").returncode == 0
    cmd = [sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect", "--force", "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    summaries = [json.loads(o[0]) for o in outs]
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert sorted(s["new_articles"] for s in summaries) == [0, len(arts)]   # runs queue (slice 1)
    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        assert wh.rows("SELECT count(*) AS n, count(DISTINCT article_id) AS ids FROM articles") == [
            {"n": len(arts), "ids": len(arts)}]


BOUNDS = ("connect_timeout=10 keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3 "
          "tcp_user_timeout=30000 options='-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 "
          "-c tcp_keepalives_count=3 -c tcp_user_timeout=30000'")
URI_BOUNDS = ("connect_timeout=10&keepalives=1&keepalives_idle=30&keepalives_interval=10&keepalives_count=3"
              "&tcp_user_timeout=30000&options=-c%20tcp_keepalives_idle%3D30%20-c%20tcp_keepalives_interval%3D10"
              "%20-c%20tcp_keepalives_count%3D3%20-c%20tcp_user_timeout%3D30000")


@pytest.mark.parametrize("catalog, given", [
    ("dbname=x host=h", f"dbname=x host=h {BOUNDS}"),
    ("dbname=x connect_timeout=3", f"dbname=x connect_timeout=3 {BOUNDS.replace('connect_timeout=10 ', '')}"),
    ("dbname=x options='-c search_path=a' tcp_user_timeout=5000",
     "dbname=x options='-c search_path=a' tcp_user_timeout=5000 " + BOUNDS.split(" tcp_user_timeout")[0]),
    ("postgresql://u@h/x", f"postgresql://u@h/x?{URI_BOUNDS}"),
    ("postgres://u@h/x?sslmode=require", f"postgres://u@h/x?sslmode=require&{URI_BOUNDS}"),
    ("postgresql://u@h/x?connect_timeout=3", f"postgresql://u@h/x?connect_timeout=3&{URI_BOUNDS[19:]}"),
])
def test_the_catalog_gets_bounds_on_silence_unless_it_sets_them(catalog: str, given: str) -> None:
    """A connect timeout, keepalives and a TCP user timeout at our end, and the same for the server's end of
    our sessions through `options` (tests/hostile/test_catalog_partition.py shows what they are for); each
    one the catalog string sets itself is kept."""
    from warehouse.lake import LakeTarget

    assert LakeTarget(catalog, "d").libpq == given


def test_the_catalog_password_never_reaches_a_message(tmp_path: Path, monkeypatch) -> None:
    from warehouse.lake import LakeTarget

    monkeypatch.setenv("BW_TEST_PW", "s3cr'et pw")
    monkeypatch.setenv("PGPASSWORD", "")   # set by opening the lake: gone again after the test
    cfg = parse_config({"warehouse": {"backend": "ducklake", "catalog": "dbname=x host=127.0.0.1 port=1 user=u",
                                      "catalog_password_env": "BW_TEST_PW", "data_path": "d"}}, base_dir=tmp_path)
    target = LakeTarget.from_config(cfg)
    assert target.password == "s3cr'et pw" and "s3cr" not in target.libpq   # libpq reads it from PGPASSWORD
    with pytest.raises(WarehouseError) as err:   # nothing listens on port 1
        with Warehouse.for_config(cfg):
            pass
    assert "s3cr" not in str(err.value) and "dbname=x" in str(err.value)



def _best_first(hit: tuple[float, str]) -> tuple[float, str]:
    return -hit[0], hit[1]


def test_search_on_a_lake_ranks_by_bm25_as_the_file_does(corpus, lake_config, tmp_path: Path) -> None:
    from flows.ingest import run_ingest
    from tests.conftest import loopback_config

    sources, _, _ = corpus
    some = lake_config(toml_sources(sources[:2]))   # two sources first, then all four: the same lake
    text = some.read_text()
    on_lake = text[text.index('backend = "ducklake"'):text.index('data_path = "lake-data"') + len('data_path = "lake-data"')]
    (tmp_path / "all.toml").write_text(loopback_config(toml_sources(sources)).replace('path = "wh.duckdb"', on_lake))
    lake = load_config(tmp_path / "all.toml")
    (tmp_path / "file").mkdir()
    (tmp_path / "file" / "some.toml").write_text(loopback_config(toml_sources(sources[:2])))
    (tmp_path / "file" / "balkanwatch.toml").write_text(loopback_config(toml_sources(sources)))
    file = load_config(tmp_path / "file" / "balkanwatch.toml")   # the same two steps (boilerplate learned alike)

    asyncio.run(run_ingest(load_config(some)))
    assert cli("--config", str(some), "reindex").returncode == 0 and lake.lake_search_index.exists()
    asyncio.run(run_ingest(lake))                   # the other two sources: newer than the index
    with Warehouse.for_config(lake, read_only=True) as wh:
        indexed, unindexed, oldest = wh.fts_coverage()
        assert indexed > 0 and unindexed > 0 and oldest is not None
        hits = wh.search("Kosovo", limit=100)
        fresh = {h["article_id"] for h in hits if h["score"] is None}
        assert fresh and len(fresh) < len(hits)    # ranked first, then the new ones by a plain scan
        assert all(h["score"] is not None for h in hits[:len(hits) - len(fresh)])
    shown = cli("--config", str(lake.path), "search", "Kosovo", "--limit", "100")
    assert shown.returncode == 0 and "`balkanwatch reindex` ranks them" in shown.stdout, shown.stderr
    assert sum(line.startswith("new ") for line in shown.stdout.splitlines()) == len(fresh)
    # the hourly refresh: the new articles alone into the recent index beside the whole one (a local file too)
    with Warehouse.for_config(lake, read_only=True) as wh:
        assert wh.rebuild_recent_fts() == unindexed and wh.recent_fts_count() == unindexed
        assert wh.fts_coverage() == (indexed + unindexed, 0, None)
        split = [(h["score"], h["article_id"]) for h in wh.search("Kosovo", limit=100)]
        assert all(score is not None for score, _ in split) and fresh <= {a for _, a in split}
    recent = lake.lake_search_index.with_name(lake.lake_search_index.stem + ".recent.duckdb")
    assert recent.exists()

    assert cli("--config", str(lake.path), "reindex").returncode == 0
    assert not recent.exists()     # the whole index holds them now; scored as they were beside it
    with Warehouse.for_config(lake, read_only=True) as wh:
        assert wh.recent_fts_count() == 0
        assert sorted(split, key=_best_first) == sorted(
            [(h["score"], h["article_id"]) for h in wh.search("Kosovo", limit=100)], key=_best_first)
    asyncio.run(run_ingest(load_config(tmp_path / "file" / "some.toml")))
    asyncio.run(run_ingest(file))
    assert cli("--config", str(file.path), "reindex").returncode == 0
    for query in ("Kosovo", "KFOR patrols", "Ankara NATO mission", "Bayraktar drones", "Peja", "xyzzyq",
                  "Kosovo -KFOR*", '"northern Kosovo" -Zvecan'):   # and the phrases and exclusions checked alike
        with Warehouse.for_config(file, read_only=True) as f, Warehouse.for_config(lake, read_only=True) as k:
            on_file = [(h["score"], h["article_id"]) for h in f.search(query, limit=500)]
            on_lake = [(h["score"], h["article_id"]) for h in k.search(query, limit=500)]
            assert k.fts_coverage()[1] == 0
        assert [s for s, _ in on_lake] == [s for s, _ in on_file], query   # the same scores, in the same order
        # which of two equal scores comes first is float noise (the two indexes hold their documents in
        # different orders), so the hits are compared best first, ties by id
        assert sorted(on_lake, key=_best_first) == sorted(on_file, key=_best_first), query
        assert all(score is not None for score, _ in on_lake)
        assert bool(on_lake) == (query != "xyzzyq")
    # --since and --source: part of the file's SQL, checked after the lake's ranking (its index holds no
    # times): the same hits
    from warehouse.store import ARTICLE_TIME

    with Warehouse.for_config(file, read_only=True) as f, Warehouse.for_config(lake, read_only=True) as k:
        times = [r[0] for r in f.query(f"SELECT {ARTICLE_TIME} FROM articles ORDER BY 1")[1]]
        for since, names in ((times[len(times) // 2], ()), (None, (sources[1]["name"],)),
                             (times[len(times) // 3], (sources[0]["name"], sources[1]["name"]))):
            on_file = [(h["score"], h["article_id"]) for h in f.search("Kosovo", limit=8, since=since, sources=names)]
            on_lake = [(h["score"], h["article_id"]) for h in k.search("Kosovo", limit=8, since=since, sources=names)]
            assert on_file and [s for s, _ in on_lake] == [s for s, _ in on_file], (since, names)
            assert sorted(on_lake, key=_best_first) == sorted(on_file, key=_best_first), (since, names)
    # a revision after the index took the article (session 44): the run's refresh puts it in the recent index,
    # and both backends find it by its new words only, with the same scores
    from flows.ingest import refresh_search_index

    with Warehouse.for_config(file, read_only=True) as f:
        revised = f.search("Bayraktar drones", limit=1)[0]["article_id"]
    for config in (file, lake):
        with Warehouse.for_config(config) as wh:
            wh.con.execute("UPDATE articles SET text = 'Ohrid trout festival opens.', content_hash = 'rev2' "
                           "WHERE article_id = ?", [revised])
        with Warehouse.for_config(config, read_only=config is lake) as wh:   # a lake's refresh reads, as ingest's
            assert wh.stale_fts_count() == 1 and wh.outdated_fts_count() == 1, config.warehouse.backend
            assert revised in {h["article_id"] for h in wh.search("Bayraktar drones", limit=500)}   # until then
            assert refresh_search_index(wh) == "recent"
            assert wh.stale_fts_count() == 0 and wh.outdated_fts_count() == 0
    with Warehouse.for_config(file, read_only=True) as f, Warehouse.for_config(lake, read_only=True) as k:
        for query in ("Ohrid trout", "Bayraktar drones", "Kosovo"):
            on_file = [(h["score"], h["article_id"]) for h in f.search(query, limit=500)]
            on_lake = [(h["score"], h["article_id"]) for h in k.search(query, limit=500)]
            assert sorted(on_lake, key=_best_first) == sorted(on_file, key=_best_first), query
            if query != "Kosovo":   # (its title, unchanged, may name Kosovo)
                assert (revised in {a for _, a in on_file}) == (query == "Ohrid trout"), query
            assert all(score is not None for score, _ in on_file)


def test_a_lake_refreshes_its_search_index_outside_the_run_lock(corpus, lake_config, monkeypatch) -> None:
    """On a lake, ingest refreshes the local search index after the run from a read-only session, as `reindex`
    builds it, never under the ingest run lock: while another run holds that lock the index is built all the
    same (a file's is left to that run: tests/test_alerts.py), so the next run never waits for a build. While
    another refresh holds this machine's index lock, the refresh is left at once."""
    import time

    from balkanwatch import health
    from flows.ingest import index_after_alerts, run_ingest
    from flows.poll import WarehouseGate

    sources, arts, _ = corpus
    config = load_config(lake_config(toml_sources(sources)))
    monkeypatch.setattr(health, "FTS_MIN_TAIL", 10**6)     # a small fresh tail: the run builds no index
    assert asyncio.run(run_ingest(config)).new_articles == len(arts)
    assert not config.lake_search_index.exists()
    monkeypatch.setattr(health, "FTS_MIN_TAIL", 1)         # now any tail calls for one
    with Warehouse.lake_index_lock(config, timeout=0.0):
        t0 = time.monotonic()
        asyncio.run(index_after_alerts(config, WarehouseGate(config)))
        assert time.monotonic() - t0 < 5 and not config.lake_search_index.exists()
    with Warehouse.run_lock(config, timeout=0.0):           # another run holds the ingest run lock
        asyncio.run(index_after_alerts(config, WarehouseGate(config)))
    assert config.lake_search_index.exists()
    with Warehouse.for_config(config, read_only=True) as wh:
        assert wh.fts_coverage()[:2] == (len(arts), 0)
        assert wh.rows("SELECT articles FROM fts_builds") == [{"articles": len(arts)}]
        assert all(h["score"] is not None for h in wh.search("Kosovo"))
    # an analyst's `reindex` waits for a refresh running on this machine instead of building beside it
    import threading

    from app.cli import main

    built = config.lake_search_index.stat().st_mtime_ns
    held, release = threading.Event(), threading.Event()

    def refresh_running() -> None:
        with Warehouse.lake_index_lock(config, timeout=0.0):
            held.set()
            release.wait(10)
    holder = threading.Thread(target=refresh_running)
    holder.start()
    held.wait(10)
    released: list[int] = []

    def done() -> None:
        released.append(time.time_ns())
        release.set()
    threading.Timer(1.5, done).start()
    assert main(["--config", str(config.path), "reindex"]) == 0
    holder.join()
    assert config.lake_search_index.stat().st_mtime_ns > max(released[0], built)   # written after the refresh let go


def test_migrate_a_file_warehouse_to_a_lake(corpus, lake_config, tmp_path: Path) -> None:
    from flows.ingest import run_ingest
    from tests.conftest import loopback_config

    sources, arts, _ = corpus
    (tmp_path / "file.toml").write_text(loopback_config(toml_sources(sources)))
    asyncio.run(run_ingest(load_config(tmp_path / "file.toml")))
    assert cli("--config", str(tmp_path / "file.toml"), "reindex").returncode == 0
    cfg = lake_config(toml_sources(sources))
    cfg.write_text(cfg.read_text().replace('backend = "ducklake"', 'path = "wh.duckdb"\nbackend = "ducklake"'))

    out = cli("--config", str(cfg), "warehouse", "migrate", "--to-lake")
    assert out.returncode == 0 and f"articles: {len(arts)} rows" in out.stdout, out.stderr[-2000:]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as file, \
            Warehouse.for_config(load_config(cfg), read_only=True) as lake:
        tables = [r[0] for r in file.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
                  .fetchall()]
        assert {"articles", "raw_pages", "runs", "story_assignments", "schema_version"} <= set(tables)
        for table in tables:   # every row of every table, as it was
            columns = ", ".join(r[0] for r in file.execute(f"DESCRIBE {table}").fetchall())
            want = file.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
            got = lake.con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
            if table == "fts_builds":   # and the lake's search index, built after the copy
                assert got[:-1] == want and got[-1][1] == len(arts)
            else:
                assert got == want, table
        assert lake.fts_coverage() == (len(arts), 0, None)   # the local search index was built
    for command in (["stories", "--format", "json"], ["sql", "SELECT * FROM source_health ORDER BY name", "--format",
                                                       "json"], ["search", "Kosovo", "--format", "json"]):
        on_file = json.loads(cli("--config", str(tmp_path / "file.toml"), *command).stdout)
        on_lake = json.loads(cli("--config", str(cfg), *command).stdout)
        if command[0] == "search":   # equal scores may come in either order (see the BM25 test)
            on_file, on_lake = (sorted(hits, key=lambda h: (-h["score"], h["url"])) for hits in (on_file, on_lake))
        assert on_lake == on_file and on_file, command

    again = cli("--config", str(cfg), "warehouse", "migrate", "--to-lake")
    assert again.returncode == 2 and "is not empty" in again.stderr and "Traceback" not in again.stderr


READER_BOUND = 1.0   # seconds: the bound for a query during loads (on the file one waited up to 11 s)
SQL_BOUND = 10.0     # seconds: a whole `balkanwatch sql` process (interpreter, extensions, ATTACH) on 2 busy cores


def test_readers_never_wait_for_two_shard_loads(lake_config, tmp_path: Path) -> None:
    """Two shard loads (`ingest --shard K/2 --no-settle`, real processes) into one lake at once; meanwhile a
    reader's query answers within READER_BOUND every time and sees the articles arrive, and `balkanwatch sql`
    processes started during the loads answer too."""
    import time

    from balkanwatch.sharding import shard_of
    from tests.conftest import served_corpus

    with served_corpus(tmp_path / "sites", distinct_hosts=True) as (sources, arts, _):
        where = [s.get("feed") or s.get("sitemap") or s.get("listing") or s["urls"][0] for s in sources]
        assert len({shard_of(url, 2) for url in where}) == 2   # both shards have sources
        cfg = lake_config(toml_sources(sources))
        assert cli("--config", str(cfg), "warehouse", "init").returncode == 0
        config = load_config(cfg)
        loads = [subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect",
                                   "--shard", f"{k}/2", "--no-settle", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=ROOT, text=True) for k in range(2)]
        waits: list[float] = []
        seen: list[int] = []
        sql_runs: list[tuple[float, int]] = []
        with Warehouse.for_config(config, read_only=True) as reader:
            while any(p.poll() is None for p in loads):
                started = time.monotonic()
                seen.append(reader.query("SELECT count(*) FROM articles")[1][0][0])
                waits.append(time.monotonic() - started)
                if len(sql_runs) < 2 and seen[-1] > 0:   # a whole CLI reader, twice, once articles arrive
                    began = time.monotonic()
                    out = cli("--config", str(cfg), "sql", "SELECT count(*) AS n FROM articles", "--format", "json")
                    sql_runs.append((time.monotonic() - began, out.returncode))
                time.sleep(0.1)
        outs = [p.communicate(timeout=120) for p in loads]
    assert [p.returncode for p in loads] == [0, 0], [o[1][-2000:] for o in outs]
    assert len(waits) >= 5 and max(waits) <= READER_BOUND, waits
    assert seen == sorted(seen) and any(0 < n < len(arts) for n in seen), seen   # read while loading
    assert sql_runs and all(rc == 0 and took <= SQL_BOUND for took, rc in sql_runs), sql_runs
    with Warehouse.for_config(config, read_only=True) as wh:
        assert wh.rows("SELECT count(*) AS n, count(DISTINCT article_id) AS ids FROM articles") == [
            {"n": len(arts), "ids": len(arts)}]


@pytest.mark.parametrize("catalog", ["dbname=x host=h", "dbname=x connect_timeout=3",
                                     "postgresql://u@h/x", "postgres://u@h/x?sslmode=require"])
def test_an_error_quotes_the_catalog_as_written_without_the_bounds(catalog: str) -> None:
    from warehouse.lake import LakeTarget, without_bounds

    said = f'IO Error: Unable to connect to Postgres at "{LakeTarget(catalog, "d").libpq}": timeout expired'
    assert without_bounds(said) == f'IO Error: Unable to connect to Postgres at "{catalog}": timeout expired'
