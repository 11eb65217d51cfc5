"""Everything that works on the file works on the lake (issue #16, slice 2): the alerts flow and its outbox,
`alerts`, `spikes backtest`, `rematch`, `export --parquet`, `reextract`, boilerplate and revisions, on a
DuckLake lake with a real PostgreSQL catalog (tests/postgres.py) and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from aiosmtpd.controller import Controller

from app.devserver import free_port
from balkanwatch.config import Config, load_config
from balkanwatch.errors import DeliveryError
from balkanwatch.textnorm import fold
from flows.alerts import run_alerts
from flows.ingest import run_ingest
from tests.conftest import loopback_config, on_lake, served_corpus, toml_sources
from tests.test_alerts import WATCHLISTS, Inbox, alerts_toml
from tests.test_revisions import PARAS, atom, page
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
_names = itertools.count()


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--config", str(config), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def rows(config: Config, sql: str) -> list[dict[str, object]]:
    with Warehouse.for_config(config, read_only=True) as wh:
        return wh.rows(sql)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def surge_lake(postgres, tmp_path: Path, smtp_port: int) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """tests/test_alerts.py's surge corpus (a month of history, a surge in the last two hours), into a lake."""
    with served_corpus(tmp_path / "sites", monitoring=True) as (sources, _, _):
        alerts = alerts_toml(smtp_port)
        path = tmp_path / "balkanwatch.toml"
        text = loopback_config(alerts + WATCHLISTS + toml_sources(sources))
        path.write_text(on_lake(text, postgres.createdb(f"parity{next(_names)}")), encoding="utf-8")
        yield path


def test_alerts_outbox_and_the_alert_commands_on_a_lake(surge_lake: Path, smtp_port: int) -> None:
    config = load_config(surge_lake)
    summary = asyncio.run(run_ingest(config))             # SMTP down: the e-mail waits in the outbox
    assert summary.alerts.startswith("failed:") and "kept in the outbox" in summary.alerts, summary.alerts
    assert summary.boilerplate_removed > 0                 # the cleaning step ran on the lake
    pending = rows(config, "SELECT status, attempts, last_error FROM outbox")
    assert len(pending) == 1 and pending[0]["status"] == "pending" and pending[0]["attempts"] == 1
    log = json.loads(cli(surge_lake, "alerts", "--format", "json").stdout)
    assert {(r["watchlist"], r["status"]) for r in log} == {("kfor", "pending"), ("north-kosovo-clash", "pending")}
    assert all(r["about"] for r in log)      # what the surge was about, stored with the alerts on a lake too
    with pytest.raises(DeliveryError):
        run_alerts(config)

    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert run_alerts(config).sent == 1 and len(box.messages) == 1
        again = cli(surge_lake, "alert", "--no-prefect", "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["sent"] == 0, again.stderr[-2000:]
        assert asyncio.run(run_ingest(config, force=True)).new_articles == 0 and len(box.messages) == 1
    finally:
        controller.stop()
    assert "8 new stories" in str(box.messages[0][2])
    assert rows(config, "SELECT status, attempts FROM outbox") == [{"status": "sent", "attempts": 3}]
    assert rows(config, "SELECT watchlist, observed, status, len(story_ids) AS n FROM alerts ORDER BY 1") == [
        {"watchlist": "kfor", "observed": 8.0, "status": "sent", "n": 8},
        {"watchlist": "north-kosovo-clash", "observed": 8.0, "status": "sent", "n": 8}]
    assert rows(config, "SELECT count(*) = count(DISTINCT article_id || watchlist) AS once FROM mentions") == [
        {"once": True}]
    assert rows(config, "SELECT count(*) > 0 AS learned FROM source_boilerplate") == [{"learned": True}]

    back = cli(surge_lake, "spikes", "backtest", "--format", "json")
    assert back.returncode == 0, back.stderr[-2000:]
    assert {(r["watchlist"], r["observed"]) for r in json.loads(back.stdout)} == {("kfor", 8.0),
                                                                                  ("north-kosovo-clash", 8.0)}
    text = surge_lake.read_text(encoding="utf-8").replace(
        '[[watchlists]]\nname = "eulex"', '[[watchlists]]\nname = "zvecan"\nany = ["Звечан", "Zvecan*"]\n\n'
                                           '[[watchlists]]\nname = "eulex"')
    surge_lake.write_text(text, encoding="utf-8")
    out = cli(surge_lake, "rematch")
    assert out.returncode == 0, out.stderr[-2000:]
    zv = {r["article_id"] for r in rows(config, "SELECT article_id FROM mentions WHERE watchlist = 'zvecan'")}
    texts = rows(config, "SELECT article_id, title || ' ' || text AS t FROM articles")
    assert zv and zv == {r["article_id"] for r in texts if "zvecan" in fold(str(r["t"]))}
    # a watchlist tried on the lake gets the stories the configured one got (`topics try`, read-only)
    tried = cli(surge_lake, "topics", "try", "zvecan", "--examples", "1000", "--format", "json")
    assert tried.returncode == 0, tried.stderr[-2000:]
    stories = {r["story_id"] for r in rows(config, "SELECT story_id FROM story_mentions WHERE watchlist = 'zvecan'")}
    assert stories and {e["story_id"] for e in json.loads(tried.stdout)["examples"]} == stories
    # `search --topic`: the lake's ranked hits checked against the topic's stories (its local index holds none)
    with Warehouse.for_config(config, read_only=True) as wh:
        wh.rebuild_fts()                                    # this machine's index, as `reindex` builds it
        every = {h["article_id"] for h in wh.search("KFOR", limit=500)}
        within = wh.search("KFOR", limit=500, topics=["zvecan"])
        assert all(h["score"] is not None for h in within)
    of_topic = {r["article_id"] for r in rows(config, """SELECT article_id FROM articles WHERE story_id IN (
                    SELECT story_id FROM story_mentions WHERE watchlist = 'zvecan')""")}
    assert within and {h["article_id"] for h in within} == every & of_topic < every
    shown = cli(surge_lake, "search", "KFOR", "--topic", "zvecan", "--limit", "500", "--format", "json")
    assert shown.returncode == 0 and {h["url"] for h in json.loads(shown.stdout)} == {h["url"] for h in within}


def test_export_and_reextract_on_a_lake(surge_lake: Path, tmp_path: Path) -> None:
    config = load_config(surge_lake)
    asyncio.run(run_ingest(config))
    out = cli(surge_lake, "export", "--parquet", str(tmp_path / "export"))
    assert out.returncode == 0, out.stderr[-2000:]
    written = {Path(line).stem: pq.read_table(line).num_rows for line in out.stdout.split()}
    counts = {t: rows(config, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in written}
    assert written == counts and counts["articles"] > 0 and counts["stories"] > 0 and counts["mentions"] > 0
    assert {"sources", "runs", "fetches", "failed_items", "alerts", "topic_counts"} <= set(written)
    assert "raw_pages" not in written

    before = rows(config, "SELECT article_id, content_hash, fetched_at FROM articles ORDER BY 1")
    out = cli(surge_lake, "reextract", "--all")
    assert out.returncode == 0 and f"re-extracted {len(before)} articles" in out.stdout, out.stderr[-2000:]
    after = rows(config, "SELECT article_id, content_hash, fetched_at FROM articles ORDER BY 1")
    assert [(r["article_id"], r["fetched_at"]) for r in after] == [(r["article_id"], r["fetched_at"]) for r in before]
    assert rows(config, "SELECT count(*) AS n, count(DISTINCT article_id) AS ids FROM articles") == [
        {"n": len(before), "ids": len(before)}]


def test_a_revision_on_a_lake(server, postgres, write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    (site / "news").mkdir()
    (site / "news" / "patrols.html").write_text(page("Patrols up", PARAS), encoding="utf-8")
    (site / "feed.xml").write_text(atom(server.base, "2026-11-20T08:00:00Z"), encoding="utf-8")
    cfg = write_config(toml_sources([{"name": "Herald", "feed": f"{server.base}/feed.xml"}]))
    cfg.write_text(on_lake(cfg.read_text(), postgres.createdb(f"parity{next(_names)}")), encoding="utf-8")
    config = load_config(cfg)
    assert asyncio.run(run_ingest(config)).new_articles == 1
    corrected = [*PARAS[:2], "Correction: Kosovo police, not EULEX, were present; two officers were slightly injured."]
    (site / "news" / "patrols.html").write_text(page("Patrols up near Jarinje", corrected), encoding="utf-8")
    (site / "feed.xml").write_text(atom(server.base, "2026-11-20T12:30:00Z"), encoding="utf-8")
    revised = asyncio.run(run_ingest(config, force=True))
    assert revised.new_articles == 0 and revised.sources[0].revised == 1
    assert asyncio.run(run_ingest(config, force=True)).sources[0].revised == 0
    [art] = rows(config, "SELECT article_id, title, revision, story_id FROM articles")
    assert art["title"] == "Patrols up near Jarinje" and art["revision"] == 2 and art["story_id"]
    old = rows(config, "SELECT revision, title FROM article_revisions")
    assert old == [{"revision": 1, "title": "Patrols up"}]
    assert rows(config, "SELECT count(*) AS n FROM stories") == [{"n": 1}]
