"""Alerts end to end: weeks of quiet history and a surge on loopback sites → one ingest → the alerts cycle
→ a real SMTP server on 127.0.0.1 (aiosmtpd) receives exactly one e-mail; re-runs send nothing; SMTP down
keeps the e-mail in the outbox until a later cycle sends it."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import logging
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from aiosmtpd.controller import Controller

from app.devserver import free_port
from balkanwatch.alerting import topic_series
from balkanwatch.config import Config, load_config, parse_config
from balkanwatch.errors import DeliveryError
from balkanwatch.textnorm import fold
from flows.alerts import run_alerts
from flows.ingest import run_ingest
from flows.maintenance import rising_words
from tests.conftest import loopback_config, served_corpus, toml_sources
from warehouse import Warehouse

WATCHLISTS = """
[[watchlists]]
name = "kfor"
any = ["KFOR", "КФОР", "Kosovo Force"]

[[watchlists]]
name = "north-kosovo-clash"
any = ["Kosovo", "Kosova", "Косово"]
all_of_any = [["clash", "shooting", "exchange of fire", "sukob", "пуцњава", "përplasje"]]

[[watchlists]]
name = "eulex"
any = ["EULEX"]
"""


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def alerts_toml(smtp_port: int) -> str:
    """[alerts] and [smtp] for e-mail to the test SMTP server on 127.0.0.1 (.eml copies saved in mail/)."""
    return f"""
[alerts]
email_to = ["analyst@example.org"]
email_from = "balkanwatch@example.org"
save_dir = "mail"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 5
"""


@pytest.fixture
def surge_config(tmp_path: Path, smtp_port: int, warehouse_backend: Callable[[str], str]) -> Iterator[Path]:
    """The seed corpus plus a month of history and a surge in the last two hours, on four loopback sites; the
    warehouse a DuckDB file unless the test parametrises `warehouse_backend` (tests/conftest.py)."""
    with served_corpus(tmp_path / "sites", monitoring=True) as (sources, _, _):
        alerts = alerts_toml(smtp_port)
        path = tmp_path / "balkanwatch.toml"
        path.write_text(warehouse_backend(loopback_config(alerts + WATCHLISTS + toml_sources(sources))),
                        encoding="utf-8")
        yield path


def db(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path.parent / "wh.duckdb"), read_only=True)


def query(config: Config, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql`, read back through the warehouse as every reader does (the file or the lake)."""
    with Warehouse.for_config(config, read_only=True) as wh:
        return wh.query(sql)[1]


# The core end to end (ingest → stories → mentions → alerts → one e-mail) on both backends (issue #16): the
# same corpus and the same assertions, the lake on the session's real PostgreSQL catalog.
@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_a_surge_sends_one_email_with_chart_and_stories_then_nothing_more(surge_config: Path, inbox: Inbox):
    config = load_config(surge_config)
    summary = asyncio.run(run_ingest(config))
    assert summary.alerts.endswith(", 1 e-mail sent"), summary.alerts
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "balkanwatch@example.org" and rcpts == ["analyst@example.org"]
    msg = message_from_bytes(raw, policy=policy.default)
    subject = str(msg["Subject"])
    # both topics surged on the same stories: one incident, one e-mail naming both
    assert "kfor" in subject and "north-kosovo-clash" in subject and "8 new stories" in subject
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 2 and all(p.get_content()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    html = msg.get_body(preferencelist=("html",)).get_content()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    for village in ("Zvečan", "Banjska", "Leposavić", "Zubin Potok", "Jarinje", "North Mitrovica", "Rudare", "Brnjak"):
        assert village in text and village in html
    assert "(agencies)" not in text          # syndicated copies are the same stories, not extra lines
    assert "Family dispute" not in text      # history is baseline, not news
    assert "cid:chart-0" in html
    # what the surge is about: words in most of its stories that the topics' stories of the weeks before lack
    about = re.search(r"\nAbout: (.+) — words these stories share", text)
    assert about is not None and html.count(about.group(1)) == 1
    events = [(part.rsplit(" (", 1)[0].split(", "), int(re.search(r"\((\d+)", part).group(1)))  # type: ignore[union-attr]
              for part in about.group(1).split("; ")]
    texts_as_written = [f"{t} {x}" for t, x in query(config, """SELECT a.title, a.text FROM stories s
                            JOIN articles a ON a.article_id = s.origin_article_id WHERE s.story_id IN (
                            SELECT unnest(story_ids) FROM alerts)""")]
    texts = [fold(t) for t in texts_as_written]
    before = [fold(f"{t} {x}") for t, x in query(config, """SELECT a.title, a.text FROM stories s
                  JOIN articles a ON a.article_id = s.origin_article_id WHERE s.story_id IN (
                  SELECT story_id FROM story_mentions WHERE watchlist IN ('kfor', 'north-kosovo-clash'))
                  AND s.first_seen_at < (SELECT min(window_start) FROM alerts) - INTERVAL 1 DAY""")]
    assert len(texts) == 8 and len(before) >= 5 and events
    # each word as the stories spell it most ("Monday", not "monday"); words written side by side as one phrase
    events = [([w for phrase in words for w in phrase.split()], n) for words, n in events]
    for words, n in events:
        assert n >= 3 and all(sum(fold(w) in t.split() for t in texts) >= n for w in words), (words, n)
        assert all(sum(fold(w) in t.split() for t in before) <= 1 for w in words), words   # new to these topics
        assert all(w in " ".join(texts_as_written) for w in words), words

    alerts = query(config, "SELECT watchlist, observed, status, len(story_ids) FROM alerts ORDER BY watchlist")
    assert alerts == [("kfor", 8.0, "sent", 8), ("north-kosovo-clash", 8.0, "sent", 8)]
    # cold start: the history (a clash story every nine days) built the baseline and alerted on nothing
    assert query(config, "SELECT count(*) FROM story_mentions WHERE watchlist = 'north-kosovo-clash'")[0][0] >= 11
    assert query(config, "SELECT count(*), min(status) FROM outbox") == [(1, "sent")]
    saved = sorted((surge_config.parent / "mail").iterdir())
    assert [p.suffix for p in saved] == [".eml", ".html"] and saved[0].read_bytes() == raw
    assert saved[1].read_text(encoding="utf-8").count('src="data:image/png;base64,iVBORw0KGgo') == 2

    again = run_alerts(config)
    assert again.spikes == [] and again.sent == 0 and len(inbox.messages) == 1
    second_ingest = asyncio.run(run_ingest(config, force=True))
    assert second_ingest.new_articles == 0 and len(inbox.messages) == 1


def test_an_alert_goes_out_without_its_about_line_when_the_words_cannot_be_read(surge_config: Path, inbox: Inbox,
                                                                              caplog) -> None:
    """What a surge is about is a description: a warehouse whose stored words cannot be read (here its
    `story_words` table is gone) still gets its alert e-mail, without the About line, and the log says why."""
    config = load_config(surge_config)
    with Warehouse.for_config(config) as wh:     # the warehouse at the current schema, then damaged
        wh.con.execute("DROP TABLE story_words")
    with caplog.at_level(logging.WARNING, logger="balkanwatch.alerts"):
        asyncio.run(run_ingest(config))
    assert len(inbox.messages) == 1
    mail = message_from_bytes(inbox.messages[0][2], policy=policy.default)
    assert "8 new stories" in str(mail["Subject"]) and " about " not in str(mail["Subject"])
    assert "About:" not in mail.get_body(preferencelist=("plain",)).get_content()
    assert "could not be read" in caplog.text and "story_words" in caplog.text
    log = json.loads(cli(surge_config, "alerts", "--format", "json").stdout)   # unknown, not "nothing rose"
    assert len(log) == 2 and all(r["about"] is None for r in log)


def test_the_alert_email_does_not_wait_for_the_search_index(surge_config: Path, inbox: Inbox,
                                                             monkeypatch: pytest.MonkeyPatch):
    """A run whose new articles call for a full-text index rebuild (here: any tail) sends its alert e-mail
    first and rebuilds after it, still within the run; search then ranks every article by BM25."""
    from balkanwatch import health

    monkeypatch.setattr(health, "FTS_MIN_TAIL", 1)
    config = load_config(surge_config)
    summary = asyncio.run(run_ingest(config))
    assert summary.alerts.endswith(", 1 e-mail sent") and len(inbox.messages) == 1
    (sent_at,), = query(config, "SELECT sent_at FROM outbox")
    builds = query(config, "SELECT built_at, articles FROM fts_builds")
    total = query(config, "SELECT count(*) FROM articles")[0][0]
    assert len(builds) == 1 and builds[0][1] == total and sent_at <= builds[0][0]
    with Warehouse.for_config(config, read_only=True) as wh:
        assert wh.fts_coverage()[:2] == (total, 0)
        hits = wh.search("Banjska")
    assert hits and all(isinstance(h["score"], float) for h in hits)   # ranked, not the unindexed scan


def test_the_index_after_alerts_does_not_wait_for_another_run(surge_config: Path, inbox: Inbox,
                                                               monkeypatch: pytest.MonkeyPatch):
    """Another run holding the ingest run lock when a run's alerts are done: the index is left to that run
    (it refreshes at its own end), at once, instead of this run waiting for the lock."""
    import time

    from balkanwatch import health
    from flows.ingest import index_after_alerts
    from flows.poll import WarehouseGate

    config = load_config(surge_config)
    asyncio.run(run_ingest(config))                      # a small fresh tail: no rebuild yet
    assert query(config, "SELECT count(*) FROM fts_builds") == [(0,)]
    monkeypatch.setattr(health, "FTS_MIN_TAIL", 1)      # now any tail calls for one
    with Warehouse.run_lock(config):
        t0 = time.monotonic()
        asyncio.run(index_after_alerts(config, WarehouseGate(config)))
        assert time.monotonic() - t0 < 5 < config.warehouse.lock_timeout
    assert query(config, "SELECT count(*) FROM fts_builds") == [(0,)]
    asyncio.run(index_after_alerts(config, WarehouseGate(config)))
    assert query(config, "SELECT count(*) FROM fts_builds") == [(1,)]


def test_a_surge_that_came_in_after_a_gap_in_ingest_is_mailed_as_late(tmp_path: Path, smtp_port: int,
                                                                      inbox: Inbox):
    """Ingest stopped nine hours ago (the machine was down); a clash was reported 9-11 hours ago; the first run
    after the gap brings its stories in. They are older than the alert window (6 h), yet no cycle could see
    them before: the window reaches back to the last run before the gap, and the e-mail says it is late. A
    first ingest of a fresh warehouse still alerts on nothing older than the window (history, not news)."""
    from app.corpus import SITES, monitoring_articles, seed_articles, write_site
    from app.devserver import LoopbackServer

    now = datetime.now(UTC).replace(microsecond=0)
    then = now - timedelta(hours=9)          # the corpus as it stood when ingest stopped: its surge 9-11 h ago
    articles = seed_articles(then) + monitoring_articles(then)
    before = [a for a in articles if not a.slug.startswith("north-")]
    servers = {site.slug: LoopbackServer((tmp_path / "sites" / site.slug), host="127.0.0.1") for site in SITES}
    for site in SITES:
        (tmp_path / "sites" / site.slug).mkdir(parents=True)
        servers[site.slug].start()
    try:
        sources = [write_site(site, tmp_path / "sites" / site.slug, servers[site.slug].base, before) for site in SITES]
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text(loopback_config(alerts_toml(smtp_port) + WATCHLISTS + toml_sources(sources)), encoding="utf-8")
        config = load_config(cfg)
        assert asyncio.run(run_ingest(config)).new_articles > 0 and inbox.messages == []   # before the gap
        for site in SITES:                   # meanwhile the clash was reported; ingest resumes nine hours on
            write_site(site, tmp_path / "sites" / site.slug, servers[site.slug].base, articles)
        fresh = tmp_path / "fresh.toml"      # the same sites into a fresh warehouse: a first ingest
        fresh.write_text(cfg.read_text().replace('path = "wh.duckdb"', 'path = "fresh.duckdb"'), encoding="utf-8")
        assert asyncio.run(run_ingest(load_config(fresh))).new_articles > 0 and inbox.messages == []
        assert asyncio.run(run_ingest(config, force=True)).new_articles > 0
    finally:
        for srv in servers.values():
            srv.stop()
    assert len(inbox.messages) == 1
    msg = message_from_bytes(inbox.messages[0][2], policy=policy.default)
    subject, text = str(msg["Subject"]), msg.get_body(preferencelist=("plain",)).get_content()
    assert "north-kosovo-clash" in subject and "8 new stories" in subject and re.search(r"\[found [89] h late\]", subject)   # its last story 9 h 19 min ago, its hour ends later
    assert text.startswith("Found late: the surge ended at") and "Zvečan" in text
    # the same run without the gap's window would have mailed nothing: the surge is older than window_hours
    assert query(config, "SELECT min(bucket_start) FROM alerts")[0][0] < (now - timedelta(hours=6)).replace(tzinfo=None)


def test_smtp_down_keeps_the_email_in_the_outbox_and_a_later_cycle_sends_it_once(surge_config: Path, smtp_port: int):
    config = load_config(surge_config)
    summary = asyncio.run(run_ingest(config))         # nothing listens on smtp_port yet
    assert summary.alerts.startswith("failed:") and "kept in the outbox" in summary.alerts
    with db(surge_config) as con:
        row = con.execute("SELECT status, attempts, last_error FROM outbox").fetchone()
        assert row[0] == "pending" and row[1] == 1 and "127.0.0.1" in row[2]
        assert {r[0] for r in con.execute("SELECT status FROM alerts").fetchall()} == {"pending"}
    log = json.loads(cli(surge_config, "alerts", "--format", "json").stdout)   # what an analyst checks
    assert {(r["watchlist"], r["status"], r["attempts"]) for r in log} == {("kfor", "pending", 1),
                                                                            ("north-kosovo-clash", "pending", 1)}
    assert all("127.0.0.1" in r["last_error"] and r["sent_at"] is None for r in log)
    mail_about = re.search(r" about (.+) \(expected", con_subject := str(query(config, "SELECT subject FROM outbox")[0][0]))
    assert mail_about and all(r["about"].startswith(mail_about.group(1)) for r in log), (log, con_subject)
    kfor = json.loads(cli(surge_config, "alerts", "--topic", "kfor", "--format", "json").stdout)   # one topic's
    assert [r["watchlist"] for r in kfor] == ["kfor"]
    bucket = kfor[0]["bucket_start"]
    assert json.loads(cli(surge_config, "alerts", "--since", bucket, "--format", "json").stdout) == log
    later_than_it = (datetime.fromisoformat(bucket) + timedelta(minutes=1)).isoformat()
    assert json.loads(cli(surge_config, "alerts", "--since", later_than_it, "--format", "json").stdout) == []
    [waiting] = json.loads(cli(surge_config, "outbox", "--pending", "--format", "json").stdout)   # the e-mail itself
    assert waiting["kind"] == "spike" and waiting["attempts"] == 1 and "127.0.0.1" in waiting["last_error"]
    with pytest.raises(DeliveryError):
        run_alerts(config)                             # still down: still kept, error again
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        back = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)   # the server is back 3 h later
        later = run_alerts(config, back)
        assert later.sent == 1 and later.spikes == [] and len(box.messages) == 1
        assert run_alerts(config, back).sent == 0 and len(box.messages) == 1
    finally:
        controller.stop()
    # dated when it went out, so that a mail client shows it on top, and saying it is late
    sent = message_from_bytes(box.messages[0][2], policy=policy.default)
    with db(surge_config) as con:
        queued, message_id = con.execute("SELECT created_at, message_id FROM outbox").fetchone()
    assert str(sent["Subject"]).startswith("[delayed 3 h] [balkanwatch] ") and sent["Message-ID"] == message_id
    assert abs((sent["Date"].datetime - back.replace(tzinfo=UTC)).total_seconds()) < 2
    assert parsedate_to_datetime(sent["X-Balkanwatch-Queued"]).replace(tzinfo=None) == queued.replace(microsecond=0)
    with db(surge_config) as con:
        assert con.execute("SELECT status, attempts FROM outbox").fetchone() == ("sent", 3)
        assert {r[0] for r in con.execute("SELECT status FROM alerts").fetchall()} == {"sent"}
    log = json.loads(cli(surge_config, "alerts", "--format", "json").stdout)
    assert {(r["status"], r["attempts"], r["last_error"]) for r in log} == {("sent", 3, None)}
    assert all(r["sent_at"] and r["stories"] == 8 for r in log)


class RefusingInbox(Inbox):
    """An SMTP server that has no mailbox for addresses starting "typo" (550 at RCPT), as a real one does."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address.startswith("typo"):
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_recipient_the_server_refuses_does_not_make_the_others_get_the_email_again(surge_config: Path,
                                                                                      smtp_port: int):
    """One address of alerts.email_to has a typo. The server takes the e-mail for the others and refuses that
    one: the e-mail has gone out, so it is marked sent, saying to whom not, and the cycle fails so that the
    Prefect UI shows it. Before, it stayed pending and went to the others again at every cycle."""
    surge_config.write_text(surge_config.read_text().replace(
        'email_to = ["analyst@example.org"]', 'email_to = ["analyst@example.org", "typo.analyst@example.org"]'),
        encoding="utf-8")
    config = load_config(surge_config)
    box = RefusingInbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        summary = asyncio.run(run_ingest(config))
        assert summary.alerts.startswith("failed:") and "not to typo.analyst@example.org (550" in summary.alerts
        for _ in range(2):
            assert run_alerts(config).sent == 0         # later cycles: nothing left to send
    finally:
        controller.stop()
    assert [rcpts for _, rcpts, _ in box.messages] == [["analyst@example.org"]]      # once, to the one it reached
    with db(surge_config) as con:
        status, attempts, error = con.execute("SELECT status, attempts, last_error FROM outbox").fetchone()
    assert (status, attempts) == ("sent", 1) and error.startswith("sent, but not to typo.analyst@example.org (550")
    log = json.loads(cli(surge_config, "alerts", "--format", "json").stdout)      # what an analyst sees
    assert {r["status"] for r in log} == {"sent"} and all("typo.analyst@example.org" in r["last_error"] for r in log)


class SlowInbox(Inbox):
    """An SMTP server that takes `delay` seconds to accept each message (a delivery takes a while)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_two_alerts_cycles_at_once_send_a_pending_email_once(surge_config: Path, smtp_port: int):
    """The ingest run's alerts cycle and the alerts deployment's run together under `serve` (a soak of the
    scheduled path received one incident twice): the second must not send what the first is still sending."""
    text = surge_config.read_text(encoding="utf-8")
    assert 'security = "none"\ntimeout = 5' in text
    surge_config.write_text(text.replace('security = "none"\ntimeout = 5', 'security = "none"\ntimeout = 30'))
    config = load_config(surge_config)
    summary = asyncio.run(run_ingest(config))         # nothing listens on smtp_port: the e-mail waits
    assert summary.alerts.startswith("failed:") and "kept in the outbox" in summary.alerts
    box = SlowInbox(5.0)
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        cycles = [subprocess.Popen([sys.executable, "-m", "app.cli", "--config", str(surge_config), "alert",
                                    "--no-prefect", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for _ in range(2)]
        outs = [c.communicate(timeout=240) for c in cycles]
    finally:
        controller.stop()
    assert [c.returncode for c in cycles] == [0, 0], [err[-2000:] for _, err in outs]
    assert len(box.messages) == 1
    assert sorted(json.loads(out)["sent"] for out, _ in outs) == [0, 1]
    assert query(config, "SELECT status, attempts FROM outbox") == [("sent", 2)]   # the failed try, then one


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300)


def test_backtest_rematch_and_alert_commands(surge_config: Path, inbox: Inbox):
    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    assert len(inbox.messages) == 1
    back = cli(surge_config, "spikes", "backtest", "--format", "json")
    assert back.returncode == 0, back.stderr
    rows = json.loads(back.stdout)
    assert {(r["watchlist"], r["observed"]) for r in rows} == {("kfor", 8.0), ("north-kosovo-clash", 8.0)}
    assert all("Ibar valley" in r["first_titles"] for r in rows)
    assert all(r["once_in_months"] >= 1 / config.alerts.alerts_per_month for r in rows)   # how rare each was
    # the far tail is told in words and capped in the number (a story-less topic's 8 stories: ~1e54 months)
    assert all(r["once_in_months"] <= 1200 and ("century" in r["why"]) == (r["once_in_months"] == 1200) for r in rows)
    assert any(r["once_in_months"] == 1200 for r in rows)
    assert all(r["why"].endswith("on this topic's record") and r["ordinary_peak"] < r["observed"] for r in rows)
    per_topic = cli(surge_config, "spikes", "backtest", "--per-topic", "--format", "json")
    assert per_topic.returncode == 0, per_topic.stderr
    budgets = {r["watchlist"]: r for r in json.loads(per_topic.stdout)}
    assert set(budgets) == {w.name for w in config.watchlists}
    with db(surge_config) as con:
        history = con.execute("SELECT min(first_seen_at) FROM stories").fetchone()[0]
    months = (datetime.now(UTC) - history.replace(tzinfo=UTC)).total_seconds() / (30 * 86400)
    for name, r in budgets.items():
        assert r["alerts"] == sum(x["watchlist"] == name for x in rows) and r["budget_a_month"] == 4.0
        assert abs(r["months"] - months) < 0.01 and abs(r["alerts_a_month"] - r["alerts"] / months) < 0.01
    with db(surge_config) as con:   # "usually N a day": the topic's stories in the 28 days before the surge
        first = con.execute("SELECT date_trunc('hour', min(first_seen_at)) FROM stories").fetchone()[0]
        for r in rows:
            start = datetime.fromisoformat(r["window_start"])
            n = con.execute("""SELECT count(*) FROM story_mentions WHERE watchlist = ? AND first_seen_at < ?
                               AND first_seen_at >= ? - INTERVAL 28 DAY""", [r["watchlist"], start, start]).fetchone()[0]
            days = min(28.0, (start - first).total_seconds() / 86400)
            assert n > 0 and r["usual_per_day"] == round(n / days, 2), (r, n, days)
    again = cli(surge_config, "alert", "--no-prefect", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["sent"] == 0 and len(inbox.messages) == 1
    listed = cli(surge_config, "sources", "--format", "json")   # plain `sources` lists, like `sources list`
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == cli(surge_config, "sources", "list", "--format", "json").stdout
    assert {(r["name"], r["health"]) for r in json.loads(listed.stdout)} == {(src.name, "healthy") for src in config.sources}

    # a new watchlist in the config: `rematch` finds its mentions over the whole history
    text = surge_config.read_text(encoding="utf-8").replace(
        '[[watchlists]]\nname = "eulex"', '[[watchlists]]\nname = "zvecan"\nany = ["Звечан", "Zvecan*"]\n\n'
                                           '[[watchlists]]\nname = "eulex"')
    surge_config.write_text(text, encoding="utf-8")
    out = cli(surge_config, "rematch")
    assert out.returncode == 0, out.stderr
    with db(surge_config) as con:
        zv = {r[0] for r in con.execute("SELECT article_id FROM mentions WHERE watchlist = 'zvecan'").fetchall()}
        texts = con.execute("SELECT article_id, title || ' ' || text FROM articles").fetchall()
        assert zv == {i for i, t in texts if "zvecan" in fold(t)}
        titles = {r[0] for r in con.execute("SELECT title FROM articles WHERE list_contains(?, article_id)", [list(zv)]).fetchall()}
        assert "Clash in Zvečan: KFOR troops sent to the Ibar valley" in titles
        assert "КФОР појачао патроле на северу Косова" in titles       # Cyrillic copy of a report naming Звечан


def test_spikes_score_cli_writes_causal_scores_and_alerts(tmp_path: Path):
    rng = np.random.default_rng(4)
    start = datetime(2026, 1, 1)
    values = list(rng.poisson(3, 24 * 20))
    values[24 * 18 + 5] = 40
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n" + "".join(f"{(start + timedelta(hours=i)).isoformat()},{v}\n"
                                                    for i, v in enumerate(values)), encoding="utf-8")
    out = tmp_path / "scores.csv"
    done = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                           "--out", str(out), "--alerts-per-month", "0.5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert list(rows[0]) == ["timestamp", "value", "score", "alert"] and len(rows) == len(values)
    assert [i for i, r in enumerate(rows) if r["alert"] == "1"] == [24 * 18 + 5]
    assert all(0 <= float(r["score"]) <= 1 for r in rows)
    # causal: scoring a prefix gives the same scores for its rows
    series.write_text("\n".join(series.read_text(encoding="utf-8").splitlines()[: 24 * 10 + 1]) + "\n", encoding="utf-8")
    prefix = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                             "--alerts-per-month", "0.5"], capture_output=True, text=True, timeout=120)
    assert prefix.stdout.splitlines() == out.read_text(encoding="utf-8").splitlines()[: 24 * 10 + 1]
    series.write_text("when,count\n1,2\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "timestamp,value" in bad.stderr
    wrong = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                            "--surge-hours", "1,-3"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "--surge-hours" in wrong.stderr
    zero = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                           "--alerts-per-month", "0"], capture_output=True, text=True, timeout=120)
    assert zero.returncode == 2 and "--alerts-per-month" in zero.stderr
    daily = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                            "--alerts-per-month", "31"], capture_output=True, text=True, timeout=120)
    assert daily.returncode == 2 and "at most 30 alerts a month" in daily.stderr


def test_spikes_score_cli_counts_left_out_buckets_as_empty(tmp_path: Path):
    """A CSV without its empty hours: one output row per input row, scored as the complete series' rows are,
    and the command says how many buckets it counted as 0."""
    rng = np.random.default_rng(5)
    values = rng.poisson(0.5, 24 * 25)
    values[24 * 22 + 3] = 12
    start = datetime(2026, 1, 1)
    stamps = [(start + timedelta(hours=i)).isoformat() for i in range(len(values))]
    complete, sparse = tmp_path / "complete.csv", tmp_path / "sparse.csv"
    complete.write_text("timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, values, strict=True)),
                        encoding="utf-8")
    kept = [i for i, v in enumerate(values) if v or i in (0, len(values) - 1)]
    sparse.write_text("timestamp,value\n" + "".join(f"{stamps[i]},{values[i]}\n" for i in kept), encoding="utf-8")
    runs = {}
    for path in (complete, sparse):
        done = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs[path.name] = list(csv.DictReader(done.stdout.splitlines()))
    assert "buckets of 3600 s had no row and count as 0" in done.stderr
    assert f"{len(values) - len(kept)} buckets" in done.stderr
    by_stamp = {r["timestamp"]: r for r in runs["complete.csv"]}
    assert [r["timestamp"] for r in runs["sparse.csv"]] == [stamps[i] for i in kept]
    assert runs["sparse.csv"] == [by_stamp[stamps[i]] for i in kept]
    assert by_stamp[stamps[24 * 22 + 3]]["alert"] == "1"
    bad = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(sparse),
                          "--bucket-seconds", "-5"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--bucket-seconds" in bad.stderr


def test_spikes_score_explain_says_why_a_row_scores_as_it_does(tmp_path: Path):
    """--explain adds the span, its count, the ordinary day's busiest window of it and the months between such
    days; the first four columns stay what the plain command writes."""
    from balkanwatch.spikes import SpikeSettings

    rng = np.random.default_rng(6)
    values = list(rng.poisson(4, 24 * 21))
    values[24 * 19 + 10] = 45
    start = datetime(2026, 2, 1)
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n" + "".join(f"{(start + timedelta(hours=i)).isoformat()},{v}\n"
                                                    for i, v in enumerate(values)), encoding="utf-8")
    runs = {}
    for flag in ([], ["--explain"]):
        done = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series), *flag],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs[bool(flag)] = list(csv.DictReader(done.stdout.splitlines()))
    plain, explained = runs[False], runs[True]
    assert list(explained[0]) == ["timestamp", "value", "score", "alert", "span_hours", "observed", "ordinary_peak",
                                  "once_in_months"]
    assert [{k: r[k] for k in plain[0]} for r in explained] == plain
    spike = explained[24 * 19 + 10]
    assert spike["alert"] == "1" and spike["span_hours"] == "1"
    assert float(spike["observed"]) == 45 and float(spike["ordinary_peak"]) < 15
    months = float(spike["once_in_months"])
    assert months >= SpikeSettings().months_needed
    assert float(spike["score"]) == pytest.approx(months / (1 + months), abs=1e-3)
    assert all(float(r["once_in_months"]) <= 1200 for r in explained)
    capped = [r for r in explained if float(r["once_in_months"]) == 1200]
    assert capped and all(r["once_in_months"] == "1200" for r in capped)   # as `spikes backtest` shows the cap


def test_spikes_score_rate_flag_reaches_the_detector(tmp_path: Path):
    """--alerts-per-month scores as SpikeSettings(alerts_per_month=…) does: a topic that surges every other
    day alerts more at the default (four a month) than at one a month, each as the library says."""
    from balkanwatch.spikes import SpikeSettings, score_series

    rng = np.random.default_rng(8)
    values = rng.poisson(20, 24 * 42).astype(float)
    for day in range(3, 42, 2):
        values[day * 24 + int(rng.integers(0, 20))] += float(rng.integers(10, 100))
    series = tmp_path / "series.csv"
    start = datetime(2026, 1, 1)
    series.write_text("timestamp,value\n" + "".join(f"{(start + timedelta(hours=i)).isoformat()},{v:g}\n"
                                                    for i, v in enumerate(values)), encoding="utf-8")
    fired = {}
    for rate in (None, 1.0):
        flag = [] if rate is None else ["--alerts-per-month", f"{rate:g}"]
        done = subprocess.run([sys.executable, "-m", "app.cli", "spikes", "score", "--csv", str(series),
                               *flag], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        fired[rate] = [i for i, r in enumerate(csv.DictReader(done.stdout.splitlines())) if r["alert"] == "1"]
    assert fired[1.0] == [s.index for s in score_series(values, SpikeSettings(alerts_per_month=1.0)) if s.alert]
    assert fired[None] == [s.index for s in score_series(values, SpikeSettings()) if s.alert]
    assert len(fired[1.0]) < len(fired[None]), fired


@pytest.mark.prefect
def test_alerts_flow_run_shows_spikes_and_delivery_failures_in_prefect(prefect_server, surge_config: Path,
                                                                       smtp_port: int):
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.events.filters import EventFilter, EventNameFilter

    from balkanwatch.escaping import markdown
    from flows.alerts import alerts
    from flows.ingest import ingest

    started = datetime.now(UTC)
    summary = asyncio.run(ingest(config_path=str(surge_config)))   # SMTP down: its alerts subflow run fails
    assert summary["alerts"].startswith("failed:") and "kept in the outbox" in summary["alerts"]
    state = alerts(str(surge_config), return_state=True)   # still down: this run fails too, visibly
    assert state.is_failed() and "kept in the outbox" in state.message
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        ok = alerts(str(surge_config), return_state=True)
    finally:
        controller.stop()
    assert ok.is_completed() and len(box.messages) == 1

    async def flow_runs():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_flow_runs()

    async def artifacts(flow_run_id):  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    async def spike_events():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            page = await client.read_events(EventFilter(event=EventNameFilter(name=["balkanwatch.spike.detected"])),
                                            limit=50)   # the server caps a page at 50
            return [e for e in page.events if e.occurred >= started]

    subflow = next(r for r in asyncio.run(flow_runs()) if r.parent_task_run_id is not None
                   and r.start_time and r.start_time >= started)
    found = {a.key: a for a in asyncio.run(artifacts(subflow.id))}
    assert "alert-spikes" in found                                         # on the run that found them
    # each spike says what its surge is about: the words of its e-mail's "About:" line
    mail = message_from_bytes(box.messages[0][2], policy=policy.default).get_body(preferencelist=("plain",)).get_content()
    line = re.search(r"\nAbout: (.+) — words", mail)
    assert line is not None
    about = re.sub(r" \(\d+[^)]*\)", "", line.group(1))                  # "banjska, monastery; gunmen"
    table = json.loads(found["alert-spikes"].data)
    assert sorted(r["watchlist"] for r in table) == ["kfor", "north-kosovo-clash"] and about
    assert all(r["about"] == about for r in table), (table, about)
    with Warehouse.for_config(load_config(surge_config), read_only=True) as wh:   # stored with the alerts
        assert sorted(wh.con.execute("SELECT about FROM alerts").fetchall()) == [(about,), (about,)]
    chart = found["alert-chart"]                                           # inline, not a file:// link
    assert chart.type == "markdown" and "file://" not in chart.data
    png = base64.b64decode(chart.data.split("data:image/png;base64,", 1)[1].split(")", 1)[0])
    width, height = struct.unpack(">II", png[16:24])                      # the IHDR chunk
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width > 0 and height > 0 and len(png) < 200_000
    topics = found["topics"].data                                          # the page an analyst opens first
    overview = base64.b64decode(topics.split("data:image/png;base64,", 1)[1].split(")", 1)[0])
    assert overview[:8] == b"\x89PNG\r\n\x1a\n" and "| kfor |" in topics and "north\\-kosovo\\-clash" in topics
    assert "| usually a day (the 28 days before) |" in topics, topics   # not the e-mail's days: said which
    # its alert, not rated (—), its budget, when
    assert re.search(r"\| kfor \|[^\n]* \| 1 \| — \| 4 \| \d{4}-\d\d-\d\d \d\d:\d\d \(about ", topics), topics
    assert f"(about {markdown(about)}) |" in topics, topics          # the last alert with what it was about
    assert re.search(r"\| eulex \|[^\n]* \| ordinary \| 0 \| — \| 4 \| — \|", topics), topics      # quiet right now
    assert re.search(r"\| kfor \|[^\n]* \| (about|rarer than) once in [^|]+, alert level \| 1 \|", topics), topics   # its surge
    # the day's rising words, as `balkanwatch rising` finds them, each with its newest stories linked
    with Warehouse.for_config(load_config(surge_config), read_only=True) as wh:
        rising = rising_words(wh, span=timedelta(days=1), limit=10, now=subflow.start_time.astimezone(UTC).replace(tzinfo=None))
    words = found["rising-words"].data
    assert rising["words"] and f"{rising['stories']}** unique stories" in words
    for r in rising["words"]:                      # a section per event: its counts, then its stories linked
        section = words.split(f"\n## {markdown(r['as_written'][0])}", 1)[1].split("\n## ", 1)[0]   # as written
        assert f"**{r['stories']}** stories from **{r['sources']}** sources; {r['stories_before']} in the" in section
        assert r["links"] and all(f"]({url})\n" in section for url in r["links"]), section
    deadline = time.monotonic() + 20
    events: list = []
    while time.monotonic() < deadline and len(events) < 2:    # events reach the server asynchronously
        events = asyncio.run(spike_events())
        time.sleep(0.5)
    topics = sorted(e.resource.id for e in events)
    assert topics == ["balkanwatch.topic.kfor", "balkanwatch.topic.north-kosovo-clash"]
    assert all(e.payload["observed"] == 8.0 and len(e.payload["stories"]) == 8 and e.payload["about"] == about
               for e in events)
    again = asyncio.run(ingest(config_path=str(surge_config)))   # the subflow's own result, not just its state
    assert again["alerts"] == "0 new spikes, 0 e-mails sent", again["alerts"]


def test_smtp_refusing_login_keeps_the_email_and_never_shows_the_password(surge_config: Path, smtp_port: int,
                                                                          monkeypatch, capfd):
    from aiosmtpd.smtp import AuthResult

    secret = "hunter2-Secret-Pa55"
    monkeypatch.setenv("BW_TEST_SMTP_USER", "balkanwatch")
    monkeypatch.setenv("BW_TEST_SMTP_PASSWORD", secret)
    text = surge_config.read_text(encoding="utf-8").replace(
        'security = "none"', 'security = "none"\nusername_env = "BW_TEST_SMTP_USER"\npassword_env = "BW_TEST_SMTP_PASSWORD"')
    surge_config.write_text(text, encoding="utf-8")
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port, auth_require_tls=False,
                            authenticator=lambda *a: AuthResult(success=False, handled=False))
    controller.start()
    try:
        summary = asyncio.run(run_ingest(load_config(surge_config)))
    finally:
        controller.stop()
    assert summary.alerts.startswith("failed:") and "login refused" in summary.alerts and len(box.messages) == 0
    assert secret not in summary.alerts
    with db(surge_config) as con:
        status, error = con.execute("SELECT status, last_error FROM outbox").fetchone()
        assert status == "pending" and "login refused" in error and secret not in error
        assert not con.execute(f"SELECT count(*) FROM outbox WHERE contains(CAST(message AS VARCHAR), '{secret}')").fetchone()[0]
    out, err = capfd.readouterr()
    assert secret not in out and secret not in err


def test_daily_digest_is_sent_once_a_day(surge_config: Path, inbox: Inbox):
    text = surge_config.read_text(encoding="utf-8").replace('save_dir = "mail"', 'save_dir = "mail"\ndigest = true\ndigest_hour = 0')
    surge_config.write_text(text, encoding="utf-8")
    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    subjects = sorted(str(message_from_bytes(raw, policy=policy.default)["Subject"]) for _, _, raw in inbox.messages)
    digests = [s for s in subjects if s.startswith("[balkanwatch] daily digest")]
    assert len(subjects) == 2 and len(digests) == 1 and "2 alerts" in digests[0]
    digest = message_from_bytes(inbox.messages[[i for i, (_, _, raw) in enumerate(inbox.messages)
                                                 if b"daily digest" in raw][0]][2], policy=policy.default)
    body = digest.get_body(preferencelist=("plain",)).get_content()
    assert "north-kosovo-clash: 8 stories" in body and "kfor" in body
    assert run_alerts(config).sent == 0 and len(inbox.messages) == 2      # once a day
    # under each topic its most carried stories of the day, with their links (alerts.digest_stories, 5)
    page = digest.get_body(preferencelist=("html",)).get_content()
    with Warehouse.for_config(config, read_only=True) as wh:
        day = wh.rows("""SELECT m.watchlist, m.story_id, m.articles, o.url FROM story_mentions m
                         JOIN stories st USING (story_id) JOIN articles o ON o.article_id = st.origin_article_id
                         WHERE m.first_seen_at >= ?""",       # the day before the digest was written
                       [parsedate_to_datetime(digest["Date"]).astimezone(UTC).replace(tzinfo=None) - timedelta(days=1)])
    page, rising_part = page.split("<h2>Rising words in the last 24 hours</h2>")
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == len(set(hrefs)) > 5                     # a story is listed once, under one topic
    # after the topics, the day's rising words (alerts.digest_rising, 5), as `balkanwatch rising` finds them
    with Warehouse.for_config(config, read_only=True) as wh:
        rising = rising_words(wh, span=timedelta(days=1), limit=5,
                              now=parsedate_to_datetime(digest["Date"]).astimezone(UTC).replace(tzinfo=None))["words"]
    assert rising and all(f"<b>{r['as_written'][0]}" in rising_part and f"  {r['as_written'][0]}" in body
                          for r in rising)   # as the stories write it ("KFOR deploys"), the folded word in it
    assert all(f'href="{url}"' in rising_part for r in rising for url in r["links"])
    order = re.findall(r"<h3>([^:<]+): \d+</h3>", page)          # busiest topic first
    assert order[:2] == ["north-kosovo-clash", "kfor"] or order[:2] == ["kfor", "north-kosovo-clash"]
    shown: set[str] = set()
    for topic in order[:2]:
        mine = [r for r in day if r["watchlist"] == topic]
        section = page.split(f"<h3>{topic}: ")[1].split("<h3>")[0]
        listed = [r for r in mine if f'href="{r["url"]}"' in section]
        rest = [r for r in mine if r["story_id"] not in shown]       # not listed under a topic above
        above = len(mine) - len(rest)
        assert len(listed) == min(5, len(rest)) and len(mine) > 5, topic     # five of the rest, linked
        assert min(r["articles"] for r in listed) >= max((r["articles"] for r in rest if r not in listed), default=0)
        also = f" ({above} listed above)" if above else ""
        assert f"{topic}: {len(mine)}{also} — the most carried:" in body, topic
        more = f"more: balkanwatch stories --topic {topic} --since 24h"
        assert (f"and {len(rest) - len(listed)} {more}" in body) if len(rest) > len(listed) else (more not in body)
        assert all(r["url"] in body for r in listed)
        shown |= {r["story_id"] for r in listed}
    assert above > 0      # the two topics share the surge's stories: the second lists others


def test_a_desk_that_follows_its_own_topics_gets_their_digest(surge_config: Path, inbox: Inbox):
    """`watchlists[].email_to` names a desk that follows one topic: besides alerts.email_to's digest of every
    topic, the desk gets a digest of its own topic, once a day."""
    text = surge_config.read_text(encoding="utf-8").replace('save_dir = "mail"', 'save_dir = "mail"\ndigest = true\ndigest_hour = 0')
    text = text.replace('name = "kfor"\n', 'name = "kfor"\nemail_to = ["kosovo-desk@example.org"]\n', 1)
    surge_config.write_text(text, encoding="utf-8")
    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    digests = {tuple(rcpts): message_from_bytes(raw, policy=policy.default) for _, rcpts, raw in inbox.messages
               if b"daily digest" in raw}
    assert set(digests) == {("analyst@example.org",), ("kosovo-desk@example.org",)}
    desk, everyone = digests["kosovo-desk@example.org",], digests["analyst@example.org",]
    assert "daily digest" in str(desk["Subject"]) and "(kfor): 1 alert" in str(desk["Subject"])
    assert "(kfor)" not in str(everyone["Subject"]) and ": 2 alerts" in str(everyone["Subject"])
    mine, all_of_them = (m.get_body(preferencelist=("plain",)).get_content() for m in (desk, everyone))
    assert "  kfor: " in mine and "  north-kosovo-clash: " not in mine
    # the words rising within its topic's stories (against that topic's weeks before); everyone's digest has
    # the day's of every story
    when = parsedate_to_datetime(desk["Date"]).astimezone(UTC).replace(tzinfo=None)
    with Warehouse.for_config(config, read_only=True) as wh:
        rising = rising_words(wh, span=timedelta(days=1), limit=0, now=when)["words"]
        kfor = rising_words(wh, span=timedelta(days=1), limit=5, now=when, topics=["kfor"])["words"]
    shown = re.findall(r"\n  (\S[^\n(:]*?)(?: \(|: )", mine.split("Rising words", 1)[1])
    assert kfor and shown == [r["as_written"][0] for r in kfor] and "more: balkanwatch rising --topic kfor)" in mine
    assert all(f"\n  {r['as_written'][0]}" in all_of_them for r in rising[:5])
    assert "  kfor: " in all_of_them and "  north-kosovo-clash: 8" in all_of_them
    assert desk["Message-ID"] != everyone["Message-ID"]
    sent = len(inbox.messages)
    assert run_alerts(config).sent == 0 and len(inbox.messages) == sent      # once a day each


def test_a_surge_is_about_the_rising_words_most_of_its_stories_hold() -> None:
    """`alerting.surge_about`: of the events rising within the surging topics (most surprising first), those
    holding three of the surge's stories or more, most of them first, at most three."""
    from balkanwatch.alerting import surge_about

    surge = [f"s{i}" for i in range(8)]
    events = [{"word": "eurovision", "with": [], "story_ids": ["x1", "x2", "x3", "s0"]},          # the day's other news
              {"word": "gunmen", "with": [], "story_ids": ["s1", "s2", "s3", "x9"]},
              {"word": "banjska", "with": ["monastery"], "story_ids": [*surge[:6], "x4"]},
              {"word": "police", "with": [], "story_ids": ["s0", "s5", "s6"]},
              {"word": "brnjak", "with": [], "story_ids": ["s7", "s6"]},                       # two: not enough
              {"word": "zvecan", "with": [], "story_ids": ["s0", "s1", "s4"]}]
    assert surge_about(events, surge) == [(["banjska", "monastery"], 6), (["gunmen"], 3), (["police"], 3)]
    assert surge_about(events, surge, limit=1) == [(["banjska", "monastery"], 6)]
    # the words of the surge's headlines first (sorted() is stable: the others keep their order)
    titles = ["Gunmen storm the Monastery", "Monastery siege", "Zvečan: police"]
    assert surge_about(events, surge, titles=titles) == [(["monastery", "banjska"], 6), (["gunmen"], 3), (["police"], 3)]
    assert surge_about(events, ["x1", "x2"]) == [] and surge_about([], surge) == []


def test_a_replay_at_several_budgets_is_a_replay_at_each() -> None:
    """`spikes budgets` reads a topic's evidence once and decides its alerts at each budget: the same alerts
    as scoring the topic at that budget from scratch."""
    import dataclasses

    from balkanwatch.alerting import budget_series, spikes_of
    from balkanwatch.config import AlertsSettings

    rng = np.random.default_rng(7)
    start = datetime(2026, 10, 1)
    hours = 24 * 40
    counts = rng.poisson(1.5, hours) + np.where(rng.random(hours) < 0.01, rng.integers(4, 15, hours), 0)
    rows = [(f"s{h}-{k}", start + timedelta(hours=int(h), minutes=5)) for h in range(hours) for k in range(counts[h])]
    a = AlertsSettings()
    budgets = [1.0, 4.0, 16.0]
    replayed = budget_series("t", rows, start, start + timedelta(hours=hours - 1), a, budgets)
    alerts = []
    for budget, series in zip(budgets, replayed, strict=True):
        alone = topic_series("t", rows, start, start + timedelta(hours=hours - 1),
                             dataclasses.replace(a, alerts_per_month=budget))
        assert series.scored == alone.scored and series.stories == alone.stories
        alerts.append(len(spikes_of(series)))
    assert alerts[0] < alerts[2], alerts          # the budget is what changes between them


def test_the_suggested_budget_keeps_what_the_desk_asked_for() -> None:
    from balkanwatch.alerting import suggest_budget

    def replay(budget: float, useful: int = 0, useful_kept: int = 0, noise: int = 0, noise_kept: int = 0,
               missed: int = 0, missed_kept: int = 0) -> dict[str, float]:
        return {"budget": budget, "useful": useful, "useful_kept": useful_kept, "noise": noise,
                "noise_kept": noise_kept, "missed": missed, "missed_kept": missed_kept}

    # 3 useful alerts and a miss: 8 a month keeps them all and the miss; 16 too, with more noise
    assert suggest_budget([replay(1, 3, 1, 4, 1, 1, 0), replay(4, 3, 3, 4, 2, 1, 0), replay(8, 3, 3, 4, 2, 1, 1),
                           replay(16, 3, 3, 4, 4, 1, 1)], 4) == 8
    # as much kept and as little noise at 1, 2 and 4: the current budget stays; at 2 and 8 only, the nearer
    tied = [replay(1, 2, 2, 2, 1), replay(2, 2, 2, 2, 1), replay(4, 2, 2, 2, 1), replay(8, 2, 2, 2, 2)]
    assert suggest_budget(tied, 4) == 4 and suggest_budget(tied[:2], 4) == 2 and suggest_budget(tied[:3], 16) == 4
    assert suggest_budget([replay(2, noise=2, noise_kept=0), replay(8, noise=2, noise_kept=0)], 4) == 2   # as near: lower
    # only noise rated: the nearest budget that keeps the least of it
    assert suggest_budget([replay(1, noise=3, noise_kept=0), replay(2, noise=3, noise_kept=0),
                           replay(4, noise=3, noise_kept=3)], 4) == 2
    assert suggest_budget([replay(1), replay(4)], 4) is None                                # nothing rated
    assert suggest_budget([replay(1, missed=1), replay(16, missed=1)], 4) is None           # no budget catches it


def test_digest_desks_group_recipients_by_the_topics_they_follow(tmp_path: Path) -> None:
    from balkanwatch.alerting import digest_desks

    config = parse_config({"alerts": {"email_to": ["all@example.org"]}, "watchlists": [
        {"name": "kfor", "any": ["KFOR"], "email_to": ["kosovo@example.org", "all@example.org"]},
        {"name": "clash", "any": ["clash"], "email_to": ["kosovo@example.org", "duty@example.org"]},
        {"name": "eulex", "any": ["EULEX"], "email_to": ["eu@example.org"]},
        {"name": "quiet", "any": ["quiet"]}]}, tmp_path)
    assert digest_desks(config) == [(None, ["all@example.org"]),     # every topic, as before
                                    (frozenset({"kfor", "clash"}), ["kosovo@example.org"]),
                                    (frozenset({"clash"}), ["duty@example.org"]),
                                    (frozenset({"eulex"}), ["eu@example.org"])]
    config = parse_config({"watchlists": [{"name": "a", "any": ["a"], "email_to": ["x@example.org", "y@example.org"]},
                                          {"name": "b", "any": ["b"], "email_to": ["y@example.org", "x@example.org"]}]},
                          tmp_path)
    assert digest_desks(config) == [(frozenset({"a", "b"}), ["x@example.org", "y@example.org"])]   # one message


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_a_topic_that_asks_for_every_story_gets_each_once(surge_config: Path, inbox: Inbox, capsys):
    """watchlists[].every_story: the topic's stories of the last alerts.catch_up_hours come in one e-mail, each
    once, but for those its surge e-mail of the same cycle already carries; a cycle with nothing new sends
    none; topics turned on later get their own, without the first topic's again and without those their
    earlier surge e-mail carried."""
    text = surge_config.read_text(encoding="utf-8").replace('name = "kfor"\n', 'name = "kfor"\nevery_story = true\n', 1)
    surge_config.write_text(text, encoding="utf-8")
    config = load_config(surge_config)
    asyncio.run(run_ingest(config))

    def story_mails() -> list:
        return [message_from_bytes(raw, policy=policy.default) for _, _, raw in inbox.messages
                if b"New stories of" in raw]
    [mail] = story_mails()
    body = mail.get_body(preferencelist=("plain",)).get_content()
    with Warehouse.for_config(config, read_only=True) as wh:
        recent = wh.rows("""SELECT m.story_id, o.url FROM story_mentions m JOIN stories st USING (story_id)
                            JOIN articles o ON o.article_id = st.origin_article_id
                            WHERE m.watchlist = 'kfor' AND m.first_seen_at >= ?""",
                         [parsedate_to_datetime(mail["Date"]).astimezone(UTC).replace(tzinfo=None) - timedelta(hours=72)])
        older = wh.rows("""SELECT o.url FROM story_mentions m JOIN stories st USING (story_id)
                           JOIN articles o ON o.article_id = st.origin_article_id
                           WHERE m.watchlist = 'kfor' AND m.first_seen_at < now()::TIMESTAMP - INTERVAL 4 DAY""")
        surged = {sid for r in wh.rows("SELECT story_ids FROM alerts WHERE watchlist = 'kfor'") for sid in r["story_ids"]}
        noted = wh.rows("SELECT watchlist, story_id FROM story_notices")
    untold = [r for r in recent if r["story_id"] not in surged]
    assert len(surged) == 8 and surged < {r["story_id"] for r in recent} and untold and older
    assert all(r["url"] in body for r in untold) and not any(r["url"] in body for r in older)   # 72 h, not the month
    assert not any(r["url"] in body for r in recent if r["story_id"] in surged)     # the surge's e-mail had those
    assert str(mail["Subject"]).startswith("[balkanwatch] kfor: ")
    assert (f"{len(untold)} new stories" if len(untold) > 1 else "new story: ") in str(mail["Subject"])
    assert sorted(r["story_id"] for r in noted) == sorted(r["story_id"] for r in recent)   # every one noted
    assert {r["watchlist"] for r in noted} == {"kfor"}
    assert run_alerts(config).sent == 0 and len(story_mails()) == 1         # nothing new: nothing sent
    from app.cli import main

    # `outbox`: every e-mail queued, of a kind, and whether it went
    assert main(["--config", str(surge_config), "outbox", "--format", "json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert sorted(r["kind"] for r in every) == ["spike", "story"] and {r["status"] for r in every} == {"sent"}
    assert main(["--config", str(surge_config), "outbox", "--kind", "story", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["subject"] == str(mail["Subject"]) and row["recipients"] == ["analyst@example.org"]
    assert row["message_id"] == mail["Message-ID"] and row["attempts"] == 1
    assert main(["--config", str(surge_config), "outbox", "--pending", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # two topics switched on later: eulex (no surge) gets its story; the clash topic's recent stories all came
    # in its surge e-mail of the first cycle, to the same readers, so they are noted and not mailed again
    text = text.replace('name = "north-kosovo-clash"\n', 'name = "north-kosovo-clash"\nevery_story = true\n', 1)
    surge_config.write_text(text.replace('name = "eulex"\n', 'name = "eulex"\nevery_story = true\n', 1),
                            encoding="utf-8")
    assert run_alerts(load_config(surge_config)).sent == 1
    later = story_mails()[1]
    assert "eulex: " in str(later["Subject"]) and len(story_mails()) == 2
    with Warehouse.for_config(config, read_only=True) as wh:
        noted = wh.rows("SELECT watchlist, story_id, message_id FROM story_notices WHERE watchlist <> 'kfor'")
        clash_surged = {sid for r in wh.rows("SELECT story_ids FROM alerts WHERE watchlist = 'north-kosovo-clash'")
                        for sid in r["story_ids"]}
        eulex = wh.rows("SELECT o.url FROM story_mentions m JOIN stories st USING (story_id) "
                        "JOIN articles o ON o.article_id = st.origin_article_id WHERE m.watchlist = 'eulex'")
    assert clash_surged and {r["story_id"] for r in noted if r["watchlist"] == "north-kosovo-clash"} == clash_surged
    assert {r["message_id"] for r in noted if r["watchlist"] == "north-kosovo-clash"} == {""}
    assert [r["message_id"] for r in noted if r["watchlist"] == "eulex"] == [later["Message-ID"]]
    assert eulex and all(r["url"] in later.get_body(preferencelist=("plain",)).get_content() for r in eulex)


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
@pytest.mark.prefect
def test_the_desk_rates_an_alert_and_notes_a_miss_in_the_prefect_ui(prefect_server, surge_config: Path,
                                                                   inbox: Inbox) -> None:
    """The deployments balkanwatch-rate and balkanwatch-missed run these flows from the UI's form: a verdict
    on the incident of the e-mail, a miss; a run that cannot record one fails with the command's message."""
    from flows.verdicts import missed, rate

    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    text = message_from_bytes(inbox.messages[0][2], policy=policy.default).get_body(preferencelist=("plain",)).get_content()
    [incident] = re.findall(r"balkanwatch rate (inc-[0-9a-f]+) useful", text)
    assert "the deployment balkanwatch-rate (Run, Custom run) with this id" in " ".join(text.split())
    done = rate(config_path=str(surge_config), alert=f" {incident} ", verdict="noise", note="a  derby", return_state=True)
    assert done.is_completed() and done.result().startswith("rated noise: ")
    one = rate(config_path=str(surge_config), alert=incident, verdict="useful", topic="kfor", return_state=True)
    assert one.is_completed()
    assert sorted(query(config, """SELECT a.watchlist, r.verdict, r.note FROM alerts a JOIN alert_ratings r
                                   USING (alert_id)""")) == [("kfor", "useful", ""), ("north-kosovo-clash", "noise", "a derby")]
    wrong = rate(config_path=str(surge_config), alert="inc-0000", verdict="useful", return_state=True)
    assert wrong.is_failed() and "no alert 'inc-0000'" in str(wrong.message)
    when = datetime.now(UTC) - timedelta(hours=3)
    noted = missed(config_path=str(surge_config), topic="eulex", when=when, note="convoy  stopped", return_state=True)
    assert noted.is_completed() and noted.result() == f"noted: eulex should have alerted about {when:%Y-%m-%d %H:%M} UTC"
    assert query(config, "SELECT watchlist, note FROM missed_surges") == [("eulex", "convoy stopped")]
    future = missed(config_path=str(surge_config), topic="eulex", when=when + timedelta(days=1), return_state=True)
    assert future.is_failed() and "is in the future" in str(future.message)
    unknown = missed(config_path=str(surge_config), topic="nope", when=when, return_state=True)
    assert unknown.is_failed() and "no watchlist named 'nope'" in str(unknown.message)


def test_an_analyst_rates_an_alert_from_its_e_mail(surge_config: Path, inbox: Inbox, capsys) -> None:
    """The alert e-mail says how to rate it; `rate` keeps the verdict with each of the incident's alerts (or one
    topic's), the latest replacing the earlier; `alerts` shows it."""
    from app.cli import main

    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    [(_, _, raw)] = inbox.messages
    mail = message_from_bytes(raw, policy=policy.default)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    [incident] = re.findall(r"balkanwatch rate (inc-[0-9a-f]+) useful", text)
    assert f"balkanwatch rate {incident} useful" in mail.get_body(preferencelist=("html",)).get_content()
    capsys.readouterr()

    def ratings() -> dict[str, tuple[str, str]]:
        assert main(["--config", str(surge_config), "alerts", "--format", "json"]) == 0
        return {r["watchlist"]: (r["rating"], r["rating_note"]) for r in json.loads(capsys.readouterr().out)}

    assert set(ratings().values()) == {(None, None)}
    assert main(["--config", str(surge_config), "spikes", "budgets"]) == 0
    assert "no budget is suggested: `balkanwatch rate ID" in capsys.readouterr().out      # nothing rated yet
    assert main(["--config", str(surge_config), "rate", incident, "noise", "--note", "a  football\nderby"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("rated noise: ") and "kfor@" in said and "north-kosovo-clash@" in said
    assert set(ratings().values()) == {("noise", "a football derby")}
    assert main(["--config", str(surge_config), "rate", incident, "useful", "--topic", "kfor"]) == 0
    capsys.readouterr()
    now = ratings()
    assert now["kfor"] == ("useful", "") and now["north-kosovo-clash"] == ("noise", "a football derby")
    with Warehouse.for_config(config, read_only=True) as wh:
        alerts = wh.rows("SELECT alert_id FROM alerts")
        assert wh.rows("SELECT count(*) AS n FROM alert_ratings") == [{"n": len(alerts)}]    # replaced, not added
    # `topics` (and the cycle's artifact) says what the desk made of each topic's recent alerts
    assert main(["--config", str(surge_config), "topics", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    overview = {r["watchlist"]: r["rated"] for r in listed}
    assert overview == {"kfor": "1 useful", "north-kosovo-clash": "1 noise", "eulex": ""}
    with Warehouse.for_config(config, read_only=True) as wh:    # and what each topic's last alert was about
        stored = dict(wh.con.execute("SELECT watchlist, about FROM alerts").fetchall())
    assert {r["watchlist"]: r["last_alert_about"] for r in listed} == {**stored, "eulex": ""} and stored["kfor"]
    # a replay of the detector against those verdicts: the same detector raises both rated alerts again
    assert main(["--config", str(surge_config), "spikes", "backtest", "--per-topic", "--format", "json"]) == 0
    kept = {r["watchlist"]: (r["useful_kept"], r["noise_kept"]) for r in json.loads(capsys.readouterr().out)}
    assert kept == {"kfor": ("1 of 1", ""), "north-kosovo-clash": ("", "1 of 1"), "eulex": ("", "")}
    # a surge the desk wanted an alert for (eulex has none): noted, and counted against the replay
    assert main(["--config", str(surge_config), "missed", "eulex", "2h", "--note", "EULEX  convoy stopped"]) == 0
    assert capsys.readouterr().out.startswith("noted: eulex should have alerted about ")
    assert main(["--config", str(surge_config), "missed", "kfor", "1h"]) == 2       # kfor did alert then
    assert "rate that alert" in capsys.readouterr().err
    assert main(["--config", str(surge_config), "missed", "eulex", "2999-01-01T00:00"]) == 2
    assert "in the future" in capsys.readouterr().err
    with Warehouse.for_config(config, read_only=True) as wh:
        assert [(r["watchlist"], r["note"]) for r in wh.rows("SELECT * FROM missed_surges")] == [
            ("eulex", "EULEX convoy stopped")]
    assert main(["--config", str(surge_config), "spikes", "backtest", "--per-topic", "--format", "json"]) == 0
    per_topic = json.loads(capsys.readouterr().out)
    caught = {r["watchlist"]: r["missed_caught"] for r in per_topic}
    assert caught == {"kfor": "", "north-kosovo-clash": "", "eulex": "0 of 1"}
    # every topic replayed at several budgets: at its own, what the backtest says
    assert main(["--config", str(surge_config), "spikes", "budgets", "--format", "json"]) == 0
    replays = json.loads(capsys.readouterr().out)
    cols = ("alerts", "alerts_a_month", "useful_kept", "noise_kept", "missed_caught")
    current = {r["watchlist"]: r for r in replays if "current" in r["note"]}
    assert {t: [r[c] for c in cols] for t, r in current.items()} == {r["watchlist"]: [r[c] for c in cols] for r in per_topic}
    assert {r["watchlist"]: r["budget_a_month"] for r in current.values()} == dict.fromkeys(current, 4.0)
    assert sorted(r["budget_a_month"] for r in replays if r["watchlist"] == "kfor") == [1.0, 2.0, 4.0, 8.0, 16.0]
    # the useful alert is kept at every budget: the current one stays; the noise too: no budget does better
    # than the current; none where no budget catches the miss
    suggested = {r["watchlist"]: r["note"] for r in replays if "suggested" in r["note"]}
    assert suggested == {"kfor": "current, suggested", "north-kosovo-clash": "current, suggested"}
    # `topics` (and the cycle's artifact) shows it beside the budget; eulex's miss no budget catches: none
    assert main(["--config", str(surge_config), "topics", "--format", "json"]) == 0
    budgets = {r["watchlist"]: r["budget"] for r in json.loads(capsys.readouterr().out)}
    assert budgets == {"kfor": "4 (labels agree)", "north-kosovo-clash": "4 (labels agree)", "eulex": "4"}
    # a topic's own budget is replayed too, and is the backtest's
    surge_config.write_text(surge_config.read_text(encoding="utf-8").replace(
        'name = "kfor"\n', 'name = "kfor"\nalerts_per_month = 3\n', 1), encoding="utf-8")
    assert main(["--config", str(surge_config), "spikes", "budgets", "--topic", "kfor"]) == 0
    assert "no budget is suggested" not in capsys.readouterr().out
    assert main(["--config", str(surge_config), "spikes", "budgets", "--topic", "kfor", "--budgets", "1,30",
                 "--format", "json"]) == 0
    replays = json.loads(capsys.readouterr().out)
    assert [(r["watchlist"], r["budget_a_month"], r["note"]) for r in replays] == [
        ("kfor", 1.0, ""), ("kfor", 3.0, "current, suggested"), ("kfor", 30.0, "")]
    assert main(["--config", str(surge_config), "spikes", "backtest", "--per-topic", "--format", "json"]) == 0
    [kfor] = [r for r in json.loads(capsys.readouterr().out) if r["watchlist"] == "kfor"]
    assert [kfor[c] for c in cols] == [replays[1][c] for c in cols] and kfor["budget_a_month"] == 3.0
    with pytest.raises(SystemExit):     # more than one a day
        main(["--config", str(surge_config), "spikes", "budgets", "--budgets", "4,31"])
    assert "at most 30 alerts a month" in capsys.readouterr().err
    assert main(["--config", str(surge_config), "spikes", "budgets", "--topic", "nope"]) == 2
    capsys.readouterr()
    assert main(["--config", str(surge_config), "spikes", "backtest", "--format", "json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert {(r["watchlist"], r["rated"]) for r in replayed if r["rated"]} == {("kfor", "useful"),
                                                                               ("north-kosovo-clash", "noise")}
    assert main(["--config", str(surge_config), "rate", "inc-0000", "useful"]) == 2
    assert "no alert 'inc-0000'" in capsys.readouterr().err
    assert main(["--config", str(surge_config), "rate", incident, "useful", "--topic", "eulex"]) == 2   # not in it
    with pytest.raises(SystemExit):     # argparse: useful or noise
        main(["--config", str(surge_config), "rate", incident, "maybe"])


@pytest.mark.parametrize(("zone", "now", "day"), [
    ("UTC", datetime(2026, 12, 6, 20, 0), "2026-12-06"),
    ("Pacific/Kiritimati", datetime(2026, 12, 6, 20, 0), "2026-12-07"),     # UTC+14: tomorrow, 10:00 there
    ("America/Los_Angeles", datetime(2026, 12, 6, 10, 0), None),            # 02:00 there: not yet 07:00
])
def test_the_digest_s_day_and_hour_are_the_desk_s(tmp_path: Path, zone: str, now: datetime, day: str | None) -> None:
    """alerts.digest_hour and the digest's day follow alerts.timezone."""
    from flows.alerts import queue_digest

    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(f'[alerts]\nemail_to = ["desk@example.org"]\ndigest = true\ndigest_hour = 7\ntimezone = "{zone}"\n',
                   encoding="utf-8")
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        assert queue_digest(wh, load_config(cfg), now) == (day is not None)
        if day:
            assert wh.has_message(f"<digest-{day}@balkanwatch>")


@pytest.mark.prefect
def test_smtp_credentials_from_prefect_blocks_are_used_and_never_shown(prefect_server, surge_config: Path,
                                                                       smtp_port: int, monkeypatch, capfd):
    """An EmailServerCredentials block supplies server, port, security, user and password; a Secret block
    the password. A missing block or one that turns certificate checks off keeps the e-mail in the outbox."""
    import uuid

    from aiosmtpd.smtp import AuthResult
    from prefect.blocks.system import Secret
    from prefect_email import EmailServerCredentials

    block_pw, secret_pw = f"block-Pa55-{uuid.uuid4().hex}", f"secret-Pa55-{uuid.uuid4().hex}"
    EmailServerCredentials(username="bw-block", password=block_pw, smtp_server="127.0.0.1", smtp_type="INSECURE",
                           smtp_port=smtp_port).save("bw-mail", overwrite=True)
    EmailServerCredentials(username="bw-block", password=block_pw, smtp_server="127.0.0.1", smtp_type="INSECURE",
                           smtp_port=smtp_port, verify=False).save("bw-mail-unverified", overwrite=True)
    Secret(value=secret_pw).save("bw-smtp-password", overwrite=True)
    monkeypatch.setenv("BW_TEST_SMTP_USER", "bw-secret")
    original = surge_config.read_text(encoding="utf-8")
    server_keys = f'host = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"'
    assert server_keys in original

    def configure(keys: str, extra_alerts: str = ""):  # type: ignore[no-untyped-def]
        text = original.replace(server_keys, keys).replace('save_dir = "mail"', 'save_dir = "mail"' + extra_alerts)
        surge_config.write_text(text, encoding="utf-8")
        return load_config(surge_config)

    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        login = (data.login.decode(), data.password.decode())
        logins.append(login)
        return AuthResult(success=login in {("bw-block", block_pw), ("bw-secret", secret_pw)}, handled=False)

    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port, auth_require_tls=False,
                            authenticator=authenticator)
    controller.start()
    try:
        nowhere = 'host = "smtp.invalid"\nport = 1\nsecurity = "ssl"'   # the block's server must win over these
        summary = asyncio.run(run_ingest(configure(nowhere + '\ncredentials_block = "bw-mail-missing"')))
        assert summary.alerts.startswith("failed:") and "bw-mail-missing" in summary.alerts
        with pytest.raises(DeliveryError, match="verify = false"):
            run_alerts(configure(nowhere + '\ncredentials_block = "bw-mail-unverified"'))
        assert box.messages == [] and logins == []

        sent = run_alerts(configure(nowhere + '\ncredentials_block = "bw-mail"'))
        assert sent.sent == 1 and len(box.messages) == 1 and logins == [("bw-block", block_pw)]

        with_secret = server_keys + '\nusername_env = "BW_TEST_SMTP_USER"\npassword_block = "bw-smtp-password"'
        digest = run_alerts(configure(with_secret, "\ndigest = true\ndigest_hour = 0"))
        assert digest.sent == 1 and len(box.messages) == 2 and logins[-1] == ("bw-secret", secret_pw)
        assert b"daily digest" in box.messages[1][2]
    finally:
        controller.stop()
    with db(surge_config) as con:
        rows = con.execute("SELECT status, coalesce(last_error, '') FROM outbox").fetchall()
    assert sorted(s for s, _ in rows) == ["sent", "sent"]
    out, err = capfd.readouterr()
    for secret in (block_pw, secret_pw):
        assert all(secret not in text for text in (out, err, *(e for _, e in rows)))


def test_each_topic_has_its_own_budget_and_desk(surge_config: Path, inbox: Inbox):
    """watchlists[].email_to: the topic's desk gets its alerts; one incident over two topics is one e-mail to
    everyone who follows either. watchlists[].alerts_per_month: the topic is judged at its own budget."""
    text = surge_config.read_text(encoding="utf-8").replace(
        'name = "kfor"\n', 'name = "kfor"\nemail_to = ["kosovo-desk@example.org"]\n')
    surge_config.write_text(text, encoding="utf-8")
    config = load_config(surge_config)
    asyncio.run(run_ingest(config))
    assert len(inbox.messages) == 1
    _, rcpts, raw = inbox.messages[0]
    assert sorted(rcpts) == ["analyst@example.org", "kosovo-desk@example.org"]
    msg = message_from_bytes(raw, policy=policy.default)
    assert "kfor" in str(msg["Subject"]) and "north-kosovo-clash" in str(msg["Subject"])
    assert sorted(a.addr_spec for a in msg["To"].addresses) == sorted(rcpts)

    # the budget: one series, judged by two topics' settings around how rare its surge is
    rng = np.random.default_rng(7)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hours = 28 * 24
    rows = [(f"s{h}-{k}", start + timedelta(hours=h, minutes=5 * k))
            for h in range(hours) for k in range(rng.poisson(2.0 if 8 <= h % 24 < 20 else 0.5))]
    rows += [(f"surge-{k}", start + timedelta(hours=hours, minutes=5 * k)) for k in range(9)]
    now = start + timedelta(hours=hours, minutes=59)
    usual = topic_series("t", rows, start, now, config.alerts).scored[-1]
    assert usual.alert and 1 / 15 < usual.months < 1e6, usual      # rare enough for the default budget of 4
    data = {"alerts": {"alerts_per_month": 4},
            "watchlists": [{"name": "keen", "any": ["x"], "alerts_per_month": 2 / usual.months},
                           {"name": "calm", "any": ["x"], "alerts_per_month": 0.5 / usual.months}]}
    topics = parse_config(data, surge_config.parent)
    fired = {n: topic_series(n, rows, start, now, topics.topic_alerts(n)).scored[-1].alert for n in ("keen", "calm")}
    assert fired == {"keen": True, "calm": False}
