"""tests/hostile/test_kill.py on a lake (issue #16): kill -9 of an ingest run into a DuckLake lake at several
points, then a normal run: nothing lost, nothing duplicated (the lake has no keys), the lake consistent. The
killed process held the catalog's advisory locks; PostgreSQL drops them with its connection."""

from __future__ import annotations

import asyncio
import itertools
import signal
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import on_lake, toml_sources
from tests.hostile.test_kill import kill_mid_ingest
from warehouse import Warehouse

_names = itertools.count()


@pytest.mark.parametrize("pages, extra_wait", [(0, 0.0), (3, 0.0), (7, 0.0), (10, 0.15), (10, 0.6)])
def test_kill_9_mid_run_into_a_lake_then_rerun(corpus, postgres, write_config, pages: int,  # type: ignore[no-untyped-def]
                                               extra_wait: float) -> None:
    sources, arts, servers = corpus
    cfg = write_config(toml_sources(sources))
    catalog = postgres.createdb(f"killed{next(_names)}")
    cfg.write_text(on_lake(cfg.read_text().replace("per_host_delay = 0.0", "per_host_delay = 0.25"), catalog))
    assert kill_mid_ingest(cfg, servers, pages, extra_wait) == -signal.SIGKILL   # killed mid-run, not finished before
    assert_a_rerun_stores_each_article_once(cfg, arts)


def assert_a_rerun_stores_each_article_once(cfg: Path, arts) -> None:  # type: ignore[no-untyped-def]
    """After a run cut short on a lake: a normal run completes, and every article is there once (ids and
    URLs), with its raw page, sketch and story assignment once; no run is left "running"."""
    config = load_config(cfg)
    summary = asyncio.run(run_ingest(config, force=True))
    assert summary.status == "completed", summary.note
    with Warehouse.for_config(config, read_only=True) as wh:
        counts = wh.rows("""SELECT (SELECT count(*) FROM articles) AS articles,
                                   (SELECT count(DISTINCT article_id) FROM articles) AS ids,
                                   (SELECT count(DISTINCT url) FROM articles) AS urls,
                                   (SELECT count(*) FROM raw_pages) AS raw,
                                   (SELECT count(*) FROM article_sketches) AS sketches,
                                   (SELECT count(*) FROM story_assignments) AS assigned,
                                   (SELECT count(*) FROM articles WHERE story_id IS NULL) AS unassigned,
                                   (SELECT count(*) FROM runs WHERE status = 'running') AS running""")[0]
        stories = wh.query("SELECT count(*) FROM stories")[1][0][0]
    n = len(arts)
    assert counts == {"articles": n, "ids": n, "urls": n, "raw": n, "sketches": n, "assigned": n, "unassigned": 0,
                      "running": 0}
    assert stories == len({a.story for a in arts})
