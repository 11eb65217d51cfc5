"""CLI surfaces beyond ingest: OPML import, reextract, URL-list sources, deployments, a missing Prefect API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from app.cli import main
from balkanwatch.config import load_config
from balkanwatch.errors import ConfigError
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.lossyproxy import LossyProxy
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent

OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>My feeds</title></head><body>
<outline text="Balkans"><outline text="Balkan Insight" type="rss" xmlUrl="https://balkaninsight.com/feed/"/>
<outline text="N1" type="rss" xmlUrl="https://n1info.rs/feed/"/></outline>
<outline text="Already there" type="rss" xmlUrl="https://example.org/feed.xml"/>
<outline text="Already there, spelt otherwise" type="rss" xmlUrl="http://www.example.org/feed.xml?utm_source=feedly"/>
<outline text="Balkan Insight" type="rss" xmlUrl="https://balkaninsight.com/other/feed/"/>
</body></opml>"""


def test_import_opml_appends_new_feeds(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text('[[sources]]\nname = "Mine"\nfeed = "https://example.org/feed.xml"\n')
    (tmp_path / "feeds.opml").write_bytes(OPML)
    assert main(["--config", str(cfg), "sources", "import-opml", str(tmp_path / "feeds.opml"), "--language", "en"]) == 0
    sources = load_config(cfg).sources
    assert [s.name for s in sources] == ["Mine", "Balkan Insight", "N1", "Balkan Insight (2)"]
    assert sources[1].feed == "https://balkaninsight.com/feed/" and sources[1].language == "en"
    assert main(["--config", str(cfg), "sources", "import-opml", str(tmp_path / "feeds.opml")]) == 0
    assert len(load_config(cfg).sources) == 4     # importing twice adds nothing
    assert "added 0 of 5" in capsys.readouterr().out


def test_bad_opml_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "x.opml").write_text("<opml><body><outline xmlUrl='javascript:alert(1)'/></body></opml>")
    assert main(["--config", str(tmp_path / "c.toml"), "sources", "import-opml", str(tmp_path / "x.opml")]) == 2
    assert "not an absolute http(s) URL" in capsys.readouterr().err


def test_imported_names_are_one_line_and_a_config_that_would_not_load_is_left_as_it_was(
        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A feed's title over two lines becomes a one-line source name (names head e-mails and tables; the
    config refuses any other); an import into a config that would not load afterwards changes nothing."""
    (tmp_path / "x.opml").write_text('<opml><body><outline text="Kosovo&#10;Online\t news" xmlUrl="https://e.org/a"/>'
                                     '<outline text=" " xmlUrl="https://e.org/b"/></body></opml>')
    cfg = tmp_path / "new.toml"                               # none yet: the import writes it
    assert main(["--config", str(cfg), "sources", "import-opml", str(tmp_path / "x.opml")]) == 0
    assert [s.name for s in load_config(cfg).sources] == ["Kosovo Online news", "https://e.org/b"]
    broken = tmp_path / "broken.toml"
    text = '[alerts]\nfrobnicate = 1\n'
    broken.write_text(text, encoding="utf-8")
    assert main(["--config", str(broken), "sources", "import-opml", str(tmp_path / "x.opml")]) == 2
    assert "frobnicate" in capsys.readouterr().err and broken.read_text(encoding="utf-8") == text
    two_lines = tmp_path / "two.toml"
    two_lines.write_text('[[sources]]\nname = "A\\nB"\nfeed = "https://e.org/c"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\[0\]: the name 'A\\nB' must be one line"):
        load_config(two_lines)


def test_url_list_source_and_reextract(corpus, write_config) -> None:
    sources, arts, servers = corpus
    base = servers["kosovo-herald"].base
    cfg_path = write_config(toml_sources([{"name": "Herald pages", "urls": [f"{base}/news/seed-000.html",
                                                                             f"{base}/news/missing.html"]}]))
    summary = asyncio.run(run_ingest(load_config(cfg_path)))
    assert summary.new_articles == 1 and summary.item_errors == 1 and summary.sources_failed == 0
    wh_path = load_config(cfg_path).warehouse_path
    with Warehouse.open(wh_path) as wh:   # simulate articles extracted by an older extractor
        wh.con.execute("UPDATE articles SET extractor_version = 'old', text = 'stale'")
    assert main(["--config", str(cfg_path), "reextract"]) == 0
    with Warehouse.open(wh_path, read_only=True) as wh:
        row = wh.rows("SELECT extractor_version, text FROM articles")[0]
    assert row["extractor_version"] != "old" and "KFOR" in row["text"]


def test_all_pages_of_a_url_list_failing_marks_the_source(server, write_config) -> None:
    cfg_path = write_config(toml_sources([{"name": "Dead pages", "urls": [server.url("a.html"), server.url("b.html")]}]))
    summary = asyncio.run(run_ingest(load_config(cfg_path)))
    assert summary.sources_failed == 1 and "404" in (summary.sources[0].error or "")


def test_unreachable_prefect_api_gives_a_message_not_a_traceback(write_config) -> None:
    cfg = write_config("")
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    out = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "ingest"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert "cannot reach the Prefect API" in out.stderr and "--no-prefect" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.prefect
def test_deployments_apply_to_a_prefect_server(prefect_server, write_config) -> None:
    from prefect.client.orchestration import get_client

    from deployments.serve import build_deployments

    cfg = load_config(write_config(""))
    [dep] = build_deployments(cfg)
    dep_id = dep.apply()

    async def read():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_deployment(dep_id)
    d = asyncio.run(read())
    assert d.name == "balkanwatch-ingest" and d.parameters == {"config_path": str(cfg.path)}
    assert d.schedules[0].schedule.interval.total_seconds() == 600
    assert d.global_concurrency_limit is not None and d.global_concurrency_limit.limit == 1


def test_watchlists_add_the_alerts_deployment(write_config) -> None:
    from deployments.serve import build_deployments

    cfg = load_config(write_config('[alerts]\nevery_minutes = 20\n[[watchlists]]\nname = "kfor"\nany = ["KFOR"]\n'))
    ingest_dep, alerts_dep, rate_dep, missed_dep = build_deployments(cfg)
    assert (ingest_dep.name, alerts_dep.name) == ("balkanwatch-ingest", "balkanwatch-alerts")
    assert alerts_dep.parameters == {"config_path": str(cfg.path)}
    assert alerts_dep.schedules[0].schedule.interval.total_seconds() == 20 * 60
    # the desk's verdicts from the UI: no schedule, a form (Run → Custom run) with a list to pick from
    assert (rate_dep.name, missed_dep.name) == ("balkanwatch-rate", "balkanwatch-missed")
    assert rate_dep.schedules == [] and missed_dep.schedules == [] and rate_dep.parameters == {"config_path": str(cfg.path)}
    form = rate_dep._parameter_openapi_schema.model_dump()
    assert form["properties"]["verdict"]["enum"] == ["useful", "noise"] and form["required"] == ["config_path", "alert", "verdict"]
    assert "incident id" in form["properties"]["alert"]["description"]
    when = missed_dep._parameter_openapi_schema.model_dump()["properties"]["when"]
    assert when["format"] == "date-time"
    declared = {d["name"]: d for d in yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]}
    assert declared["balkanwatch-rate"]["entrypoint"] == "flows/verdicts.py:rate" and "schedules" not in declared["balkanwatch-rate"]
    assert declared["balkanwatch-missed"]["entrypoint"] == "flows/verdicts.py:missed"


def test_dedupe_backtest_reports_what_other_thresholds_would_change(corpus, write_config) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import toml_sources
    from tests.test_ingest import ingest_plain

    sources, arts, _ = corpus
    cfg = write_config(toml_sources(sources))
    ingest_plain(cfg)
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg),  # noqa: E731
                                     "dedupe-backtest", "--format", "json", *a], capture_output=True, text=True)
    same = json.loads(run().stdout)
    copies = len(arts) - len({a.story for a in arts})
    assert same["articles"] == len(arts) and same["articles_moved"] == 0 and same["pairs_added"] == 0
    assert same["stories_shipped"] == len({a.story for a in arts})
    strict = json.loads(run("--jaccard", "1.01", "--containment", "1.01").stdout)   # near-duplicates off
    assert strict["pairs_removed"] >= copies - 1 and strict["stories_proposed"] > same["stories_shipped"]
    assert strict["examples"] and all("article" in e for e in strict["examples"])


def pool_project(tmp_path: Path, sources: list[dict], api: str | None = None,  # type: ignore[no-untyped-def]
                 **env_extra: str):
    """A project folder as deployments/prefect.yaml expects one (its flows, a loopback config), the
    environment of a shell in it pointed at the test Prefect server (or `api`), and `run(*prefect_args)`
    that fails the test on a non-zero exit."""
    from prefect.settings import PREFECT_API_URL

    from tests.conftest import loopback_config

    project = tmp_path / "project"           # the working directory prefect.yaml's pull step records
    project.mkdir()
    (project / "flows").symlink_to(ROOT / "flows")
    (project / "balkanwatch.toml").write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
    env = {**os.environ, "PREFECT_API_URL": api or PREFECT_API_URL.value(), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PWD": str(project), **env_extra}   # PWD: what a shell in the project sets; the pull step reads it

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "prefect", *args], cwd=project, env=env, capture_output=True,
                             text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out
    return project, env, run


@pytest.mark.prefect
def test_prefect_yaml_deploys_to_a_work_pool_and_a_worker_runs_the_ingest(prefect_server, corpus, tmp_path) -> None:
    """deployments/prefect.yaml as its comments say to use it: a process work pool, `prefect deploy --all`,
    then a worker (here `--run-once`) that executes the ingest deployment into the warehouse."""
    from prefect.client.orchestration import get_client

    sources, arts, _ = corpus
    project, _, run = pool_project(tmp_path, sources)

    run("work-pool", "create", "balkanwatch", "--type", "process", "--overwrite")
    run("--no-prompt", "deploy", "--prefect-file", str(ROOT / "deployments" / "prefect.yaml"), "--all")
    run("deployment", "run", "ingest/balkanwatch-ingest")
    run("worker", "start", "--pool", "balkanwatch", "--run-once", timeout=300)

    async def ingest_runs():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            dep = await client.read_deployment_by_name("ingest/balkanwatch-ingest")
            runs = await client.read_flow_runs()
            return dep, [r for r in runs if r.deployment_id == dep.id]
    dep, runs = asyncio.run(ingest_runs())
    assert dep.work_pool_name == "balkanwatch" and dep.parameters == {"config_path": "balkanwatch.toml"}
    assert any(r.state.is_completed() for r in runs), [(r.name, r.state.name) for r in runs]
    with Warehouse.open(project / "wh.duckdb", read_only=True) as wh:
        assert wh.rows("SELECT count(*) AS n FROM articles")[0]["n"] == len(arts)


def test_ingest_summary_names_failed_sources_and_the_alerts_outcome():
    from app.cli import format_summary

    src = {"name": "Balkan Wire", "ok": False, "not_modified": False, "listed": 0, "new_articles": 0, "revised": 0,
           "error": "HTTP 503 from https://wire.example/feed", "next_poll_at": "2026-11-30T02:00:00+00:00"}
    s = {"status": "completed", "run_id": "r1", "sources_polled": 1, "sources_failed": 1, "new_articles": 0,
         "new_stories": 0, "new_copies": 0, "item_errors": 0, "sources": [src], "alerts": ""}
    text = format_summary(s)
    assert "  [ERR] Balkan Wire: HTTP 503 from https://wire.example/feed" in text and "alerts cycle" not in text
    assert format_summary({**s, "alerts": "2 new spikes, 1 e-mail sent"}).endswith("  alerts cycle: 2 new spikes, 1 e-mail sent")


@pytest.fixture(scope="module")
def prefect_on_postgres(postgres, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`prefect server start` on a PostgreSQL database (tests/postgres.py), as a work pool's server would
    be run: yields its API URL. The dispatcher tests drive two workers, the dispatcher, two shard runs and
    a settle run against one server; on the harness's SQLite database that load held its write lock for a
    minute at a time ("database is locked", 503s past the client's retries) in full parallel runs, and the
    dispatcher tests failed about one run in three, on the server, not on our code."""
    from app.devserver import free_port
    from tests.conftest import prefect_server_process

    postgres.createdb("prefect_api")
    env = {**os.environ, "PREFECT_HOME": str(home := tmp_path_factory.mktemp("prefect-pg-home")),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
           "PREFECT_API_DATABASE_CONNECTION_URL":
               f"postgresql+asyncpg://{postgres.user}@127.0.0.1:{postgres.port}/prefect_api"}
    env.pop("PREFECT_API_URL", None)
    with prefect_server_process(free_port(), env, home) as base:
        yield f"{base}/api"


@pytest.mark.prefect
def test_the_dispatcher_runs_every_shard_on_a_work_pool_with_two_workers(prefect_on_postgres, tmp_path) -> None:
    """The sharded ingest as deployments/prefect.yaml describes it: `prefect deploy --all` on a process work
    pool, two `prefect worker` processes, the dispatcher deployment run once with shards = 2. The corpus
    sites are on four loopback hosts, so both shards have sources. Both shard runs complete (whichever
    worker takes them) and load only; every article lands, once; the dispatcher then settles them all."""
    from tests.conftest import served_corpus

    with served_corpus(tmp_path / "sites", distinct_hosts=True) as (sources, arts, _):
        _dispatch_and_check(tmp_path, sources, arts, api=prefect_on_postgres)


@pytest.mark.prefect
def test_the_dispatcher_runs_its_shards_into_a_lake(prefect_on_postgres, postgres, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same on a DuckLake lake (issue #16): both workers' shard runs load into one lake (side by side,
    tests/test_lake_shards.py shows they overlap), every article once, then one settle."""
    from tests.conftest import served_corpus

    with served_corpus(tmp_path / "sites", distinct_hosts=True) as (sources, arts, _):
        _dispatch_and_check(tmp_path, sources, arts, api=prefect_on_postgres, catalog=postgres.createdb("dispatched"))


def _dispatch_and_check(tmp_path: Path, sources: list[dict], arts: list, api: str,  # type: ignore[type-arg]
                        catalog: str | None = None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from balkanwatch.config import load_config

    project, env, run = pool_project(tmp_path, sources, api, PREFECT_WORKER_QUERY_SECONDS="1",
                                     PREFECT_WORKER_PREFETCH_SECONDS="1")
    cfg = project / "balkanwatch.toml"
    if catalog:
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            'path = "wh.duckdb"', f'backend = "ducklake"\ncatalog = "{catalog}"\ndata_path = "lake-data"'),
            encoding="utf-8")
        init = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "warehouse", "init"],
                              capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stderr[-2000:]
    prefect = [sys.executable, "-m", "prefect"]

    pool = "bw-shards-lake" if catalog else "bw-shards"   # its own pool: runs of another test's pool are not ours
    run("work-pool", "create", pool, "--type", "process", "--overwrite")
    yaml_text = (ROOT / "deployments" / "prefect.yaml").read_text(encoding="utf-8").replace("name: balkanwatch\n",
                                                                                           f"name: {pool}\n")
    (project / "prefect.yaml").write_text(yaml_text, encoding="utf-8")
    run("--no-prompt", "deploy", "--prefect-file", str(project / "prefect.yaml"), "--name",
        "balkanwatch-ingest-shard", "--name", "balkanwatch-ingest-shards")
    # The workers (and the flow runs they start: the dispatcher) reach the API through a proxy that loses
    # the answer to the first "create a flow run" request, after the server made the run: Prefect's client
    # retries the POST, which must not start the shard twice.
    served = urlsplit(api)
    proxy = LossyProxy((served.hostname or "127.0.0.1", served.port or 80),
                       lose=rb"^POST /api/deployments/[^ ]+/create_flow_run ").start()
    worker_env = {**env, "PREFECT_API_URL": served._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()}
    workers = [subprocess.Popen([*prefect, "worker", "start", "--pool", pool, "--name", f"worker-{i}"],
                                cwd=project, env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for i in range(2)]

    async def wait_for_dispatcher():  # type: ignore[no-untyped-def]
        from prefect.deployments import arun_deployment

        dispatcher = await arun_deployment("ingest-shards/balkanwatch-ingest-shards", parameters={"shards": 2},
                                           timeout=300, poll_interval=1, as_subflow=False,
                                           idempotency_key=f"test dispatcher {uuid.uuid4()}")   # a retried POST: one run
        async with get_client() as client:
            runs = await client.read_flow_runs()
        return dispatcher, [r for r in runs if r.name.startswith("ingest shard ") and r.work_pool_name == pool]
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):   # this process's client: the same server
            dispatcher, shard_runs = asyncio.run(wait_for_dispatcher())
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        proxy.close()
    assert proxy.lost == 1                                              # the fault happened…
    assert dispatcher.state.is_completed(), dispatcher.state
    assert sorted(r.parameters["shard"] for r in shard_runs) == ["0/2", "1/2"]
    assert all(r.parameters["settle"] is False for r in shard_runs)      # the shards only load…
    assert all(r.state.is_completed() for r in shard_runs), [(r.name, r.state.name) for r in shard_runs]
    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        assert wh.rows("SELECT count(*) AS n, count(DISTINCT article_id) AS d FROM articles")[0] == \
            {"n": len(arts), "d": len(arts)}
        # …and the dispatcher settled everything once after them
        assert wh.rows("SELECT count(*) AS n FROM articles WHERE story_id IS NULL")[0] == {"n": 0}
        loaded_by = wh.rows("SELECT run_id, count(*) AS n FROM articles GROUP BY run_id")
    assert len(loaded_by) == 2, loaded_by                               # both shards had sources


def test_make_run_server_vacuums_old_flow_runs() -> None:
    """`make run`'s Prefect server keeps flow runs (and each run's source-health artifact) for Prefect's
    retention period, not forever: the Makefile's environment, read by Prefect's own settings, enables the
    flow-run vacuum (a renamed or mistyped setting would leave Prefect's default, events only)."""
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
    exported = dict(line.removeprefix("export ").split(" := ", 1) for line in makefile.splitlines()
                    if line.startswith("export PREFECT_SERVER_"))
    code = ("from prefect.settings import get_current_settings as s; v = s().server.services.db_vacuum; "
            "print(sorted(v.enabled_vacuum_types), v.retention_period.days)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_DB_VACUUM")}
    out = subprocess.run([sys.executable, "-c", code], env={**env, **exported}, capture_output=True, text=True,
                         check=True).stdout.split("]")
    assert "'flow_runs'" in out[0] and int(out[1]) == 90


def test_reextract_in_batches_on_the_worker_pool_gives_the_inline_text(corpus, write_config, monkeypatch) -> None:
    """`reextract` reads the raw pages a batch at a time and extracts them on ingest's worker pool: the
    same articles as one inline pass, whatever the batch size."""
    import flows.maintenance as jobs

    sources, _, _ = corpus
    path = write_config(toml_sources(sources))
    config = load_config(path)
    asyncio.run(run_ingest(config))

    def stale_then_reextract(workers: int) -> dict[str, tuple[str, str]]:
        path.write_text(path.read_text().replace("extract_workers = 1", f"extract_workers = {workers}")
                        .replace("extract_workers = 2", f"extract_workers = {workers}"))
        with Warehouse.open(config.warehouse_path) as wh:
            wh.con.execute("UPDATE articles SET extractor_version = 'old', text = 'stale'")
            n = len(wh.raw_page_ids())
        assert jobs.reextract(load_config(path)) == n > 3
        with Warehouse.open(config.warehouse_path, read_only=True) as wh:
            return {r["article_id"]: (r["text"], r["content_hash"]) for r in
                    wh.rows("SELECT article_id, text, content_hash FROM articles")}

    inline = stale_then_reextract(1)
    monkeypatch.setattr(jobs, "REEXTRACT_BATCH", 3)   # several batches, the last one short
    pooled = stale_then_reextract(2)
    assert pooled == inline and all(text != "stale" for text, _ in pooled.values())


@pytest.mark.prefect
def test_a_config_broken_while_served_fails_the_flow_run_naming_the_key(prefect_server, write_config) -> None:
    """Served deployments read the config at every run: an edit that breaks it fails the next run with the
    key named (what the UI shows), and the run after the fix works again."""
    from flows.ingest import ingest

    path = write_config("")
    good = path.read_text()
    path.write_text(good.replace("per_host_delay = 0.0", 'per_host_delay = "soon"'))
    state = asyncio.run(ingest(config_path=str(path), return_state=True))
    assert state.is_failed() and "fetch.per_host_delay" in (state.message or ""), state.message
    path.write_text(good)
    assert asyncio.run(ingest(config_path=str(path), return_state=True)).is_completed()


def test_every_command_line_argument_says_what_it_is() -> None:
    """`balkanwatch CMD --help` explains every argument: before session 36, 21 of them (every --limit and
    --format among them) showed a bare name."""
    import argparse

    from app.cli import build_parser

    bare: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif action.dest != "help" and not action.help:
                bare.append(" ".join([*path, *(action.option_strings or [action.dest])]))

    walk(build_parser(), [])
    assert bare == []
