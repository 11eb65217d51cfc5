"""Whoever holds the warehouse file, a run gets its turn (issue #5).

A program that is not balkanwatch (an analyst's notebook, the duckdb CLI, a SQL client) holds DuckDB's own lock,
which keeps our writers (and, while it writes, our readers) out and which our locks cannot queue behind: a run
waits for it as for our own locks, without stopping its fetching, then fails naming the program. An analyst's
long `balkanwatch sql` query holds our reader lock: it stops at `warehouse.query_timeout`, and at Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from balkanwatch.config import load_config
from flows.poll import WarehouseGate, run_logger
from tests.conftest import toml_sources
from tests.hostile.test_faults import ingest_cli
from warehouse import Warehouse

# A notebook that opens the file, says so, keeps it for `hold` seconds (or until killed), then lets go.
NOTEBOOK = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
con.execute("SELECT count(*) FROM articles").fetchall()
print("open", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


def notebook(db: Path, mode: str, hold: float = 600) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", NOTEBOOK, str(db), mode, str(hold)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def stored(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_run_waits_for_a_notebook_that_lets_go(corpus, write_config) -> None:
    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources[:1]))
    assert ingest_cli(cfg).returncode == 0
    db = cfg.parent / "wh.duckdb"
    first = stored(db)[0]
    cfg = write_config(toml_sources(sources))          # three more sites, due at once
    held = notebook(db, "read-only")
    run = subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    said = ""
    while "another program has it open" not in said and (line := run.stderr.readline()):
        said = line                       # until the run says what it waits for (or ends without saying)
    assert "another program has it open (" in said and f"PID {held.pid})" in said, said
    time.sleep(2)
    assert run.poll() is None, "the run did not wait for the file"
    held.kill()
    held.wait()
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-2000:]
    assert first < len(arts) and stored(db) == (len(arts), len(arts))   # every page of every site once


def test_a_notebook_that_keeps_the_file_fails_the_run_clearly_and_loses_nothing(corpus, write_config) -> None:
    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources[:1]))
    assert ingest_cli(cfg).returncode == 0
    db = cfg.parent / "wh.duckdb"
    cfg.write_text(cfg.read_text().replace("lock_timeout = 30", "lock_timeout = 2") + toml_sources(sources[1:]))
    held = notebook(db, "read-write")     # duckdb.connect(path) writes by default: readers are kept out too
    try:
        started = time.monotonic()
        refused = ingest_cli(cfg)
        took = time.monotonic() - started
        query = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "sql",
                                "SELECT count(*) FROM articles"], capture_output=True, text=True, timeout=120)
    finally:
        held.kill()
        held.wait()
    for done in (refused, query):
        assert done.returncode == 2, (done.stdout[-1000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr and "disk full" not in done.stderr, done.stderr
        assert "is open in another program (" in done.stderr and f"PID {held.pid}); gave up after 2s" in done.stderr
        assert "con.close()" in done.stderr
    assert took < 60, took                        # two seconds' wait, not the default ten minutes
    again = ingest_cli(cfg)
    assert again.returncode == 0, again.stderr[-2000:]
    assert stored(db) == (len(arts), len(arts))


def test_a_run_waiting_for_the_file_goes_on_fetching(corpus, write_config) -> None:
    """The gate waits for a held file asleep in the event loop: the run's other work (fetches, extraction
    results) goes on meanwhile. Before, our own flock was waited for in time.sleep, stopping the loop, and
    DuckDB's lock failed the run at once."""
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources[:1]))
    assert ingest_cli(cfg).returncode == 0
    config = load_config(cfg)
    db = cfg.parent / "wh.duckdb"
    run_logger()      # imports Prefect's logging (a second or so), as every ingest process has by then

    async def use_while_held() -> tuple[float, int]:
        gate, ticks = WarehouseGate(config), 0
        waiting = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            waiting.set()
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        tick = asyncio.create_task(ticker())
        await waiting.wait()
        started = time.monotonic()
        try:
            async with gate.open() as wh:
                assert wh.con.execute("SELECT count(*) FROM articles").fetchone()[0] > 0
        finally:
            gate.close()
            tick.cancel()
        return time.monotonic() - started, ticks

    # a program that is not ours, then one of our own readers (balkanwatch sql's shared flock)
    held = notebook(db, "read-only", hold=1.5)
    waited, ticks = asyncio.run(use_while_held())
    held.wait(timeout=30)
    assert waited >= 1.0 and ticks >= 10, (waited, ticks)
    reader = subprocess.Popen([sys.executable, "-c", f"""
import time
from warehouse import Warehouse
with Warehouse.open({str(db)!r}, read_only=True) as wh:
    print("open", flush=True)
    time.sleep(1.5)
"""], stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
    waited, ticks = asyncio.run(use_while_held())
    reader.wait(timeout=30)
    assert waited >= 1.0 and ticks >= 10, (waited, ticks)
    with Warehouse.open(db) as wh:        # and the file is free again afterwards
        assert wh.con.execute("SELECT count(*) FROM articles").fetchone()[0] > 0


ENDLESS = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"   # 10^12 rows


def sql_cli(cfg: Path, query: str, *extra: str) -> subprocess.Popen[str]:
    # SIGINT as a terminal gives it (a test runner's children may inherit it ignored)
    return subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "sql", query, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_a_long_query_stops_at_its_time_limit_and_the_waiting_run_goes_on(corpus, write_config) -> None:
    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources[:1]))
    assert ingest_cli(cfg).returncode == 0
    db = cfg.parent / "wh.duckdb"
    cfg.write_text(cfg.read_text().replace("lock_timeout = 30", "lock_timeout = 30\nquery_timeout = 4")
                   + toml_sources(sources[1:]))
    query = sql_cli(cfg, ENDLESS)
    time.sleep(1.5)                                 # it holds the reader lock by now
    started = time.monotonic()
    run = ingest_cli(cfg)                           # waits for the query (up to lock_timeout), then loads
    took = time.monotonic() - started
    out, err = query.communicate(timeout=60)
    assert query.returncode == 2, (out[-500:], err[-2000:])
    assert "query stopped after 4s (warehouse.query_timeout)" in err and "Traceback" not in err, err
    assert run.returncode == 0, run.stderr[-2000:]
    assert took > 2, took                           # it did wait for the query
    assert stored(db) == (len(arts), len(arts))


def test_ctrl_c_stops_a_query_at_once_and_lets_go_of_the_file(corpus, write_config) -> None:
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources[:1]))
    assert ingest_cli(cfg).returncode == 0
    query = sql_cli(cfg, ENDLESS, "--timeout", "0")    # no time limit: only Ctrl-C ends it
    time.sleep(2)
    assert query.poll() is None
    query.send_signal(signal.SIGINT)
    started = time.monotonic()
    query.communicate(timeout=60)
    assert query.returncode == 130 and time.monotonic() - started < 5, (query.returncode, time.monotonic() - started)
    with Warehouse.open(cfg.parent / "wh.duckdb", lock_timeout=1) as wh:     # a writer gets in at once
        assert wh.con.execute("SELECT count(*) FROM articles").fetchone()[0] > 0
