"""`balkanwatch sql` with a large result: written a batch at a time, never held whole in memory, and never
holding the warehouse while a slow reader (a pager, `| head`) takes its time."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import ResultWriter, render
from warehouse import Warehouse

MIXED = """SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'Zveçan, "north"' || chr(10) || i END AS text,
                  TIMESTAMP '2026-12-01 10:00:00' + i * INTERVAL 1 HOUR AS at, [i, i + 1] AS pair,
                  i * 1.5 AS score
           FROM range(10) t(i)"""


def sql_cli(cfg: Path, query: str, *extra: str, **kw):  # type: ignore[no-untyped-def]
    return subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "sql", query, *extra], **kw)


@pytest.fixture
def empty_warehouse(write_config):  # type: ignore[no-untyped-def]
    cfg = write_config("")
    with Warehouse.open(cfg.parent / "wh.duckdb"):
        pass
    return cfg


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("into", ["file", "pipe"])
def test_the_result_written_in_batches_is_what_the_whole_result_renders(tmp_path: Path, fmt: str, into: str) -> None:
    """Batches of 3 rows (across NULLs, newlines, quotes, commas, lists, timestamps): the same text as
    `render` of the whole result, straight into a file or through the temporary file."""
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        cols, rows = wh.query(MIXED)
        out = open(tmp_path / "out.txt", "w+", encoding="utf-8", newline="") if into == "file" else io.StringIO()
        writer = ResultWriter(fmt, out)
        assert (writer.sink is out) == (into == "file" and fmt != "table")     # else the temporary file
        assert wh.query_into(MIXED, writer.columns, writer.rows, batch=3) == 10
    writer.finish()
    out.seek(0)
    assert out.read() == render(cols, rows, fmt) + "\n"


def test_the_formats_are_what_scripts_read() -> None:
    """The three formats, pinned (scripts parse them): CSV with a header and ISO times, JSON one array of
    objects on one line, the table aligned with a row count."""
    from datetime import datetime

    cols, rows = ["n", "title", "at"], [(1, 'Zvečan, "north"', datetime(2026, 12, 6, 10, 0)), (2, None, None)]
    assert render(cols, rows, "csv") == 'n,title,at\n1,"Zvečan, ""north""",2026-12-06T10:00:00\n2,,'
    assert render(cols, rows, "json") == ('[{"n": 1, "title": "Zvečan, \\"north\\"", "at": "2026-12-06T10:00:00"}, '
                                          '{"n": 2, "title": null, "at": null}]')
    assert render(cols, rows, "table").splitlines() == [
        "n  title            at", "-  ---------------  -------------------",
        '1  Zvečan, "north"  2026-12-06 10:00:00', "2", "(2 rows)"]


def test_lists_and_structs_in_csv_are_json_a_csv_reader_can_parse() -> None:
    """`stories --format csv` and `sql` write a list column (sources, topics, story_ids) and a struct as
    JSON in their cell, not as Python's repr ("['Koha', 'RTS']"); bytes as their length, as JSON does."""
    import csv
    import json

    cols = ["sources", "topics", "about", "raw"]
    rows = [(["Koha Ditore", 'RTS "1"'], [], {"country": "XK", "n": 2}, b"\x00\x01\x02")]
    cells = next(csv.DictReader(io.StringIO(render(cols, rows, "csv"))))
    assert json.loads(cells["sources"]) == ["Koha Ditore", 'RTS "1"'] and json.loads(cells["topics"]) == []
    assert json.loads(cells["about"]) == {"country": "XK", "n": 2} and cells["raw"] == "<3 bytes>"


def test_a_result_larger_than_the_memory_it_may_take_is_written_whole(empty_warehouse, tmp_path: Path) -> None:
    """200 MB of rows into a file: all of them arrive, and the command takes less than a quarter of that in
    memory beyond what it takes for one row (measured: ~15 MB). Held whole, as before, it took 3 times
    the result beyond that; fetched in batches with DuckDB's default streaming buffer, still most of it."""
    def peak_of(query: str, target: Path) -> int:
        with open(target, "w", encoding="utf-8") as out:
            proc = sql_cli(empty_warehouse, query, "--format", "json", stdout=out, stderr=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read() if proc.stderr else ""
        return int(usage.ru_maxrss) * 1024        # kB on Linux

    base = peak_of("SELECT 1 AS i, repeat('KFOR ', 400) AS text", tmp_path / "one.json")
    target = tmp_path / "dump.json"
    peak = peak_of("SELECT i, repeat('KFOR ', 400) AS text FROM range(100000) t(i)", target)
    size = target.stat().st_size
    assert size > 200_000_000
    assert target.read_bytes().count(b'{"i": ') == 100_000
    assert peak - base < 0.25 * size, f"{(peak - base) / 1e6:.0f} MB more than one row takes, for {size / 1e6:.0f} MB"


def test_a_reader_that_stops_reading_does_not_hold_the_warehouse(empty_warehouse) -> None:
    """`balkanwatch sql … | less`, the pager left open: the result waits in a temporary file, the warehouse
    is let go, and a writer (an ingest) gets in while the command is still writing; the reader then gets
    every row. `| head` ends it quietly, exit 0, no traceback."""
    proc = sql_cli(empty_warehouse, "SELECT i, repeat('x', 100) AS t FROM range(50000) t(i)", "--format", "csv",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = empty_warehouse.parent / "wh.duckdb"
    deadline, wrote = time.monotonic() + 60, False
    while time.monotonic() < deadline and not wrote:
        time.sleep(0.2)
        try:
            with Warehouse.open(db, lock_timeout=0) as wh:
                wh.con.execute("CREATE TABLE IF NOT EXISTS probe AS SELECT 1 AS one")
                wrote = True
        except Exception:   # still held by the query
            continue
    assert wrote and proc.poll() is None        # the command is still writing (the pipe is full)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and len(out.splitlines()) == 50_001, err

    head = sql_cli(empty_warehouse, "SELECT i FROM range(200000) t(i)", "--format", "csv",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert head.stdout is not None and head.stdout.readline() == "i\n"
    head.stdout.close()
    assert head.wait(timeout=60) == 0
    assert head.stderr is not None and head.stderr.read() == ""


@pytest.mark.parametrize("command", [["alerts", "--format", "json"], ["sources"], ["stories"], ["search", "KFOR"]])
def test_every_command_ends_quietly_when_its_reader_goes_away(empty_warehouse, command: list[str]) -> None:
    """`balkanwatch alerts | head -c 600` (found by a probe): the reader is gone before the command writes;
    it ends as `sql` does, exit 0, no traceback (it was a BrokenPipeError traceback, from every command but
    `sql`)."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(empty_warehouse), *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()          # before the command has started up, let alone written its header
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""


def test_mistakes_on_the_command_line_are_told_for_what_they_are(empty_warehouse, tmp_path: Path, capsys) -> None:
    """Found by a probe: a write in `sql` was blamed on the disk ("disk full or file not writable?"), a
    mistyped file for `extract` was "not an http(s) URL", a negative --limit reached DuckDB as a Binder
    Error."""
    from app.cli import main

    assert main(["--config", str(empty_warehouse), "sql", "DROP TABLE articles"]) == 2
    err = capsys.readouterr().err
    assert "read-only session" in err and "disk full" not in err
    with Warehouse.open(empty_warehouse.parent / "wh.duckdb", read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM articles")[1] == [(0,)]       # still there

    assert main(["--config", str(empty_warehouse), "sql", ".tables"]) == 2   # the DuckDB shell's habit
    assert ".tables is a command of DuckDB's shell, not SQL: here `SHOW TABLES`" in capsys.readouterr().err
    assert main(["--config", str(empty_warehouse), "sql", "SHOW TABLES"]) == 0 and "articles" in capsys.readouterr().out

    assert main(["--config", str(empty_warehouse), "extract", str(tmp_path / "page.html")]) == 2
    assert capsys.readouterr().err.strip().endswith("page.html: no such file, and not an http(s) URL")
    (tmp_path / "page.html").write_text("<html><body><p>KFOR.</p></body></html>")   # a config named must exist
    assert main(["--config", str(tmp_path / "missing.toml"), "extract", str(tmp_path / "page.html")]) == 2
    assert "config file not found" in capsys.readouterr().err

    # files that cannot be read or written: said with the file's name, exit 2, no traceback
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "s.csv").write_text("timestamp,value\n2026-12-01T00:00:00,1\n2026-12-01T01:00:00,2\n")
    for argv, said in ((["extract", str(tmp_path / "a-folder")], "a-folder: cannot read it: Is a directory"),
                       (["spikes", "score", "--csv", str(tmp_path / "s.csv"), "--out", str(tmp_path / "a-folder")],
                        "a-folder: cannot write the scores: Is a directory"),
                       (["sources", "import-opml", str(tmp_path / "feeds.opml")],
                        "feeds.opml: cannot read it: No such file or directory"),
                       (["init", str(tmp_path / "no-such-folder" / "b.toml")], "b.toml: No such file or directory")):
        assert main(["--config", str(empty_warehouse), *argv]) == 2, argv
        assert capsys.readouterr().err.strip().endswith(said), argv

    assert main(["--config", str(empty_warehouse), "search", "KFOR", "--source", "Koha"]) == 2   # a typo'd source
    assert "no source named 'Koha' in the warehouse; sources: none yet" in capsys.readouterr().err
    assert main(["--config", str(empty_warehouse), "search", "KFOR", "--topic", "kfr"]) == 2    # and topic
    assert "no watchlist named 'kfr' in" in capsys.readouterr().err

    for bad, said in (("-3", "must be 0 or more, not -3"), ("ten", "not a whole number: 'ten'")):
        with pytest.raises(SystemExit) as exit_:
            main(["--config", str(empty_warehouse), "stories", "--limit", bad])
        assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_a_command_on_stored_data_refuses_a_warehouse_that_does_not_exist(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """Found by a probe: `alert` with a config whose warehouse.path named no file (a config copied to
    another folder: the path is relative to it) made a new, empty warehouse there and reported "0 articles
    matched". Commands that work on what ingest stored now say there is no warehouse and make none."""
    from app.cli import main

    cfg = write_config("")
    for argv in (["alert", "--no-prefect"], ["settle", "--no-prefect"], ["rematch"], ["reindex"], ["reextract"],
                 ["dedupe-backtest"], ["warehouse", "maintain", "--no-prefect"]):
        assert main(["--config", str(cfg), *argv]) == 2, argv
        assert f"no warehouse at {cfg.parent / 'wh.duckdb'}" in capsys.readouterr().err, argv
        assert not list(cfg.parent.glob("wh.duckdb*")), argv
