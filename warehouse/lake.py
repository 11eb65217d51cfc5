"""The DuckLake backend of `Warehouse` (issue #16): how to connect, the lake's schema, its locks.

A lake is Parquet files under a data path plus metadata and transactions in a PostgreSQL catalog; every
reader and writer is an ordinary in-memory DuckDB connection with the `postgres_scanner` and `ducklake`
extensions loaded from their wheels (no download) and the lake attached as `lake`, the default catalog.
The SQL of `Warehouse` runs on it unchanged: DuckLake has no PRIMARY KEY / UNIQUE / indexes / sequences
and no `INSERT … ON CONFLICT`, so the warehouse's statements are idempotent by MERGE or anti-join alone.

Writers queue as the file's do: one writer at a time per lake, by a PostgreSQL advisory lock (transaction
level) taken in the catalog on a dedicated connection (CatalogLock). Unlike a file lock it holds across
machines, and a writer that dies (kill -9, a lost network) releases it with its connection. Shard runs'
loading sessions take the writer lock around each transaction only, so their commits take turns while
they fetch and extract side by side (Warehouse.open_lake). Readers take no lock.

A catalog that restarts (or a connection that drops) ends every session, and with it every advisory lock,
without a word to the holder, while the lake's own connection reconnects on its next statement: a writer
would go on writing beside another that took the lock meanwhile. So every lake writer's COMMIT is preceded
by `verify_held_locks()`: each lock this process holds must still be held by its session, or the
transaction is rolled back with CatalogLockLost (the run fails; the next one redoes it).
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import time
import urllib.parse
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import duckdb

from balkanwatch.errors import CatalogLockLost, WarehouseBusyError, WarehouseError

if TYPE_CHECKING:
    from balkanwatch.config import Config

LAKE = "lake"                       # the attached lake's name (and the default catalog of the connection)
LOCK_CLASS = 0x62776C6B             # "bwlk": first key of balkanwatch's advisory locks in the catalog
LOCKS = {"warehouse": 1, "ingest run": 2, "outbox": 3}   # second key, per lock (writes; whole ingest runs;
                                                         # sending the outbox)
SHARD_KEYS = 1 << 20                # shard K/N's own run lock: a second key in [SHARD_KEYS, 2 · SHARD_KEYS)
LOCK_POLL_SECONDS = 0.1
# How far DuckDB runs ahead of a reader fetching an analyst's result a batch at a time (`sql`): its default,
# 976.5 KiB, counts a text value's 16-byte header, not the text, so it buffered ~30 chunks of 2048 rows each:
# 1.2 GB ahead for articles of 20 kB (probed: a 1.2 GB result peaked at 0.95 GB fetched in batches of 500; at
# this size, 0.2 GB). Two chunks of text columns; numbers-only results are no slower in batches of thousands.
ANALYST_STREAM_BUFFER = "64KB"
# libpq waits for a catalog's answer without limit by default: a catalog host that accepts the connection
# and never answers (a frozen server, a half-dead proxy) hung every command and flow run that opened the
# lake, and a reconnection after a restart too (probed: killed after 40 s; with the timeout, a clear error
# in 10 s). Generous for any catalog a desk would use; a catalog string with its own connect_timeout wins.
CATALOG_CONNECT_TIMEOUT_SECONDS = 10
# A catalog host that drops off the network (a partition, a host that died, a pulled cable) is worse: an
# open connection then waits for TCP's own give-up, about 15 minutes, and a SIGTERM cannot stop the wait
# (probed in session 31: a writer still waiting after 10 minutes, `timeout` unable to end it). And PostgreSQL
# keeps the lost session, with balkanwatch's advisory lock in it, until *it* notices, after two hours at the
# usual TCP defaults: every later run was refused as "held by another process" after the network came back
# (probed: still refused 240 s after healing). So both ends are told to give up on a silent peer: our end by
# libpq's keepalives and TCP user timeout (data unacknowledged that long ends the connection), the server's
# end by the same settings for our sessions (`options`: PostgreSQL's tcp_keepalives_* and tcp_user_timeout,
# settable by any role; PostgreSQL ≥ 12). A partitioned writer then fails in about 40 s (the user timeout,
# then the connect timeout of its reconnection) and the lock is free again within about a minute. Any of
# these keywords that the catalog string sets itself is left as it is (an `options` of its own: ours is
# not added, e.g. for a pooler that refuses startup options).
CATALOG_KEEPALIVE_IDLE_SECONDS = 30       # silence before the first keepalive probe
CATALOG_KEEPALIVE_INTERVAL_SECONDS = 10   # between probes
CATALOG_KEEPALIVE_COUNT = 3               # unanswered probes before the connection is given up
CATALOG_USER_TIMEOUT_SECONDS = 30         # data unacknowledged this long ends the connection
# Table functions that reach PostgreSQL directly (the catalog as its user, or any server): never in analyst SQL.
_RAW_POSTGRES = re.compile(r"postgres_(query|scan|scan_pushdown|execute|attach)", re.IGNORECASE)
_READ_STATEMENTS = ("SELECT", "EXPLAIN")
Snapshot = datetime | int   # a lake snapshot to read: the last one committed at a time, or its id


@dataclass(frozen=True)
class S3Access:
    """How DuckDB's httpfs reaches an s3:// data path: endpoint, region, URL style, TLS, and the key pair
    (from the environment; never in a message: LakeTarget.scrub)."""

    endpoint: str = ""
    region: str = "us-east-1"
    url_style: str = ""
    use_ssl: bool = True
    key_id: str = ""
    secret: str = ""

    def secret_sql(self) -> str:
        """The CREATE SECRET statement of this access (a temporary secret: this connection only)."""
        parts = ["TYPE s3", f"REGION {_sql_string(self.region)}", f"USE_SSL {str(self.use_ssl).lower()}"]
        if self.key_id:
            parts += [f"KEY_ID {_sql_string(self.key_id)}", f"SECRET {_sql_string(self.secret)}"]
        if self.endpoint:
            parts.append(f"ENDPOINT {_sql_string(self.endpoint)}")
        if self.url_style:
            parts.append(f"URL_STYLE {_sql_string(self.url_style)}")
        return f"CREATE OR REPLACE TEMPORARY SECRET bw_lake_s3 ({', '.join(parts)})"


@dataclass(frozen=True)
class LakeTarget:
    """Where a lake is: the catalog's libpq string, its password (from the environment), the data path, and
    this machine's local BM25 index of it (warehouse/lake_search.py)."""

    catalog: str
    data_path: str
    password: str = ""
    search_index: Path | None = None
    s3: S3Access | None = None        # an s3:// data path's access (None: a local folder)

    @classmethod
    def from_config(cls, config: Config) -> LakeTarget:
        w = config.warehouse
        env = w.catalog_password_env
        data_path = config.lake_data_path
        s3 = None
        if data_path.startswith("s3://"):
            s3 = S3Access(w.s3_endpoint, w.s3_region, w.s3_url_style, w.s3_use_ssl,
                          os.environ.get(w.s3_key_id_env, "") if w.s3_key_id_env else "",
                          os.environ.get(w.s3_secret_env, "") if w.s3_secret_env else "")
        return cls(w.catalog, data_path, os.environ.get(env, "") if env else "", config.lake_search_index, s3)

    @property
    def libpq(self) -> str:
        """The connection string DuckDB is given: the catalog's, without the password. DuckDB's errors quote
        it whole ('Unable to connect to Postgres at "…"', raised by any statement once the catalog is down),
        so the password goes to libpq through PGPASSWORD instead (`use_password`). The bounds on a silent
        catalog (`catalog_bounds`) are added where the catalog string does not set them."""
        uri = re.match(r"postgres(ql)?://", self.catalog) is not None
        added = [(k, v) for k, v in catalog_bounds().items()
                 if not re.search(rf"(^|[\s?&]){k}\s*=", self.catalog)]
        if not added:
            return self.catalog
        if uri:   # the URI form: query parameters
            query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in added)
            return f"{self.catalog}{'&' if '?' in self.catalog else '?'}{query}"
        return " ".join([self.catalog, *(f"{k}={_libpq_value(v)}" for k, v in added)])

    def use_password(self) -> None:
        """Hand the password to libpq, which reads PGPASSWORD at every connection it makes (also the ones
        DuckDB's postgres extension makes later, to reconnect): set for this process and its children,
        which are ours and connect to the same catalog. One password per process, then: a process works on
        one lake (two lakes with different passwords in one process would reconnect with the last one)."""
        if self.password:
            os.environ["PGPASSWORD"] = self.password

    def scrub(self, text: str) -> str:
        """`text` with the password and the S3 secret cut out (DuckDB errors quote the connection string,
        escaped or not, and may quote a secret's statement), and without the bounds we added to it."""
        text = without_bounds(text)
        if self.s3 and self.s3.secret:
            text = text.replace(self.s3.secret, "***")
        if not self.password:
            return text
        text = re.sub(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=***", text)
        return text.replace(self.password, "***")

    @property
    def local(self) -> bool:
        return "://" not in self.data_path


def catalog_bounds() -> dict[str, str]:
    """The libpq keywords that bound a silent catalog (CATALOG_CONNECT_TIMEOUT_SECONDS, CATALOG_KEEPALIVE_*,
    CATALOG_USER_TIMEOUT_SECONDS): at our end, and through `options` at the server's end of our sessions."""
    user_ms = CATALOG_USER_TIMEOUT_SECONDS * 1000
    keepalive = {"idle": CATALOG_KEEPALIVE_IDLE_SECONDS, "interval": CATALOG_KEEPALIVE_INTERVAL_SECONDS,
                 "count": CATALOG_KEEPALIVE_COUNT}
    server = " ".join([*(f"-c tcp_keepalives_{k}={v}" for k, v in keepalive.items()), f"-c tcp_user_timeout={user_ms}"])
    return {"connect_timeout": str(CATALOG_CONNECT_TIMEOUT_SECONDS), "keepalives": "1",
            **{f"keepalives_{k}": str(v) for k, v in keepalive.items()},
            "tcp_user_timeout": str(user_ms), "options": server}


def without_bounds(text: str) -> str:
    """An error text without the keywords `catalog_bounds` added to the connection string it quotes
    (DuckDB's 'Unable to connect to Postgres at "…"'): the catalog as the user wrote it, 250 characters
    shorter."""
    for key, value in sorted(catalog_bounds().items(), key=lambda kv: -len(kv[1])):   # `options` holds the rest
        text = text.replace(f" {key}={_libpq_value(value)}", "")
        text = re.sub(rf"([?&]){key}={re.escape(urllib.parse.quote(value, safe=''))}(&?)",
                      lambda m: m[1] if m[2] else "", text)
    return text.replace("?&", "?")


def _libpq_value(value: str) -> str:
    """A value in libpq's keyword=value form: quoted when it has spaces or quotes."""
    if re.fullmatch(r"[^\s'\\]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _extension(module: ModuleType, name: str) -> str:
    assert module.__file__ is not None
    return str(Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def httpfs_extension() -> str:
    """The httpfs extension shipped by its wheel (an s3:// data path)."""
    return _extension(importlib.import_module("duckdb_extension_httpfs"), "httpfs")


def lake_extensions() -> tuple[str, str]:
    """The postgres_scanner and ducklake extensions shipped by their wheels, in load order."""
    # data packages (the extension files) with no annotations: imported by name, typed ModuleType
    return (_extension(importlib.import_module("duckdb_extension_postgres_scanner"), "postgres_scanner"),
            _extension(importlib.import_module("duckdb_extension_ducklake"), "ducklake"))


def _new_connection(threads: int | None) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    for path in lake_extensions():
        con.execute(f"LOAD {_sql_string(path)}")
    return con


def _snapshot_option(as_of: Snapshot) -> str:
    """The ATTACH option that pins a lake to a snapshot: its id, or the last one committed at a time
    (naive times are UTC, as everything the warehouse stores)."""
    if isinstance(as_of, datetime):
        when = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        return f"SNAPSHOT_TIME {_sql_string(when.astimezone(UTC).isoformat(sep=' '))}"
    return f"SNAPSHOT_VERSION {int(as_of)}"


def connect_lake(target: LakeTarget, *, read_only: bool, threads: int | None = None,
                 extra_extensions: tuple[str, ...] = (), as_of: Snapshot | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake attached and in use. Read-only ones are sandboxed:
    the lake attached READ_ONLY, file access limited to the data path, settings frozen (see check_analyst_sql
    for what the statement check adds). `as_of` (read-only) attaches the lake as it was at that snapshot."""
    if as_of is not None and not read_only:
        raise WarehouseError("a lake is opened at an earlier snapshot read-only")
    con: duckdb.DuckDBPyConnection | None = None
    try:
        if target.local and not read_only:
            Path(target.data_path).mkdir(parents=True, exist_ok=True)
        con = _new_connection(threads)
        for path in extra_extensions:
            con.execute(f"LOAD {_sql_string(path)}")
        if target.s3 is not None:      # the Parquet files are on S3: httpfs from its wheel, a secret for the bucket
            con.execute(f"LOAD {_sql_string(httpfs_extension())}")
            con.execute(target.s3.secret_sql())
        target.use_password()
        options = f"DATA_PATH {_sql_string(target.data_path)}" + (", READ_ONLY" if read_only else "")
        if as_of is not None:
            options += ", " + _snapshot_option(as_of)
        con.execute(f"ATTACH {_sql_string('ducklake:postgres:' + target.libpq)} AS {LAKE} ({options})")
        con.execute(f"USE {LAKE}")
        if read_only:
            # DuckLake reads its Parquet files through DuckDB's file system (a folder, or s3:// by httpfs)
            con.execute(f"SET allowed_directories = [{_sql_string(target.data_path)}]")
            con.execute(f"SET streaming_buffer_size = '{ANALYST_STREAM_BUFFER}'")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        return con
    except (duckdb.Error, OSError) as exc:
        if con is not None:
            con.close()
        if read_only and "creating a new DuckLake is explicitly disabled" in str(exc):
            raise WarehouseError(f"no lake in catalog {target.catalog} (run `balkanwatch warehouse init` first)") from exc
        if as_of is not None and "No snapshot found" in str(exc):
            raise WarehouseError(f"{target.scrub(str(exc))}: the lake has no snapshot then (`balkanwatch "
                                 "warehouse snapshots` lists the kept ones; `warehouse maintain` expires those "
                                 "older than warehouse.keep_snapshots_days)") from exc
        raise WarehouseError(f"cannot open the lake {target.data_path} (catalog {target.catalog}): "
                             f"{target.scrub(str(exc))}") from exc


def check_analyst_sql(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse what the lake's read-only connection cannot refuse by itself: anything but SELECT / EXPLAIN
    (a `COPY … TO` may write inside the data path, the one folder the connection may touch) and the postgres
    extension's table functions (they would run SQL on the catalog, or on any server, as the catalog's user)."""
    if _RAW_POSTGRES.search(sql):
        raise WarehouseError("the postgres_* functions are not available to `balkanwatch sql` on a lake")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(str(exc)) from exc
    for st in statements:
        if st.type.name not in _READ_STATEMENTS:
            raise WarehouseError(f"read-only: {st.type.name} statements are refused on a lake (SELECT only)")


def lake_schema(sql: str) -> str:
    """schema.sql (or a migration) as DuckLake takes it: PRIMARY KEY columns become NOT NULL, table-level
    PRIMARY KEY / UNIQUE clauses and CREATE INDEX statements go. Comments are kept; writers keep keys
    unique by MERGE and anti-joins under the writer lock."""
    out: list[str] = []
    for line in sql.splitlines():
        code, sep, comment = line.partition("--")
        bare = code.strip()
        if re.fullmatch(r"(PRIMARY KEY|UNIQUE)\s*\([^)]*\)\s*,?", bare):
            if not bare.endswith(","):   # it was the last item: the one before loses its comma
                _drop_trailing_comma(out)
            continue
        if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\b", bare, re.IGNORECASE):
            continue
        code = re.sub(r"\s+PRIMARY KEY\b", " NOT NULL", code)
        code = re.sub(r"NOT NULL NOT NULL", "NOT NULL", code)
        code = re.sub(r"\s+UNIQUE\b(?=\s*[,)]|\s*$)", "", code)
        out.append(code + sep + comment)
    return "\n".join(out) + "\n"


def _drop_trailing_comma(lines: list[str]) -> None:
    for i in range(len(lines) - 1, -1, -1):
        code, sep, comment = lines[i].partition("--")
        if code.strip():
            stripped = code.rstrip()
            if stripped.endswith(","):
                lines[i] = stripped[:-1] + code[len(stripped):] + sep + comment
            return


class CatalogLock:
    """One of balkanwatch's advisory locks in the lake's catalog, on a connection of its own, taken and
    released many times (a transaction-level lock: released by the ROLLBACK that ends each hold, or by
    PostgreSQL when the process holding it dies). `shared=True` holds it beside other shared holders and
    excludes exclusive ones (shard runs share "ingest run"; a full run or `settle` takes it alone)."""

    def __init__(self, target: LakeTarget, name: str, *, key: int | None = None) -> None:
        self.target, self.name = target, name
        self.key = LOCKS[name] if key is None else key
        try:
            self.con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                           "autoload_known_extensions": False})
            self.con.execute(f"LOAD {_sql_string(lake_extensions()[0])}")
            target.use_password()
            self.con.execute(f"ATTACH {_sql_string(target.libpq)} AS bw_lock (TYPE postgres)")
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot reach the lake's catalog ({target.catalog}): "
                                 f"{target.scrub(str(exc))}") from exc
        self.held = False
        self._using = threading.Lock()   # its connection, for the thread that commits and the one that holds

    def acquire(self, *, timeout: float, shared: bool = False) -> None:
        """Wait up to `timeout` seconds for the lock, then WarehouseBusyError."""
        how = "pg_try_advisory_xact_lock_shared" if shared else "pg_try_advisory_xact_lock"
        ask = f"SELECT * FROM postgres_query('bw_lock', 'SELECT {how}({LOCK_CLASS}, {self.key})')"
        with self._using:
            self.con.execute("BEGIN TRANSACTION")
            deadline = time.monotonic() + timeout
            while not _got(self.con, ask):
                if time.monotonic() >= deadline:
                    self.con.execute("ROLLBACK")
                    raise WarehouseBusyError(f"{self.name}: the lake's catalog lock is held by another process; "
                                             f"gave up after {timeout:.0f}s")
                time.sleep(LOCK_POLL_SECONDS)
            self.held = True
            _HELD.add(self)

    def verify(self) -> None:
        """CatalogLockLost unless this lock's session still holds it: a catalog restarted (or a connection
        dropped) since `acquire` took it away, and another process may hold it now."""
        ask = ("SELECT * FROM postgres_query('bw_lock', 'SELECT count(*) FROM pg_locks WHERE locktype = "
               f"''advisory'' AND granted AND pid = pg_backend_pid() AND classid = {LOCK_CLASS} AND objid = "
               f"{self.key} AND objsubid = 2')")
        with self._using:
            if not self.held:
                return
            try:
                still = _got(self.con, ask)
            except duckdb.Error as exc:
                # "Binder Error: Failed to prepare query "…": server closed the connection unexpectedly"
                still, why = False, f": {self.target.scrub(str(exc)).splitlines()[0].rsplit(': ', 1)[-1]}"
            else:
                why = ""
        if not still:
            raise CatalogLockLost(
                f"lost the lake's catalog lock \"{self.name}\" (the catalog {self.target.catalog} restarted, or "
                f"the connection to it dropped{why}): another process may hold it now, so this transaction was "
                "rolled back; the next run redoes the work")

    def release(self) -> None:
        with self._using:
            if self.held:
                self.held = False
                _HELD.discard(self)
                try:
                    self.con.execute("ROLLBACK")   # ends the catalog transaction: the lock goes with it
                except duckdb.Error:
                    pass   # the session is gone (a restarted catalog), and the lock with it

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.con.close()


_HELD: weakref.WeakSet[CatalogLock] = weakref.WeakSet()   # the locks this process holds now


def verify_held_locks() -> None:
    """CatalogLockLost if any lock this process holds was lost (CatalogLock.verify): before a lake COMMIT."""
    for lock in list(_HELD):
        lock.verify()


def shard_lock_key(shard: tuple[int, int]) -> int:
    """The second key of shard K/N's own run lock (two runs of one shard never overlap)."""
    return SHARD_KEYS + zlib.crc32(f"{shard[0]}/{shard[1]}".encode()) % SHARD_KEYS


@contextmanager
def catalog_lock(target: LakeTarget, name: str, *, timeout: float, shared: bool = False,
                 key: int | None = None) -> Iterator[None]:
    """Hold balkanwatch's advisory lock `name` in the lake's catalog for the block (CatalogLock)."""
    lock = CatalogLock(target, name, key=key)
    try:
        lock.acquire(timeout=timeout, shared=shared)
        yield
    finally:
        lock.close()


def _got(con: duckdb.DuckDBPyConnection, ask: str) -> bool:
    row = con.execute(ask).fetchone()
    return bool(row and row[0])
