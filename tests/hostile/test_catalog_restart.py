"""A lake's PostgreSQL catalog restarted, down or frozen under balkanwatch (found by a probe written after
a `bench.soak --catalog-outage` run, which itself passed on the old code: no run was mid-flight).

PostgreSQL drops every session when it restarts, and with them the advisory locks balkanwatch's writers
hold (warehouse/lake.py), without telling the holder; the lake's own connection reconnects on its next
statement. Before session 30 a writer then went on committing beside another that had taken the lock, and
failed only at its very end, on releasing a lock that was gone. Now its next commit is rolled back with a
clear error, and the next run redoes the work. The tests with a PostgreSQL start their own (they stop it);
the frozen catalog is a socket that accepts and never answers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from balkanwatch.errors import CatalogLockLost, WarehouseError
from tests.conftest import on_lake, toml_sources
from tests.hostile.test_kill import ROOT, _pages_served
from tests.hostile.test_kill_lake import assert_a_rerun_stores_each_article_once
from tests.postgres import Postgres, postgres_bin, running_postgres
from warehouse import Warehouse

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed (apt-get install postgresql)")


OTHER_WRITER = """
import sys
from balkanwatch.config import load_config
from warehouse import Warehouse
config = load_config(sys.argv[1])
with Warehouse.run_lock(config, timeout=2), Warehouse.for_config(config) as wh, wh.transaction():
    wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('b-other', now(), 'completed')")
"""


def _run_ids(config) -> list[str]:  # type: ignore[no-untyped-def]
    with Warehouse.for_config(config, read_only=True) as wh:
        return [r["run_id"] for r in wh.rows("SELECT run_id FROM runs ORDER BY run_id")]


def test_a_catalog_restart_under_a_writer_rolls_back_its_next_commit(write_config) -> None:  # type: ignore[no-untyped-def]
    with running_postgres() as pg:
        cfg = write_config("")
        cfg.write_text(on_lake(cfg.read_text(), pg.createdb("restarted")))
        config = load_config(cfg)
        with Warehouse.run_lock(config), Warehouse.for_config(config) as wh:
            with wh.transaction():
                wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('a-before', now(), 'completed')")
            pg.stop()
            pg.start()
            # What makes it dangerous: PostgreSQL dropped both locks, so another process's writer gets them at once
            subprocess.run([sys.executable, "-c", OTHER_WRITER, str(cfg)], cwd=ROOT, check=True, timeout=60)
            with pytest.raises(CatalogLockLost, match="lost the lake's catalog lock .* restarted"), wh.transaction():
                wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('c-after', now(), 'completed')")
            with pytest.raises(CatalogLockLost):   # a write that commits itself (no transaction) is checked too
                wh.record_fts_build()
        # leaving the blocks (releasing locks whose sessions are gone) raised nothing more
        assert _run_ids(config) == ["a-before", "b-other"]
        with Warehouse.for_config(config, read_only=True) as wh:
            assert wh.rows("SELECT count(*) AS n FROM fts_builds") == [{"n": 0}]
        # and the locks are free again
        with Warehouse.run_lock(config, timeout=2), Warehouse.for_config(config) as wh, wh.transaction():
            wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('d-next', now(), 'completed')")
        assert _run_ids(config) == ["a-before", "b-other", "d-next"]


def lake_ingest_mid_run(corpus, write_config, pg: Postgres, dbname: str) -> tuple[Path, subprocess.Popen[str]]:  # type: ignore[no-untyped-def]
    """`ingest --no-prefect` of the corpus into a new lake on `pg` (pages 0.25 s apart), returned once it has
    fetched three pages: a run caught mid-flight, for a fault to hit. Its config file, and the process."""
    sources, _arts, servers = corpus
    cfg = write_config(toml_sources(sources))
    cfg.write_text(on_lake(cfg.read_text().replace("per_host_delay = 0.0", "per_host_delay = 0.25"), pg.createdb(dbname)))
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _pages_served(servers) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before the fault"
    return cfg, proc


def test_a_catalog_restart_mid_ingest_is_a_clear_error_and_the_rerun_completes(corpus, write_config) -> None:  # type: ignore[no-untyped-def]
    with running_postgres() as pg:
        cfg, proc = lake_ingest_mid_run(corpus, write_config, pg, "restarted")
        pg.stop()
        pg.start()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (out, err)
        # by when the run next touched the lake: a commit after the restart, or a read while it was down
        assert ("lost the lake's catalog lock" in err and "the next run redoes the work" in err) or (
            "the warehouse could not be read or written" in err and "Unable to connect to Postgres" in err), err
        assert "Traceback" not in err, err
        assert_a_rerun_stores_each_article_once(cfg, corpus[1])


SECRET = "pw with 'quote' and space"


def test_the_catalog_password_is_in_no_error_when_the_catalog_goes_away(write_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """DuckDB's errors quote the connection string it was given; once the catalog is down every statement
    raises one. The password used to be in that string: it reached the CLI's message, the traceback and
    Prefect's log. Now libpq reads it from PGPASSWORD, and a wrong one is refused (so it is the one used)."""
    monkeypatch.setenv("PGPASSWORD", "")   # set by opening the lake: gone again after the test
    with running_postgres() as pg:
        pg.createdb("secured")
        quoted = SECRET.replace("'", "''")
        pg.psql("secured", f"CREATE ROLE bw LOGIN PASSWORD '{quoted}'; ALTER DATABASE secured OWNER TO bw")
        pg.require_password("secured", "bw")
        cfg = write_config("")
        cfg.write_text(on_lake(cfg.read_text(), f"dbname=secured host=127.0.0.1 port={pg.port} user=bw").replace(
            'data_path = "lake-data"', 'data_path = "lake-data"\ncatalog_password_env = "BW_TEST_CATALOG_PW"'))
        monkeypatch.setenv("BW_TEST_CATALOG_PW", "not it")
        with pytest.raises(WarehouseError, match="password authentication failed"):
            with Warehouse.for_config(load_config(cfg)):
                pass
        monkeypatch.setenv("BW_TEST_CATALOG_PW", SECRET)
        config = load_config(cfg)
        errors: list[BaseException] = []
        with Warehouse.for_config(config) as wh:
            wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('before', now(), 'completed')")
            pg.stop()
            # a read fails; so does dropping the ids registered for one (a catalog change: until session 38 a raw
            # duckdb.IOException, and in `ingest` a TransactionException and a traceback); both are ours now, the
            # drop's the lost lock (the writer's lock went with the connection)
            for attempt in (lambda: wh.rows("SELECT count(*) AS n FROM runs"), lambda: wh.known_items(["x"])):
                with pytest.raises(WarehouseError, match="Unable to connect to Postgres|lost the lake's catalog lock"
                                   ) as err:
                    attempt()
                errors.append(err.value)
            with pytest.raises(WarehouseError, match="warehouse write failed") as failed, wh.transaction():
                wh.con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('during', now(), 'completed')")
            errors.append(failed.value)
            shown = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "sql", "SELECT 1"],
                                   cwd=ROOT, capture_output=True, text=True, timeout=60)
            pg.start()
        texts = ["".join(traceback.format_exception(e)) for e in errors]
        assert all("dbname=secured" in t for t in texts), texts   # they do quote the connection string ...
        assert not [t for t in texts if "quote" in t], texts        # ... without the password
        assert shown.returncode == 2 and "dbname=secured" in shown.stderr, shown.stderr
        assert "quote" not in shown.stderr + shown.stdout and "Traceback" not in shown.stderr, shown.stderr
        assert _run_ids(config) == ["before"]


def test_an_email_sent_when_the_catalog_restarted_stays_marked_sent(write_config) -> None:  # type: ignore[no-untyped-def]
    """The outbox's 'sent' mark is the one write not rolled back for a lost lock: the e-mail has gone, and
    undoing the mark would make the next cycle send it again."""
    with running_postgres() as pg:
        cfg = write_config("")
        cfg.write_text(on_lake(cfg.read_text(), pg.createdb("outbox")))
        config = load_config(cfg)
        message = {"message_id": "<m1@balkanwatch>", "kind": "spike", "incident_id": None, "subject": "s",
                   "recipients": ["a@example.org"], "message": "body", "created_at": datetime(2026, 12, 6)}
        with Warehouse.outbox_lock(config), Warehouse.for_config(config) as wh:
            wh.record_incident([], message)
            assert [m["message_id"] for m in wh.pending_messages()] == ["<m1@balkanwatch>"]
            pg.stop()
            pg.start()    # ... while the e-mail went out
            wh.mark_sent("<m1@balkanwatch>", None, datetime(2026, 12, 6, 0, 1))
            with pytest.raises(CatalogLockLost):   # any other write is refused
                wh.record_incident([], {**message, "message_id": "<m2@balkanwatch>"})
        with Warehouse.for_config(config, read_only=True) as wh:
            assert wh.rows("SELECT message_id, status FROM outbox") == [{"message_id": "<m1@balkanwatch>", "status": "sent"}]


def test_a_catalog_that_accepts_and_never_answers_is_a_clear_error_in_seconds(write_config) -> None:  # type: ignore[no-untyped-def]
    """A frozen catalog server (or a half-dead proxy in front of it): libpq's default is to wait for ever,
    and every command that opened the lake hung. A reader (`sql`) and a writer (`ingest`, which takes the
    catalog's run lock first) now fail with libpq's "timeout expired" after the connect timeout."""
    from warehouse.lake import CATALOG_CONNECT_TIMEOUT_SECONDS

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: [accepted.append(listener.accept()[0]) for _ in range(16)], daemon=True).start()
        cfg = write_config("")
        cfg.write_text(on_lake(cfg.read_text(), f"dbname=frozen host=127.0.0.1 port={listener.getsockname()[1]} user=u"))
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), *command], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command in (("sql", "SELECT 1"), ("ingest", "--no-prefect"))]
        try:
            outs = [p.communicate(timeout=CATALOG_CONNECT_TIMEOUT_SECONDS * 4) for p in procs]
        finally:
            for p in procs:
                p.kill()
        elapsed = time.monotonic() - started
        for conn in accepted:
            conn.close()
    assert accepted, "the commands never reached the frozen catalog"
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 2 and "timeout expired" in err and "Traceback" not in err, (p.args, err)
    assert elapsed < CATALOG_CONNECT_TIMEOUT_SECONDS * 3, elapsed
