"""Faults (issue #5): disk full mid-run, an alerts cycle during an ingest, secrets under failure."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb

from tests.conftest import toml_sources

LIMITED_RUN = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)         # writes past the limit fail with EFBIG: a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from app.cli import main
sys.exit(main(["--config", {config!r}, "ingest", "--no-prefect"]))
"""


def ingest_cli(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect",
                           *extra], capture_output=True, text=True, timeout=300)


def test_disk_full_mid_run_is_a_clear_error_and_the_rerun_completes(corpus, write_config) -> None:
    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources))
    limit = 150_000     # per file: the schema fits (in the WAL when a checkpoint cannot grow the file), the pages do not
    full = subprocess.run([sys.executable, "-c", LIMITED_RUN.format(limit=limit, config=str(cfg))],
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 2, (full.returncode, full.stdout[-3000:], full.stderr[-3000:])
    assert "balkanwatch: error:" in full.stderr and "Traceback" not in full.stderr
    assert "disk full or file not writable" in full.stderr and "File too large" in full.stderr, full.stderr
    again = ingest_cli(cfg, "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
        urls = [r[0] for r in con.execute("SELECT url FROM articles").fetchall()]
        assert len(urls) == len(set(urls)) == len(arts)           # nothing lost, nothing twice
        assert con.execute("SELECT count(*) FROM articles WHERE story_id IS NULL").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM raw_pages").fetchone()[0] == len(arts)


def test_an_alerts_cycle_during_an_ingest_waits_its_turn(corpus, write_config, server) -> None:
    def slow(h):  # type: ignore[no-untyped-def]
        time.sleep(4)
        h.send_body(503, b"", {})
    server.routes["/slow.xml"] = slow
    sources, arts, _ = corpus
    cfg = write_config(toml_sources([*sources, {"name": "Slow", "feed": server.url("slow.xml")}]) + textwrap.dedent("""
        [[watchlists]]
        name = "kfor"
        any = ["KFOR", "КФОР"]
        """))
    results: dict[str, object] = {}
    ingest = threading.Thread(target=lambda: results.update(ingest=ingest_cli(cfg)))
    ingest.start()
    time.sleep(2.5)                     # the ingest is between its loads, waiting on the slow source
    alert = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "alert", "--no-prefect"],
                           capture_output=True, text=True, timeout=300)
    ingest.join()
    done = results["ingest"]
    assert alert.returncode == 0, alert.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]                 # type: ignore[attr-defined]
    with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone() == (len(arts), len(arts))
        assert con.execute("SELECT count(*) FROM mentions WHERE watchlist = 'kfor'").fetchone()[0] > 0


def _make_read_only(path: Path) -> str | None:
    """Make a file unwritable even for root (chattr +i), else by permissions; the undo command, or None."""
    import os
    import shutil

    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return "chattr"
    if os.geteuid() != 0:
        path.chmod(0o444)
        return "chmod"
    return None


def test_a_read_only_warehouse_is_a_clear_error_and_stays_intact(corpus, write_config) -> None:
    import hashlib

    import pytest

    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources))
    assert ingest_cli(cfg).returncode == 0
    db = cfg.parent / "wh.duckdb"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    how = _make_read_only(db)
    if how is None:
        pytest.skip("cannot make a file read-only here (root without chattr)")
    try:
        denied = ingest_cli(cfg, "--force")
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True) if how == "chattr" else db.chmod(0o644)
    assert denied.returncode == 2, (denied.stdout[-1000:], denied.stderr[-1000:])
    assert "balkanwatch: error: cannot open warehouse" in denied.stderr and "Traceback" not in denied.stderr
    assert "file not writable" in denied.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert ingest_cli(cfg, "--force").returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone() == (len(arts), len(arts))
