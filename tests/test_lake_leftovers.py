"""What a killed process leaves beside a lake (issue #16): Parquet files a load wrote but never committed
(deleted by `warehouse maintain` once older than the grace), and a search-index build's `.building` file
(deleted by the next build on the machine once its builder is gone). A real PostgreSQL catalog
(tests/postgres.py) and a real DuckDB FTS index."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.test_lake_upkeep import fingerprint
from warehouse import Warehouse
from warehouse.lake_search import abandoned_builds, build_index, ranked, recent_path, remove_index
from warehouse.store import FTS_FIELDS, fts_extension_path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_maintain_deletes_orphaned_parquet_files_older_than_the_grace_and_keeps_every_row(corpus, lake_config) -> None:
    sources, arts, _ = corpus
    config = load_config(lake_config(toml_sources(sources)))
    asyncio.run(run_ingest(config))
    with Warehouse.for_config(config) as wh:          # rows out of the catalog into Parquet files
        wh.maintain(keep=timedelta(days=7), grace=timedelta(hours=1))
    rows = fingerprint(config)
    assert rows["articles"][0] == len(arts)
    data = Path(config.lake_data_path)
    live = sorted(data.rglob("*.parquet"))
    assert live
    # what a load killed between writing its file and committing it leaves: a Parquet file the catalog never saw
    old_orphan = live[0].with_name("ducklake-killed-load-old.parquet")
    new_orphan = live[0].with_name("ducklake-killed-load-new.parquet")
    for orphan in (old_orphan, new_orphan):
        shutil.copy(live[0], orphan)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old_orphan, (two_hours_ago, two_hours_ago))

    with Warehouse.for_config(config) as wh:
        report = wh.maintain(keep=timedelta(days=7), grace=timedelta(hours=1))
    assert report.orphans_deleted == 1
    assert not old_orphan.exists() and new_orphan.exists()    # a file younger than the grace may still commit
    assert all(p.exists() for p in live)                      # no file the catalog knows is touched
    assert any("1 orphaned files" in line for line in report.lines())
    assert fingerprint(config) == rows                        # every row still reads, unchanged

    with Warehouse.for_config(config) as wh:                 # once the grace has passed (here: none)
        assert wh.maintain(keep=timedelta(days=7), grace=timedelta(0)).orphans_deleted == 1
    assert not new_orphan.exists()   # (files merged away earlier may go too: their grace is over as well)
    assert fingerprint(config) == rows


def test_a_search_index_build_deletes_what_a_killed_build_left_and_never_a_running_ones(tmp_path: Path) -> None:
    index = tmp_path / "search.duckdb"
    killed = tmp_path / f"search.duckdb.{dead_pid()}.building"
    killed_wal = killed.with_name(killed.name + ".wal")
    running = tmp_path / f"search.duckdb.{os.getppid()}.building"   # the pytest runner's parent: alive
    other_index = tmp_path / f"other.duckdb.{dead_pid()}.building"   # another index's: not this one's business
    for leftover in (killed, killed_wal, running, other_index):
        leftover.write_bytes(b"half an index")
    assert abandoned_builds(index) == sorted([killed, killed_wal])

    articles = pa.table({"article_id": ["a1", "a2"], "title": ["KFOR patrol", "Weather"],
                         "text": ["KFOR troops patrol near the border crossing at Jarinje.", "Sunny in Pristina."]})
    assert build_index(index, articles, FTS_FIELDS, fts_extension=fts_extension_path()) == 2
    assert not killed.exists() and not killed_wal.exists()
    assert running.exists() and other_index.exists()
    assert not list(tmp_path.glob(f"search.duckdb.{os.getpid()}.building*"))   # its own build was renamed over
    best = ranked(index, "border crossing", 5, fts_extension=fts_extension_path())
    assert best.column("article_id").to_pylist() == ["a1"]


def test_a_reader_between_a_whole_rebuild_and_the_recent_index_removal_lists_each_article_once(tmp_path: Path) -> None:
    """A lake's reader may open a whole index just rebuilt (holding the recent articles) while the recent
    index file is still there, or just gone: each article is scored once, as the whole index scores it, and a
    recent file removed between the reader's check and its ATTACH is no error."""
    index, recent = tmp_path / "search.duckdb", recent_path(tmp_path / "search.duckdb")
    rows = {"article_id": ["a1", "a2", "a3"], "title": ["KFOR patrol", "Weather", "Border"],
            "text": ["KFOR troops patrol near the border crossing at Jarinje.", "Sunny in Pristina.",
                     "The border crossing at Jarinje reopened."]}
    build_index(index, pa.table(rows), FTS_FIELDS, fts_extension=fts_extension_path())
    alone = ranked(index, "border crossing", 5, fts_extension=fts_extension_path()).to_pylist()
    assert [r["article_id"] for r in alone] == ["a3", "a1"]
    build_index(recent, pa.table({k: v[2:] for k, v in rows.items()}), FTS_FIELDS, fts_extension=fts_extension_path())
    both = ranked(index, "border crossing", 5, fts_extension=fts_extension_path(), recent=recent).to_pylist()
    assert [r["article_id"] for r in both] == ["a3", "a1"]      # a3 once, though both files hold it…
    assert both[0]["score"] <= alone[0]["score"]                 # …and scored once (twice would double it)
    remove_index(recent)
    gone = ranked(index, "border crossing", 5, fts_extension=fts_extension_path(), recent=recent).to_pylist()
    assert gone == alone


@pytest.mark.usefixtures("postgres")   # skips where PostgreSQL is not installed
def test_a_process_stopped_with_sigterm_stops_its_throwaway_postgres() -> None:
    """tests/postgres.py's cluster (the lake benchmarks' too) is stopped and its folder deleted when its
    process gets SIGTERM, as `timeout` or a CI runner sends: the default action killed the process at once
    and left PostgreSQL running. A real cluster in a real child process."""
    root = Path(__file__).resolve().parent.parent
    script = ("import time\nfrom tests.postgres import running_postgres\nwith running_postgres() as pg:\n"
              "    print(pg.port, pg.createdb('probe'), flush=True)\n    time.sleep(300)\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline().split()[0])   # type: ignore[union-attr]
        with socket_to(port):
            pass                                          # it listens
        child.terminate()                                 # SIGTERM
        assert child.wait(timeout=60) == 128 + 15
    finally:
        child.kill()
    with pytest.raises(OSError):
        with socket_to(port):
            pass                                          # nothing listens any more
    assert not [cmd for cmd in map(cmdline, Path("/proc").glob("[0-9]*")) if f"-p {port} " in cmd]   # no postgres left


def cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:   # gone meanwhile
        return ""


def socket_to(port: int):  # type: ignore[no-untyped-def]
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=5)
