"""Shared fixtures: loopback HTTP servers, config files in tmp_path, one Prefect test server per session."""

from __future__ import annotations

import itertools
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", str(Path(__file__).resolve().parent.parent / ".prefect" / "test-home"))

from app.devserver import LoopbackServer  # noqa: E402

DATA = Path(__file__).parent / "data"
_lake_names = itertools.count()   # catalog databases of lake_config, unique in the session


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackServer]:
    """A real HTTP server on 127.0.0.1 serving tmp_path/site (files) plus any routes a test adds."""
    root = tmp_path / "site"
    root.mkdir()
    with LoopbackServer(root) as srv:
        yield srv


def loopback_config(sources: str, *, extra: str = "", timeout: float = 5) -> str:
    """Config text for loopback servers: private networks allowed, no politeness delay, fast retries."""
    return textwrap.dedent(f"""
        [warehouse]
        path = "wh.duckdb"
        lock_timeout = 30

        [fetch]
        allow_private_networks = true
        per_host_concurrency = 4
        per_host_delay = 0.0
        retries = 1
        backoff_base = 0.01
        timeout = {timeout}

        [ingest]
        extract_workers = 1
        {extra}
        """) + textwrap.dedent(sources)


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a loopback config file into tmp_path and return its path."""
    def write(sources: str, extra: str = "") -> Path:
        path = tmp_path / "balkanwatch.toml"
        path.write_text(loopback_config(sources, extra=extra), encoding="utf-8")
        return path
    return write


def _migrated_prefect_database() -> Path:
    """An empty Prefect database at this Prefect's schema, made once per checkout and Prefect version (the
    first worker to need it makes it; the others wait on its lock): a server started on a copy skips the
    migrations, 24 s of a new database's 31 s start here (idle machine), each xdist worker paying them."""
    import shutil
    import sys

    import prefect

    from warehouse.locks import file_lock

    home = Path(os.environ["PREFECT_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    template = home / f"migrated-{prefect.__version__}.db"
    with file_lock(home / "migrated.lock", exclusive=True, timeout=300, what="Prefect test database"):
        if not template.exists():
            building = template.with_name(template.name + f".{os.getpid()}.building")
            building.unlink(missing_ok=True)
            env = {**os.environ, "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{building}"}
            subprocess.run([str(Path(sys.executable).with_name("prefect")), "server", "database", "upgrade", "-y"],
                           env=env, check=True, capture_output=True, timeout=300)
            shutil.move(building, template)
    return template


def seeded_prefect_home(home: Path) -> Path:
    """`home` (made if missing) holding a copy of the migrated Prefect database as its `prefect.db`, the
    default database of a `prefect server start` with PREFECT_HOME=home: it starts without migrating."""
    import shutil

    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_prefect_database(), home / "prefect.db")
    return home


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One real Prefect API server for the whole session (prefect_test_harness), its database a copy of an
    already migrated one (`_migrated_prefect_database`): the harness makes a temporary folder for its
    database, and finds the copy there."""
    import shutil
    import tempfile

    import prefect.testing.utilities as harness

    template = _migrated_prefect_database()

    def folder_with_database() -> str:
        folder = tempfile.mkdtemp()
        shutil.copyfile(template, Path(folder) / "prefect-test.db")   # the harness's own name for it
        return folder

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "mkdtemp", folder_with_database)
        with harness.prefect_test_harness(server_startup_timeout=120):
            yield


def toml_sources(sources: list[dict]) -> str:
    """[[sources]] blocks for a list of dicts (JSON strings are valid TOML strings)."""
    import json

    return "\n".join("[[sources]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in s.items()) + "\n"
                     for s in sources)


@contextmanager
def served_corpus(root: Path, *, monitoring: bool = False, distinct_hosts: bool = False):  # type: ignore[no-untyped-def]
    """The corpus sites under root, each on its own loopback server: yields (sources, articles, servers by slug).
    `distinct_hosts` puts site i on 127.0.0.(i+1) instead of one host with four ports (sharding is by host)."""
    from app.corpus import SITES, build_corpus

    servers = {}
    try:
        for i, site in enumerate(SITES):
            (root / site.slug).mkdir(parents=True)
            host = f"127.0.0.{i + 1}" if distinct_hosts else "127.0.0.1"
            servers[site.slug] = LoopbackServer(root / site.slug, host=host).start()
        sources, articles = build_corpus(root, {k: s.base for k, s in servers.items()}, monitoring=monitoring)
        yield sources, articles, servers
    finally:
        for s in servers.values():
            s.stop()


@pytest.fixture
def corpus(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The seed corpus on four loopback sites: yields (sources, articles, servers by slug)."""
    with served_corpus(tmp_path / "sites") as served:
        yield served


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    """One real PostgreSQL on loopback for the session (tests/postgres.py); skips where it is not installed."""
    from tests.postgres import postgres_bin, running_postgres

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    with running_postgres() as pg:
        yield pg


def on_lake(text: str, catalog: str) -> str:
    """A loopback config's text with the warehouse moved from wh.duckdb to a lake on `catalog`."""
    assert 'path = "wh.duckdb"' in text
    return text.replace('path = "wh.duckdb"', f'backend = "ducklake"\ncatalog = "{catalog}"\ndata_path = "lake-data"')


@pytest.fixture
def warehouse_backend(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Config text → the same text on the test's backend: `duckdb` (the default, the file as written) or, by
    `@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)`, `ducklake` (a new
    catalog database on the session's real PostgreSQL, requested only then: the file variant never needs it)."""
    backend = getattr(request, "param", "duckdb")
    if backend == "duckdb":
        return lambda text: text
    assert backend == "ducklake", backend
    catalog = request.getfixturevalue("postgres").createdb(f"lake{next(_lake_names)}")
    return lambda text: on_lake(text, catalog)


@pytest.fixture
def lake_config(postgres, write_config, tmp_path: Path):  # type: ignore[no-untyped-def]
    """write_config, but the warehouse is a lake: a new catalog database and a data folder in tmp_path."""
    def write(sources: str) -> Path:
        catalog = postgres.createdb(f"lake{next(_lake_names)}")
        path = write_config(sources)
        path.write_text(on_lake(path.read_text(), catalog))
        return path
    return write


@contextmanager
def prefect_server_process(port: int, env: dict[str, str], home: Path) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1:`port` (deployments.run_local.start_server) with `env`, logging to
    home/server.log: yields its base URL once healthy, and stops it on the way out."""
    from deployments.run_local import start_server, stop_server

    base = f"http://127.0.0.1:{port}"
    with (home / "server.log").open("wb") as log:
        server = start_server(port, env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
        try:
            wait_healthy(base, server, home / "server.log")
            yield base
        finally:
            stop_server(server)


def wait_healthy(base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Until a `prefect server start` at `base` answers (deployments.run_local.wait_healthy); fails the test
    with the server's log when it exits or does not answer in `timeout` seconds."""
    from deployments.run_local import wait_healthy as answering

    try:
        answering(f"{base}/api", timeout, server)
    except SystemExit as exc:
        pytest.fail(f"{exc}: {log.read_text(errors='replace')[-3000:]}")
