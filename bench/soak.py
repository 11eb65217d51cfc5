"""Soak of the scheduled path (`make run`: a Prefect server and `balkanwatch serve`) on the demo corpus.

    .venv/bin/python -m bench.soak [--minutes 6] [--outage SECONDS [--at-submit]] [--stall SECONDS]
                                   [--lake] [--catalog-outage SECONDS | --catalog-partition SECONDS]
                                   [--notebook SECONDS]

Not a timing benchmark and not in `make bench`: a check that the served deployments keep working run after
run. The demo's sites (app/corpus.py) are served on loopback with an SMTP server; the config polls every
source every minute (`ingest.min_poll_minutes = max_poll_minutes = 1`, `schedule.ingest_every_minutes = 1`,
`alerts.every_minutes = 1`); a new story appears in one RSS feed every NEW_ITEM_SECONDS. Every
SAMPLE_SECONDS the serve process's memory, open files and descendants are sampled. At the end:

- every ingest run in the warehouse completed, and every one a period after the one before polled every
  source; every source was polled by the run nearest its due time (`nearest_run_misses`; not the run after,
  and not a run just before the next one, as Prefect's late runs after an outage did until session 29);
- no flow run failed or crashed (the Prefect API);
- the new stories landed (all but those of the last two minutes);
- nothing the serve process started is left once it is stopped;
- with `--outage`: the Prefect server is stopped halfway for that many seconds and started again; `serve`
  must outlive it and run ingests after it (flow runs due while the API was away may crash: they cannot
  report themselves); `--at-submit` starts it the moment a run is Pending, holding its deployment's
  concurrency slot: with Prefect's in-memory leases serve then never ran again (session 29; the servers we
  start keep them on disk, and the slot comes back within the 300 s lease: soak 14 minutes for that);
- with `--stall`: halfway, the soak holds the ingest run lock that many seconds (ingest runs wait and do
  nothing), with `alerts.ingest_stall_periods = 1`: the alerts deployment must e-mail the stall once;
- with `--lake`: the warehouse is a DuckLake lake on a PostgreSQL started for the soak (tests/postgres.py),
  made by `warehouse init` as the README says; `serve` then also serves the maintenance deployment, which
  the soak runs every MAINTAIN_SECONDS through the Prefect API (as a click on "Run" in the UI does), with
  snapshots expired and files deleted within the soak (LAKE_KEEP_DAYS, LAKE_GRACE_HOURS); and every
  sample an analyst's `balkanwatch sql` reads the lake while it is written: every one must succeed and
  see no fewer articles than the one before. The catalog's role logs in with a password (scram-sha-256),
  given to serve by `warehouse.catalog_password_env`: it must appear in no log (serve's, the Prefect
  server's, the flow runs' logs in Prefect) and no output;
- with `--catalog-outage`: halfway, that PostgreSQL is stopped (`pg_ctl -m immediate`) for that many
  seconds and started again: the runs it cuts short may fail, and ingest must run again after it;
- with `--catalog-partition`: halfway, that PostgreSQL is cut off the network for that many seconds
  (`Postgres.cut_off`: iptables drops every packet of its port, as a partition or a dead host does; needs
  root): the same checks. Before session 31 a run caught by it waited ~15 minutes, and PostgreSQL kept its
  lock for hours after the network came back;
- with `--notebook`: halfway, the soak opens the warehouse file as an analyst's notebook does
  (`duckdb.connect(path)`: for writing, DuckDB's own lock) and keeps it that many seconds, with
  `warehouse.lock_timeout = 20` and `alerts.ingest_stall_periods = 1`: the runs it keeps out may fail
  (naming the program), the alerts deployment must e-mail once that the warehouse cannot be used (session
  32: straight over SMTP, the outbox being in the warehouse), and ingest must run again after it.

Session 27 wrote it after a soak by hand found two polling faults: sources scheduled under a larger
`ingest.max_poll_minutes` ignored a lowered one for hours, and a source whose interval equals the schedule's
period was polled by every other run (docs/design.md, "Polling and health"). Session 28's run with an outage
found one incident e-mailed twice (two alerts cycles at once; fixed by the outbox lock, flows/alerts.py).
Prints one line per sample
and a JSON summary; exits 1 when a check fails, keeping its folder (logs, warehouse) for a look.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx

from app.corpus import OFFICIAL, SITES, build_corpus, write_official_site
from app.demo import write_config
from app.devserver import LoopbackServer, free_port
from balkanwatch.config import load_config
from deployments.run_local import start_server, wait_healthy
from tests.postgres import Postgres, running_postgres
from warehouse import Warehouse
from warehouse.lake import LakeTarget, connect_lake

NEW_ITEM_SECONDS = 40
LEASE_MINUTES = 5          # Prefect's initial deployment concurrency lease (300 s)
SAMPLE_SECONDS = 20
SERVER_START_SECONDS = 120.0
MAINTAIN_SECONDS = 120     # --lake: a run of the maintenance deployment this often
LAKE_GRACE_HOURS = 0.01    # --lake: files no snapshot needs are deleted 36 s after (the default is an hour)
LAKE_KEEP_DAYS = 0.001     # --lake: snapshots older than 86 s are expired (the default is a week)
CATALOG_PASSWORD_ENV = "BW_SOAK_CATALOG_PASSWORD"
CATALOG_PASSWORD = f"soak-{os.urandom(6).hex()}"   # --lake: the catalog role's; it must show up nowhere
WORDS = ("KFOR patrol border Kosovo Serbia police bridge municipality council barricade convoy statement "
         "ministry delegation agreement checkpoint village commander").split()


def every_minute(config: Path) -> None:
    """The demo config, polling every source every minute."""
    text = config.read_text(encoding="utf-8")
    text = text.replace("[ingest]\npoll_minutes = 10\n",
                        "[ingest]\npoll_minutes = 1\nmin_poll_minutes = 1\nmax_poll_minutes = 1\n")
    text = text.replace("[alerts]\n", "[alerts]\nevery_minutes = 1\n", 1)
    text = text.replace("[smtp]\n", "[schedule]\ningest_every_minutes = 1\n\n[smtp]\n", 1)
    config.write_text(text, encoding="utf-8")


class NewStories(threading.Thread):
    """Adds a story to an RSS feed every NEW_ITEM_SECONDS (its page first, then the feed's item)."""

    def __init__(self, feed: Path, base: str) -> None:
        super().__init__(daemon=True)
        self.feed, self.base, self.stop = feed, base.rstrip("/"), threading.Event()
        self.written: list[tuple[float, str]] = []

    def run(self) -> None:
        rng = random.Random(27)
        while not self.stop.wait(NEW_ITEM_SECONDS):
            k = len(self.written) + 1
            slug = f"soak-{k}"
            title = f"Soak story {k}: {' '.join(rng.sample(WORDS, 4))}"
            paras = "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(60))}.</p>" for _ in range(4))
            (self.feed.parent / "news" / f"{slug}.html").write_text(
                f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{paras}</article>"
                "</body></html>", encoding="utf-8")
            item = (f"<item><title>{title}</title><link>{self.base}/news/{slug}.html</link><guid>{slug}</guid>"
                    f"<pubDate>{format_datetime(datetime.now(UTC))}</pubDate></item>")
            text = self.feed.read_text(encoding="utf-8")
            at = text.index("<item>")
            self.feed.write_text(text[:at] + item + text[at:], encoding="utf-8")
            self.written.append((time.time(), slug))


NEAREST_TOLERANCE_SECONDS = 10   # a run's start against its scheduled time, and a poll a moment after its run starts


def nearest_run_misses(polls: list[tuple[str, str, datetime, bool]], run_starts: dict[str, datetime],
                       interval_seconds: float) -> list[dict[str, Any]]:
    """Polls not made by the run nearest the source's due time. `polls` are (source, run_id, first fetch,
    all fetches ok) ordered by source and time; a healthy source polled at p is due at p + interval. The run
    that polls it next must be at least as near that time as the run before it (so it was not left late)
    and as the run after it (so it was not polled early), within NEAREST_TOLERANCE_SECONDS."""
    starts = sorted(run_starts.values())
    misses = []
    for (source, _, at, ok), (nxt_source, run_id, _, _) in zip(polls, polls[1:], strict=False):
        if source != nxt_source or not ok or run_id not in run_starts:
            continue
        due = at + timedelta(seconds=interval_seconds)
        k = starts.index(run_starts[run_id])
        mine = abs((starts[k] - due).total_seconds())
        around = [abs((starts[j] - due).total_seconds()) for j in (k - 1, k + 1)
                  if 0 <= j < len(starts) and starts[j] > at]
        if around and mine > min(around) + NEAREST_TOLERANCE_SECONDS:
            misses.append({"source": source, "due": due.isoformat(timespec="seconds"),
                           "polled_by_run_at": starts[k].isoformat(timespec="seconds"),
                           "off_by_seconds": round(mine - min(around))})
    return misses


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    kids = [int(p) for p in out]
    return kids + [d for k in kids for d in _descendants(k)]


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def lake_catalog(pg: Postgres) -> str:
    """A catalog database for the soak's lake, owned by a role that logs in with CATALOG_PASSWORD only."""
    pg.createdb("soak")
    pg.psql("soak", f"CREATE ROLE soak LOGIN PASSWORD '{CATALOG_PASSWORD}'; ALTER DATABASE soak OWNER TO soak")
    pg.require_password("soak", "soak")
    return f"dbname=soak host=127.0.0.1 port={pg.port} user=soak"


def on_lake(config: Path, catalog: str) -> None:
    """The demo config with its warehouse moved to a lake (catalog `catalog`, Parquet files beside it)."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('[warehouse]\npath = "demo.duckdb"\n', f'[warehouse]\nbackend = "ducklake"\n'
                                   f'catalog = "{catalog}"\ncatalog_password_env = "{CATALOG_PASSWORD_ENV}"\n'
                                   'data_path = "lake-data"\n'
                                   f"file_grace_hours = {LAKE_GRACE_HOURS}\nkeep_snapshots_days = {LAKE_KEEP_DAYS}\n",
                                   1), encoding="utf-8")


def within(window: tuple[datetime, datetime] | None, when: datetime) -> bool:
    """Whether `when` falls in a disturbance's window (None: there was none)."""
    return window is not None and window[0] <= when <= window[1]


def analyst_read(cli: list[str], env: dict[str, str]) -> dict[str, Any]:
    """What an analyst's `balkanwatch sql` sees while serve writes: the articles and stories, or the error."""
    t0 = time.monotonic()
    done = subprocess.run([*cli, "sql", "SELECT (SELECT count(*) FROM articles) AS articles, "
                           "(SELECT count(*) FROM stories) AS stories", "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=120)
    seconds = round(time.monotonic() - t0, 1)
    if done.returncode:
        return {"error": (done.stderr or done.stdout).strip()[-500:], "seconds": seconds}
    return {**json.loads(done.stdout)[0], "seconds": seconds}


def run_deployment(api: str, name: str) -> str:
    """A flow run of the served deployment `flow/deployment`, as the UI's "Run" makes; returns its id."""
    deployment = httpx.get(f"{api}/deployments/name/{name}", timeout=30).raise_for_status().json()
    return str(httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={},
                          timeout=30).raise_for_status().json()["id"])


def quiesce(api: str, timeout: float = 180.0) -> None:
    """Pause every deployment (Prefect deletes their scheduled runs) and wait for the runs in flight to end."""
    for deployment in httpx.post(f"{api}/deployments/filter", json={}, timeout=30).raise_for_status().json():
        httpx.post(f"{api}/deployments/{deployment['id']}/pause_deployment", timeout=30).raise_for_status()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and httpx.post(f"{api}/flow_runs/filter", json={
            "flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING"]}}}, "limit": 1}, timeout=30).json():
        time.sleep(1)


def prefect_logs(api: str) -> str:
    """Every log line the Prefect server holds (the flow runs' logs, as the UI shows them)."""
    lines: list[str] = []
    while True:
        page = httpx.post(f"{api}/logs/filter", json={"offset": len(lines), "limit": 200},
                          timeout=60).raise_for_status().json()
        lines += [entry["message"] for entry in page]
        if len(page) < 200:
            return "\n".join(lines)


def open_warehouse(config: Path) -> duckdb.DuckDBPyConnection:
    """The soak's warehouse, read-only: the demo's DuckDB file, or the lake (the same tables in use)."""
    cfg = load_config(config)
    if cfg.warehouse.backend == "ducklake":
        return connect_lake(LakeTarget.from_config(cfg), read_only=True)
    return duckdb.connect(str(cfg.warehouse_path), read_only=True)   # relative to the config file


def hold_file(path: Path) -> tuple[datetime, duckdb.DuckDBPyConnection]:
    """Open the warehouse file as an analyst's notebook does (for writing: DuckDB's own lock), trying again
    while a run has it, as a user would; (when it got it, the connection)."""
    while True:
        try:
            return datetime.now(UTC), duckdb.connect(str(path))
        except duckdb.IOException:
            time.sleep(0.2)


def soak(minutes: float, folder: Path, outage: float = 0.0, at_submit: bool = False,
         stall: float = 0.0, lake: Postgres | None = None, catalog_outage: float = 0.0,
         partition: bool = False, notebook: float = 0.0) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    catalog = lake_catalog(lake) if lake is not None else ""
    if catalog:    # as a user exports it (README, "DuckLake"); the soak's own reads of the lake need it too
        os.environ[CATALOG_PASSWORD_ENV] = CATALOG_PASSWORD

    site_root = folder / "sites"
    servers = {}
    for site in (*SITES, OFFICIAL):
        (site_root / site.slug).mkdir(parents=True)
        servers[site.slug] = LoopbackServer(site_root / site.slug).start()

    class Catcher:
        mails = 0
        subjects: list[str] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            Catcher.mails += 1
            Catcher.subjects.append(next((line.split(":", 1)[1].strip() for line in envelope.content.decode(
                "utf-8", "replace").splitlines() if line.startswith("Subject:")), ""))
            return "250 OK"

    smtp = Controller(Catcher(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    procs: list[subprocess.Popen[bytes]] = []
    stories: NewStories | None = None
    try:
        bases = {k: s.base for k, s in servers.items()}
        sources, _ = build_corpus(site_root, bases, monitoring=True)
        official, _ = write_official_site(site_root / OFFICIAL.slug, bases[OFFICIAL.slug])
        config = write_config(folder, [*sources, official], smtp.port).resolve()
        every_minute(config)
        if catalog:
            on_lake(config, catalog)
        if stall or notebook:      # a stall of a minute is worth an e-mail here (the default is six periods)
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("[alerts]\n", "[alerts]\ningest_stall_periods = 1\n", 1), encoding="utf-8")
        if notebook:   # runs give up on the held file after 20 s instead of waiting the default 10 minutes
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("[warehouse]\n", "[warehouse]\nlock_timeout = 20\n", 1), encoding="utf-8")
        rss = next(site_root / s.slug / "feed.xml" for s in SITES if (site_root / s.slug / "feed.xml").exists())
        port = free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = dict(os.environ, PREFECT_HOME=str(folder / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        log = (folder / "prefect.log").open("ab")

        def start_prefect() -> subprocess.Popen[bytes]:
            server = start_server(port, env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(server)
            wait_healthy(api, SERVER_START_SECONDS)
            return server

        server = start_prefect()
        cli = [str(Path(sys.executable).with_name("balkanwatch")), "--config", str(config)]
        if catalog:    # once before anything writes (README, "DuckLake")
            subprocess.run([*cli, "warehouse", "init"], env=env, check=True, capture_output=True)
        back_at: datetime | None = None   # when the API answered again after the outage
        outage_window: tuple[datetime, datetime] | None = None
        serve_log = (folder / "serve.log").open("wb")
        serve = subprocess.Popen([*cli, "serve"], env=dict(env, PREFECT_API_URL=api), stdout=serve_log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(serve)
        stories = NewStories(rss, bases[rss.parent.name])
        stories.start()
        samples = []
        stalled = False
        notebook_window: tuple[datetime, datetime] | None = None   # --notebook: while the file was held
        catalog_back_at: datetime | None = None   # --catalog-outage: when PostgreSQL was started again
        catalog_stopped_at: datetime | None = None
        reads: list[dict[str, Any]] = []      # --lake: the analyst's reads
        maintain_runs: list[str] = []         # --lake: the maintenance runs the soak asked for
        started = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            time.sleep(SAMPLE_SECONDS)
            if outage and back_at is None and time.monotonic() - started >= minutes * 30:
                if at_submit:    # the moment a run is Pending: it holds its deployment's slot (README, leases)
                    deadline = time.monotonic() + 90
                    while time.monotonic() < deadline and not httpx.post(f"{api}/flow_runs/filter", json={
                            "flow_runs": {"state": {"type": {"any_": ["PENDING"]}}}, "limit": 1}).json():
                        time.sleep(0.1)
                print(json.dumps({"outage": f"Prefect server stopped for {outage:.0f} s"}), flush=True)
                stopped_at = datetime.now(UTC)
                _stop(server)
                time.sleep(outage)
                server = start_prefect()
                back_at = datetime.now(UTC)
                outage_window = (stopped_at - timedelta(seconds=SAMPLE_SECONDS), back_at)
                print(json.dumps({"outage": "Prefect server back"}), flush=True)
            if catalog_outage and lake is not None and catalog_back_at is None and \
                    time.monotonic() - started >= minutes * 30:
                how = "cut off the network" if partition else "stopped"
                print(json.dumps({"catalog outage": f"PostgreSQL {how} for {catalog_outage:.0f} s"}), flush=True)
                catalog_stopped_at = datetime.now(UTC)
                if partition:
                    with lake.cut_off():
                        time.sleep(catalog_outage)
                else:
                    lake.stop()
                    time.sleep(catalog_outage)
                    lake.start()
                catalog_back_at = datetime.now(UTC)
                print(json.dumps({"catalog outage": "PostgreSQL back"}), flush=True)
            if stall and not stalled and time.monotonic() - started >= minutes * 30:
                print(json.dumps({"stall": f"the ingest run lock held for {stall:.0f} s"}), flush=True)
                with Warehouse.run_lock(load_config(config)):
                    time.sleep(stall)
                stalled = True
            if notebook and notebook_window is None and time.monotonic() - started >= minutes * 30:
                print(json.dumps({"notebook": f"the warehouse file held open for {notebook:.0f} s"}), flush=True)
                held_at, con = hold_file(load_config(config).warehouse_path)
                time.sleep(notebook)
                con.close()
                notebook_window = (held_at, datetime.now(UTC))
                print(json.dumps({"notebook": "the warehouse file closed"}), flush=True)
            if catalog:
                reads.append(analyst_read(cli, env))
                if time.monotonic() - started >= MAINTAIN_SECONDS * (len(maintain_runs) + 1):
                    maintain_runs.append(run_deployment(api, "maintain/balkanwatch-maintain"))
            if serve.poll() is not None:
                raise SystemExit(f"balkanwatch serve exited ({serve.returncode}); see {folder / 'serve.log'}")
            sample = {"seconds": round(time.monotonic() - started), "serve_rss_mb": _status(serve.pid, "VmRSS") // 1024,
                      "serve_open_files": _open_files(serve.pid), "descendants": len(_descendants(serve.pid)),
                      "mails": Catcher.mails}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
        stories.stop.set()
        quiesce(api)   # the runs in flight end as they would, not cut by the stop (a lake's take ~20 s)
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={"limit": 200}).json()
        states = Counter(r["state_type"] for r in flow_runs)
        # a run starting as the server went down cannot report itself, and crashes (before touching the warehouse)
        crashed_outside = [r["name"] for r in flow_runs if r["state_type"] == "CRASHED" and not
                           within(outage_window, datetime.fromisoformat(r["expected_start_time"]))]
        # without its catalog a run fails with the lake's error; so may one that began a period before it went
        catalog_window = (catalog_stopped_at - timedelta(seconds=90), catalog_back_at) if catalog_stopped_at and \
            catalog_back_at else None
        if notebook_window is not None:   # the same allowance for the runs the held file kept out
            catalog_window = (notebook_window[0] - timedelta(seconds=90), notebook_window[1])
        failed_outside = [r["name"] for r in flow_runs if r["state_type"] == "FAILED" and not
                          within(catalog_window, datetime.fromisoformat(r["expected_start_time"]))]
        group = serve.pid
        _stop(serve)
        time.sleep(2)
        left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(group)], capture_output=True, text=True).stdout
        with open_warehouse(config) as con:
            runs = con.execute("SELECT status, sources_polled, started_at FROM runs ORDER BY started_at").fetchall()
            run_starts = dict(con.execute("SELECT run_id, started_at FROM runs").fetchall())
            polls = con.execute("""SELECT source, run_id, min(started_at), bool_and(error IS NULL) FROM fetches
                                   GROUP BY ALL ORDER BY 1, 3""").fetchall()
            after = con.execute("SELECT count(*) FROM runs WHERE started_at > ?",
                                [(back_at or datetime.now(UTC)).replace(tzinfo=None)]).fetchone()[0]  # type: ignore[index]
            after_catalog = con.execute("SELECT count(*) FROM runs WHERE started_at > ? AND status = 'completed'",
                                        [(catalog_back_at or (notebook_window[1] if notebook_window else None)
                                          or datetime.now(UTC)).replace(tzinfo=None)]).fetchone()[0]  # type: ignore[index]
            duplicated = con.execute("SELECT count(*) - count(DISTINCT url) FROM articles").fetchone()[0]  # type: ignore[index]
            landed = {r[0].rsplit("/", 1)[-1].removesuffix(".html") for r in
                      con.execute("SELECT url FROM articles WHERE url LIKE '%/soak-%'").fetchall()}
        due = [slug for at, slug in stories.written if at < time.time() - 120]
        sources_total = len(sources) + 1
        misses = nearest_run_misses(polls, run_starts, interval_seconds=60)
        # minutes without runs: the outage (after one at a submission, the held slot comes back when its lease
        # runs out, 300 s), the stall (and a minute for the runs waiting on the lock to get through)
        minutes_away = (int(outage / 60) + (LEASE_MINUTES if at_submit else 0) + (int(stall / 60) + 1 if stall else 0)
                        + (int(catalog_outage / 60) + 1 if catalog_outage else 0)
                        + (int(notebook / 60) + 1 if notebook else 0))
        checks = {
            # (a run the catalog outage cut short is marked crashed by the next one: warehouse/store.py)
            "every ingest run completed (but those the catalog outage cut)": bool(runs) and all(
                status == "completed" or within(catalog_window, at.replace(tzinfo=UTC))
                for status, _, at in runs),
            # runs closer together (Prefect's late runs after an outage) leave sources to the run nearest them
            "every run a period after the one before polled every source": all(
                n == sources_total for (_, n, at), (_, _, before) in zip(runs[1:], runs, strict=False)
                if at - before >= timedelta(seconds=60 - NEAREST_TOLERANCE_SECONDS)),
            "every source was polled by the run nearest its time": not misses,
            "no flow run failed or crashed (but those due during an outage)": not (failed_outside or crashed_outside),
            "the new stories landed": set(due) <= landed,
            "nothing left after serve stopped": not left.strip(),
            "ingest runs (at least one a minute after the first)": len(runs) >= int(minutes) - 1 - minutes_away,
        }
        if stall:
            stall_mails = [m for m in Catcher.subjects if "no ingest has completed" in m]
            checks[f"a {stall:.0f} s stall of ingest was e-mailed once by the alerts deployment"] = len(stall_mails) == 1
        checks["every article stored once"] = duplicated == 0
        if notebook:
            told = [m for m in Catcher.subjects if "the warehouse cannot be used" in m]
            checks[f"a file held {notebook:.0f} s by a notebook was e-mailed once by the alerts deployment"] = \
                len(told) == 1
            checks["ingest ran again after the notebook let go"] = after_catalog >= 2
        if catalog:
            by_id = {r["id"]: r["state_type"] for r in flow_runs}
            counts = [r.get("articles", -1) for r in reads]
            checks["every analyst read of the lake succeeded"] = bool(reads) and not any("error" in r for r in reads)
            checks["no read saw fewer articles than the one before"] = counts == sorted(counts)
            checks["every maintenance run asked for completed (but the last, maybe still running)"] = bool(
                maintain_runs) and all(by_id.get(i) == "COMPLETED" for i in maintain_runs[:-1])
            reports = [a["data"] for a in reversed(httpx.post(f"{api}/artifacts/filter", json={
                "artifacts": {"key": {"any_": ["warehouse-maintenance"]}}, "sort": "CREATED_DESC"}
                ).raise_for_status().json())]
            checks["maintenance deleted files while the lake was written and read"] = any(
                re.search(r"deleted [1-9]\d* files no snapshot needs", r) for r in reports)
            logs = prefect_logs(api)
            found = [name for name, text in (("serve.log", (folder / "serve.log").read_text(errors="replace")),
                                             ("prefect.log", (folder / "prefect.log").read_text(errors="replace")),
                                             ("the flow runs' logs in Prefect", logs),
                                             ("the analyst's reads", json.dumps(reads))) if CATALOG_PASSWORD in text]
            checks["the catalog password is in no log or output"] = not found
        if catalog_outage:
            what = "partition from" if partition else "outage of"
            checks[f"ingest ran again after a {catalog_outage:.0f} s {what} PostgreSQL"] = after_catalog >= 2
        if outage:
            checks[f"serve outlived a {outage:.0f} s Prefect API outage and ran ingests after it"] = after >= 2
        first = runs[0][2] if runs else None
        return {"minutes": minutes, "ingest_runs": len(runs), "flow_run_states": dict(states),
                "runs_seconds_polled": [[round((at - first).total_seconds()), n] for _, n, at in runs if first],
                "polls_not_by_the_nearest_run": misses[:10],
                "stories_written": len(stories.written), "stories_landed": len(landed), "mails": Catcher.mails, "subjects": Catcher.subjects,
                "serve_rss_mb_first_last": [samples[0]["serve_rss_mb"], samples[-1]["serve_rss_mb"]] if samples else [],
                "serve_open_files_max": max((s["serve_open_files"] for s in samples), default=-1),
                "left_after_stop": left.strip(),
                **({"analyst_reads": reads[-3:], "read_seconds_max": max((r["seconds"] for r in reads), default=0),
                    "maintain_runs": [by_id.get(i) for i in maintain_runs], "maintenance_reports": reports}
                   if catalog else {}),
                "checks": checks}
    finally:
        if stories is not None:
            stories.stop.set()
        for proc in reversed(procs):
            _stop(proc)
        smtp.stop()
        for s in servers.values():
            s.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--outage", type=float, default=0.0,
                        help="halfway through, stop the Prefect server for this many seconds, then start it again")
    parser.add_argument("--stall", type=float, default=0.0,
                        help="halfway through, hold the ingest run lock this many seconds (alerts.ingest_stall_periods = 1)")
    parser.add_argument("--lake", action="store_true",
                        help="the warehouse is a DuckLake lake on a PostgreSQL started for the soak")
    parser.add_argument("--catalog-outage", type=float, default=0.0,
                        help="(implies --lake) halfway through, stop PostgreSQL for this many seconds, then start it again")
    parser.add_argument("--catalog-partition", type=float, default=0.0,
                        help="(implies --lake) halfway through, cut PostgreSQL off the network for this many seconds")
    parser.add_argument("--notebook", type=float, default=0.0,
                        help="halfway through, keep the warehouse file open for writing this many seconds, as a "
                             "notebook does (warehouse.lock_timeout = 20, alerts.ingest_stall_periods = 1)")
    parser.add_argument("--at-submit", action="store_true",
                        help="start the outage the moment a flow run is Pending (holding its deployment's slot)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="balkanwatch-soak-"))
    if args.catalog_outage and args.catalog_partition:
        parser.error("--catalog-outage and --catalog-partition: one at a time")
    lake_needed = args.lake or args.catalog_outage or args.catalog_partition
    with running_postgres() if lake_needed else nullcontext() as lake:
        result = soak(args.minutes, folder, args.outage, args.at_submit, args.stall, lake,
                      args.catalog_outage or args.catalog_partition, partition=bool(args.catalog_partition),
                      notebook=args.notebook)
    passed = all(result["checks"].values())
    if passed:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        result["kept"] = f"{folder} (serve.log, prefect.log, the warehouse)"
    print(json.dumps(result, indent=1))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
