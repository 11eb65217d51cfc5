"""kill -9 of an ingest run at several points, then a normal run: nothing lost, nothing duplicated,
warehouse consistent (every article has its raw page, sketch and story)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


def _pages_served(servers) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for s in servers.values() for r in list(s.requests) if "/news/" in r["path"])


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_mid_ingest(cfg: Path, servers, pages: int, extra_wait: float) -> int:  # type: ignore[no-untyped-def]
    """Start `ingest --no-prefect`, SIGKILL it once `pages` article pages were served (the listings, for 0)
    and `extra_wait` more seconds passed; returns its exit code. Its extraction workers must not outlive it
    (they would wait for work forever, ~180 MB each)."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest", "--no-prefect"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _pages_served(servers) < pages and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if pages == 0:   # wait for the listings instead
        while not any(s.requests for s in servers.values()) and time.monotonic() < deadline:
            time.sleep(0.005)
    time.sleep(extra_wait)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    code = proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "extraction workers outlived their killed run"
    return code


# Kill points by progress, not by clock: after the listings, mid-fetch, after every page was served (mid
# extraction / load), and a little later (mid load / story assignment / finish).
@pytest.mark.parametrize("pages, extra_wait", [(0, 0.0), (3, 0.0), (7, 0.0), (10, 0.15), (10, 0.6)])
def test_kill_9_mid_run_then_rerun(corpus, write_config, pages: int, extra_wait: float) -> None:
    sources, arts, servers = corpus
    cfg = write_config(toml_sources(sources))
    cfg.write_text(cfg.read_text().replace("per_host_delay = 0.0", "per_host_delay = 0.25"))
    kill_mid_ingest(cfg, servers, pages, extra_wait)
    summary = asyncio.run(run_ingest(load_config(cfg), force=True))
    assert summary.status == "completed"
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        counts = wh.rows("""SELECT (SELECT count(*) FROM articles) AS articles,
                                   (SELECT count(DISTINCT url) FROM articles) AS urls,
                                   (SELECT count(*) FROM raw_pages) AS raw,
                                   (SELECT count(*) FROM article_sketches) AS sketches,
                                   (SELECT count(*) FROM articles WHERE story_id IS NULL) AS unassigned,
                                   (SELECT count(*) FROM runs WHERE status = 'running') AS running""")[0]
        stories = wh.query("SELECT count(*) FROM stories")[1][0][0]
    assert counts == {"articles": len(arts), "urls": len(arts), "raw": len(arts), "sketches": len(arts),
                      "unassigned": 0, "running": 0}
    assert stories == len({a.story for a in arts})
