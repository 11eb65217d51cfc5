"""`Warehouse`: the one class that talks to DuckDB.

Writers hold an exclusive file lock (`<db>.lock`) for the length of a `with Warehouse.open(...)` block and
keep those blocks short (plan, load one source, finish), so readers such as `balkanwatch sql` are never
locked out for a whole run. Every duckdb.Error is wrapped in WarehouseError with the cause kept.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import duckdb
import numpy as np
import pyarrow as pa

from balkanwatch.dedupe import (
    Headline,
    WindowColumns,
    exact_keys,
    headline,
    key_hashes,
    story_time,
)
from balkanwatch.errors import QueryTimeoutError, WarehouseError, WarehouseInUseError
from balkanwatch.health import (
    BURST_WINDOW_HOURS,
    FTS_SEGMENT_ARTICLES,
    RATE_WINDOW_DAYS,
    SILENCE_MIN_ITEMS,
    SILENCE_WINDOW_DAYS,
    Publication,
)
from balkanwatch.models import FROM_LISTING_SQL, ExtractedArticle, SourceOutcome
from balkanwatch.search_syntax import SearchQuery, excerpt, parse_search
from balkanwatch.textnorm import fold, fold_sql
from balkanwatch.urls import publisher_of
from warehouse import lake_search
from warehouse.base import utc_naive
from warehouse.cleaning import CleaningMixin
from warehouse.lake import (
    ANALYST_STREAM_BUFFER,
    CatalogLock,
    LakeTarget,
    Snapshot,
    catalog_lock,
    check_analyst_sql,
    connect_lake,
    lake_schema,
    shard_lock_key,
    verify_held_locks,
)
from warehouse.lake_search import INDEX_VERSION, fts_options, scan_pattern, stopwords_table
from warehouse.locks import file_lock
from warehouse.monitoring import MonitoringMixin
from warehouse.upkeep import UpkeepMixin

if TYPE_CHECKING:
    from balkanwatch.config import Config

SCHEMA_VERSION = 19
# A statement that writes (or runs DuckLake's maintenance): outside a transaction it commits itself, so on a
# lake it is preceded by the check a COMMIT gets (lake.verify_held_locks)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|MERGE|CALL)\b", re.IGNORECASE)
WRITER_THREADS = 1      # DuckDB threads of a writing connection (see _connect)
MAX_ITEM_ATTEMPTS = 3   # a listed page that failed this often is not fetched again (the row says why)
FTS_FIELDS = ("title", "text")
# The full-text index is built over the articles' folded title and text (textnorm.fold_sql: Serbian Cyrillic
# → Latin, diacritics, case), copied into this table for the build and emptied after it: "Zvecan" finds
# Zvečan and Звечан, as watchlists do. Its own schema keeps it out of the warehouse's tables (`main`); the
# index is the schema fts_search_words. A search word also matches the longer words it begins
# (lake_search.expanded).
SEARCH_TABLE = "search.words"
FOLDED_FTS_FIELDS = ", ".join(f"{fold_sql(f)} AS {f}" for f in FTS_FIELDS)   # the copy's columns, folded
SEARCH_STOPWORDS_TABLE = "search.stopwords"
SEARCH_INFO = "search.index_info"   # the rules the index was built by (lake_search.INDEX_VERSION)
FTS_SCHEMA = "fts_search_words"
# The recent index (session 42): DuckDB's FTS index is built whole, ~1.3 ms an article of real length, so
# articles that came after the whole index get an index of their own, rebuilt alone (`rebuild_recent_fts`)
# while they are few against the whole one (health.fts_refresh); a search asks both (`_ranked`). Emptied and
# dropped by every whole rebuild.
RECENT_TABLE = "search.recent"
RECENT_INFO = "search.recent_info"
RECENT_SCHEMA = "fts_search_recent"
# Segments (session 43): a file's whole index is several FTS indexes of at most health.FTS_SEGMENT_ARTICLES
# articles each, segment 0 over SEARCH_TABLE (FTS_SCHEMA), segment k over f"{SEARCH_TABLE}_{k}"
# (f"{FTS_SCHEMA}_{k}"), so that folding new articles in rebuilds one segment, not every article
# (`seal_fts`); a search scores them together as it scores the recent index with them. SEARCH_KEYS says which
# segment indexed each article and at which title and text (`_indexed_key`), so that an article whose text
# changed since (revised, cleaned of newly learned boilerplate) is known stale and indexed again.
SEARCH_KEYS = "search.indexed"
SEARCH_KEYS_COLUMNS = "(article_id VARCHAR, segment INTEGER, key UBIGINT)"
# Session 44: the recent index records what it indexed too, as this segment number, and also holds the stale
# articles (their current title and text); a search scores them there only (`lake_search.bm25_sql`'s
# `shadowing`), so that a revised article is found by its new words from the run that changed it, not at the
# fold (a lake's local index files keep the same keys: `_search_keys`).
RECENT_SEGMENT = -1


def _indexed_key(alias: str = "") -> str:
    """SQL of an article's (`alias`, when given) title and text, as SEARCH_KEYS records them: one hash."""
    at = f"{alias}." if alias else ""
    return f"hash(coalesce({at}title, ''), {at}content_hash)"


# `search --topic`: an article (of `articles`, unaliased) of a story one of the topics (a list, given twice)
# matched, as `stories --topic` counts a story (any of its copies matched), or one they matched itself (loaded,
# not yet given a story).
_OF_TOPICS = """(article_id IN (SELECT article_id FROM mentions WHERE list_contains(?, watchlist))
                 OR story_id IN (SELECT t.story_id FROM mentions m JOIN articles t USING (article_id)
                                 WHERE list_contains(?, m.watchlist) AND t.story_id IS NOT NULL))"""
# How often a session waiting for a DuckDB file that another program has open tries again (_connect).
IN_USE_POLL_SECONDS = 0.25
# DuckDB's words when another process has the file open (its own lock, not ours): the program and its PID.
_FOREIGN_LOCK = "Could not set lock on file"
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
logger = logging.getLogger(__name__)


def _absent_from(table: str) -> str:
    """SQL condition: batch row `b` holds an article `table` does not have yet. The per-article tables have no
    primary key (schema v7), so inserts are idempotent by this anti-join; writers hold the warehouse lock."""
    return f"NOT EXISTS (SELECT 1 FROM {table} t WHERE t.article_id = b.article_id)"


def _segment_table(k: int) -> str:
    """The table of a file's index segment k (its FTS schema: `_segment_schema`)."""
    return SEARCH_TABLE if k == 0 else f"{SEARCH_TABLE}_{k}"


def _segment_schema(k: int) -> str:
    return FTS_SCHEMA if k == 0 else f"{FTS_SCHEMA}_{k}"


def _segment_number(schema: str) -> int:
    return 0 if schema == FTS_SCHEMA else int(schema.rsplit("_", 1)[1])


def fts_extension_path() -> str:
    """The FTS extension shipped by the duckdb-extension-fts wheel (no download at run time)."""
    import duckdb_extension_fts

    base = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    return str(base / "fts.duckdb_extension")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def foreign_holder(exc: BaseException) -> str | None:
    """The program holding DuckDB's own lock on the file, as DuckDB names it ("…/python3.11, PID 27555"), when
    `exc` is DuckDB refusing to open a file another process has open; None for any other error."""
    text = str(exc)
    if _FOREIGN_LOCK not in text:
        return None
    found = _HOLDER.search(text)
    return f"{found['program']}, PID {found['pid']}" if found else "a program DuckDB does not name"


def _io_hint(exc: BaseException) -> str:
    """A word for the user when DuckDB could not write its files (the run is rolled back; nothing is lost)."""
    text = str(exc)
    if any(w in text for w in ("Could not write", "No space left", "File too large", "Read-only", "read-only",
                               "Permission denied", "Operation not permitted")):
        return " (disk full or file not writable? the last transaction was rolled back; re-run when fixed)"
    return ""


@dataclass(frozen=True)
class Schedule:
    """When to poll a source next and what its publication history says (flows/ingest.py decides it)."""

    next_poll_at: datetime
    interval_minutes: float
    usual_gap_minutes: float | None
    silent: bool
    ttl_minutes: float | None = None   # the feed's RSS <ttl> when this poll parsed it (else the stored one stays)


@dataclass(frozen=True)
class SourceState:
    """A source row as the planner needs it."""

    name: str
    kind: str
    location: str
    poll_minutes: float
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    next_poll_at: datetime | None
    interval_minutes: float | None = None   # the adapted interval (None before the first successful poll)
    ttl_minutes: float | None = None        # the feed's last RSS <ttl>

    @property
    def current_minutes(self) -> float:
        return self.interval_minutes or self.poll_minutes


@dataclass(frozen=True)
class PolledSource:
    """One source's poll as a load stores it: what it brought, and its health as the flow decided it
    (balkanwatch.health.next_poll). A schedule given to `record_polls` overrides `next_poll_at`."""

    outcome: SourceOutcome
    at: datetime                    # when the poll ended: the health columns' time
    next_poll_at: datetime          # the plain interval after a success, the backoff after a failure
    failures: int                   # consecutive failures after this poll
    failed_items: Sequence[tuple[str, str, str, str]] = ()   # (article_id, url, error, kind)
    loaded_before: int = 0          # its new articles already committed in chunks (earlier `record_polls`)


# What `record_polls` asks the flow inside its transaction: the schedules of the sources that answered,
# from their publication histories (their new articles included). Called again if the write is redone.
Planner = Callable[[dict[str, Publication]], dict[str, Schedule]]


ARTICLE_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("url", pa.string()), ("canonical_url", pa.string()),
    ("final_url", pa.string()), ("source", pa.string()), ("feed_guid", pa.string()), ("title", pa.string()),
    ("author", pa.string()), ("published_at", pa.timestamp("us")), ("published_from", pa.string()),
    ("fetched_at", pa.timestamp("us")), ("language", pa.string()), ("site_name", pa.string()),
    ("text", pa.string()), ("content_hash", pa.string()), ("extractor_version", pa.string()),
    ("run_id", pa.string()), ("repeated_paragraphs", pa.int32()), ("listed_updated_at", pa.timestamp("us")),
    ("revision", pa.int32()), ("publisher", pa.string()), ("text_from", pa.string()),
])
RAW_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("url", pa.string()), ("final_url", pa.string()),
    ("fetched_at", pa.timestamp("us")), ("encoding", pa.string()), ("html_zlib", pa.binary()),
    ("bytes", pa.int32()),
])
FETCH_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("source", pa.string()), ("url", pa.string()), ("final_url", pa.string()),
    ("status", pa.int32()), ("started_at", pa.timestamp("us")), ("elapsed_ms", pa.float64()),
    ("bytes", pa.int64()), ("not_modified", pa.bool_()), ("error", pa.string()), ("error_kind", pa.string()),
])

FAILED_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("source", pa.string()), ("url", pa.string()), ("error", pa.string()),
    ("error_kind", pa.string()), ("last_tried_at", pa.timestamp("us")),
])
POLLED_SCHEMA = pa.schema([
    ("name", pa.string()), ("ok", pa.bool_()), ("at", pa.timestamp("us")), ("failures", pa.int32()),
    ("next_poll_at", pa.timestamp("us")), ("warning", pa.string()), ("etag", pa.string()),
    ("last_modified", pa.string()), ("body_hash", pa.string()), ("new", pa.int64()), ("error", pa.string()),
    ("error_kind", pa.string()), ("planned", pa.bool_()), ("interval_minutes", pa.float64()),
    ("usual_gap_minutes", pa.float64()), ("silent", pa.bool_()), ("ttl_minutes", pa.float64()),
])
# Health and schedule of polled sources (`polled`: Warehouse._polled_table), one statement for any number.
# Answered: attempt and success times, failures reset, warning, conditional-GET validators (kept when this
# poll sent none), last new item. Failed: attempt time, failures, the error. Planned (answered, scheduled
# from the publication history): interval, usual gap, remembered <ttl>, and silent_since (kept while
# silent, set when it becomes silent, cleared when it publishes). next_poll_at: the schedule's, else the
# interval's or the backoff's.
_UPDATE_POLLED = """
UPDATE sources SET
  last_attempt_at = q.at, consecutive_failures = q.failures, next_poll_at = q.next_poll_at,
  last_success_at = CASE WHEN q.ok THEN q.at ELSE sources.last_success_at END,
  last_warning = CASE WHEN q.ok THEN q.warning ELSE sources.last_warning END,
  etag = coalesce(q.etag, sources.etag), last_modified = coalesce(q.last_modified, sources.last_modified),
  body_hash = coalesce(q.body_hash, sources.body_hash),
  last_new_item_at = CASE WHEN q.ok AND q.new > 0 THEN q.at ELSE sources.last_new_item_at END,
  last_error = CASE WHEN q.ok THEN sources.last_error ELSE q.error END,
  last_error_kind = CASE WHEN q.ok THEN sources.last_error_kind ELSE q.error_kind END,
  last_error_at = CASE WHEN q.ok THEN sources.last_error_at ELSE q.at END,
  interval_minutes = CASE WHEN q.planned THEN q.interval_minutes ELSE sources.interval_minutes END,
  usual_gap_minutes = coalesce(q.usual_gap_minutes, sources.usual_gap_minutes),
  ttl_minutes = coalesce(q.ttl_minutes, sources.ttl_minutes),
  silent_since = CASE WHEN NOT q.planned THEN sources.silent_since
                      WHEN q.silent THEN coalesce(sources.silent_since, q.at) END
FROM polled q WHERE sources.name = q.name"""


def _article_row(a: ExtractedArticle, run_id: str) -> dict[str, Any]:
    return {
        "article_id": a.article_id, "url": a.url, "canonical_url": a.canonical_url, "final_url": a.final_url,
        "source": a.source, "feed_guid": a.feed_guid, "title": a.title, "author": a.author,
        "published_at": utc_naive(a.published_at), "published_from": a.published_from,
        "fetched_at": utc_naive(a.fetched_at), "language": a.language, "site_name": a.site_name,
        "text": a.text, "content_hash": a.content_hash, "extractor_version": a.extractor_version, "run_id": run_id,
        "repeated_paragraphs": a.repeated_paragraphs, "listed_updated_at": utc_naive(a.listed_updated_at),
        "revision": 1, "publisher": publisher_of(a.final_url or a.url), "text_from": a.text_from,
    }


CONFLICT_RETRIES = 5          # a write the lake refused for a concurrent writer's commit is redone this often…
CONFLICT_BACKOFF_SECONDS = 0.05  # …after 0.05, 0.1, 0.2, 0.4, 0.8 s (± a random half): then the error stands

_Method = TypeVar("_Method", bound=Callable[..., Any])
_Result = TypeVar("_Result")
# An article's time for `search --since`: when it was published, or fetched when that is unknown or later
# (a date in the future), as dedupe.story_time dates a story.
ARTICLE_TIME = "least(coalesce(published_at, fetched_at), fetched_at)"
SEARCH_CANDIDATES = 10_000   # ranked articles a search checks at most against its phrases and exclusions
QUERY_BATCH_ROWS = 256    # rows of an analyst's result in memory at once (query_into): a few MB of article texts
QUERY_POLL_SECONDS = 0.1   # how often the thread waiting for a query (Warehouse.interruptible) looks up


def _is_conflict(exc: BaseException) -> bool:
    """A lake commit refused because another writer's commit touched the same data (DuckLake does not retry
    these itself: 'Transaction conflict - …'). Our writes are idempotent, so redoing one is safe."""
    cause = exc.__cause__ if isinstance(exc, WarehouseError) else exc
    return isinstance(cause, duckdb.TransactionException) and "conflict" in str(cause).lower()


def retry_conflicts(method: _Method) -> _Method:
    """Redo a Warehouse write method from the start (a new transaction, a new snapshot) when the lake
    refused its commit for a conflict, with exponential backoff and jitter; CONFLICT_RETRIES at most."""
    @functools.wraps(method)
    def redo(self: Warehouse, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return method(self, *args, **kwargs)
            except WarehouseError as exc:
                if self.lake is None or self._held or not _is_conflict(exc) or attempt == CONFLICT_RETRIES:
                    raise
                time.sleep(CONFLICT_BACKOFF_SECONDS * 2 ** attempt * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")
    return cast(_Method, redo)


@contextmanager
def _shard_run_lock(target: LakeTarget, shard: tuple[int, int], timeout: float) -> Iterator[None]:
    """A load-only shard run on a lake: "ingest run" shared with the other shards, its shard's lock alone."""
    with catalog_lock(target, "ingest run", timeout=timeout, shared=True), \
            catalog_lock(target, "ingest run", timeout=timeout, key=shard_lock_key(shard)):
        yield


class Warehouse(CleaningMixin, MonitoringMixin, UpkeepMixin):
    """Owns one DuckDB file. Use `Warehouse.open(path)` (writer) or `Warehouse.open(path, read_only=True)`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool, *,
                 lake: LakeTarget | None = None, write_lock: CatalogLock | None = None,
                 lock_timeout: float = 600.0) -> None:
        self.con, self.path, self.read_only, self.lake = con, path, read_only, lake
        # A lake's loading session (a shard run's): no writer lock for the session, the catalog's writer
        # lock around each transaction instead (open_lake). None: the session holds its lock throughout.
        self._write_lock, self._lock_timeout, self._held = write_lock, lock_timeout, 0
        self._in_transaction = False   # inside `transaction()` (its COMMIT checks the lake's locks, _exec need not)
        self._lake_indexed: pa.Table | None = None   # ids in a lake's local search index, read once a session
        self._lake_recent_held = 0                   # how many of them its recent index holds (when read)

    @property
    def where(self) -> str:
        """The warehouse in words, for messages: the file, or the lake's data path."""
        return f"lake {self.lake.data_path}" if self.lake else str(self.path)

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def for_config(cls, config: Config, *, read_only: bool = False,
                   loading: bool = False, as_of: Snapshot | None = None,
                   lock_timeout: float | None = None) -> AbstractContextManager[Warehouse]:
        """The configured warehouse (`warehouse.backend`): the DuckDB file, or the DuckLake lake; a lake read
        `as_of` a snapshot (a time or a snapshot id) shows it as it was then (read-only).
        `loading`: a shard run's session, which only appends what it polled (on a lake it shares the
        lake with other loading sessions; on a file it is an ordinary writer). `lock_timeout`: how long to
        wait for the file (`warehouse.lock_timeout` unless given; 0 for a caller that waits its own way)."""
        if config.warehouse.backend == "ducklake":
            return cls.open_lake(LakeTarget.from_config(config), read_only=read_only or as_of is not None,
                                 loading=loading, lock_timeout=config.warehouse.lock_timeout, as_of=as_of)
        if as_of is not None:
            raise WarehouseError("time travel (--as-of, --version) needs the DuckLake backend: a DuckDB file keeps "
                                 "no snapshots (warehouse.backend)")
        return cls.open(config.warehouse_path, read_only=read_only,
                        lock_timeout=config.warehouse.lock_timeout if lock_timeout is None else lock_timeout)

    @staticmethod
    def check_exists(config: Config) -> None:
        """WarehouseError when the configured DuckDB file does not exist, for a command that works on what
        ingest stored (`alert`, `settle`, `rematch`, …): opened as a writer, a mistyped or relative
        warehouse.path would otherwise become a new, empty warehouse and the command report on nothing.
        A lake is made by `warehouse init`; an empty one is told apart by its readers."""
        if config.warehouse.backend != "ducklake" and not config.warehouse_path.exists():
            where = f" (warehouse.path in {config.path})" if config.path else ""
            raise WarehouseError(f"no warehouse at {config.warehouse_path}{where}: run `balkanwatch ingest` first")

    @staticmethod
    def run_lock(config: Config, *, shard: tuple[int, int] | None = None, loading: bool = False,
                 timeout: float | None = None) -> AbstractContextManager[None]:
        """One ingest run at a time per warehouse: `<file>.ingest.lock` beside a file, the catalog's lock on a
        lake. On a lake, load-only runs of different shards run at once: each shares "ingest run" (so a full
        run or `settle` waits for all of them) and holds its shard's own lock alone. `timeout`: seconds to
        wait (warehouse.lock_timeout by default)."""
        timeout = config.warehouse.lock_timeout if timeout is None else timeout
        if config.warehouse.backend == "ducklake" and shard is not None and loading:
            return _shard_run_lock(LakeTarget.from_config(config), shard, timeout)
        return Warehouse._exclusive_lock(config, "ingest run", ".ingest.lock", timeout)

    @staticmethod
    def outbox_lock(config: Config, *, timeout: float | None = None) -> AbstractContextManager[None]:
        """One sender of the outbox at a time per warehouse (`<file>.outbox.lock` beside a file, the catalog's
        lock on a lake): an alerts cycle reads the pending messages, sends them and marks them under it, so
        two cycles (the ingest run's own and the alerts deployment's) never send one message twice."""
        return Warehouse._exclusive_lock(config, "outbox", ".outbox.lock",
                                         config.warehouse.lock_timeout if timeout is None else timeout)

    @staticmethod
    def lake_index_lock(config: Config, *, timeout: float) -> AbstractContextManager[None]:
        """One refresh of a lake's local search index at a time on this machine (`<index>.lock` beside the index
        file, which belongs to the machine, not the lake): held instead of the ingest run lock while ingest
        refreshes it (flows.ingest.refresh_lake_index)."""
        index = config.lake_search_index
        return file_lock(index.with_name(index.name + ".lock"), exclusive=True, timeout=timeout, what="search index")

    @staticmethod
    def _exclusive_lock(config: Config, name: str, suffix: str, timeout: float) -> AbstractContextManager[None]:
        """The warehouse's lock `name`, held alone: the catalog's advisory lock on a lake, a file lock on
        `<file><suffix>` beside a DuckDB file."""
        if config.warehouse.backend == "ducklake":
            return catalog_lock(LakeTarget.from_config(config), name, timeout=timeout)
        path = config.warehouse_path
        return file_lock(path.with_name(path.name + suffix), exclusive=True, timeout=timeout, what=name)

    @classmethod
    @contextmanager
    def open_lake(cls, target: LakeTarget, *, read_only: bool = False, loading: bool = False,
                  lock_timeout: float = 600.0, as_of: Snapshot | None = None) -> Iterator[Warehouse]:
        """Open a lake: a writer under the catalog's writer lock (one at a time, as on the file) and migrating;
        readers take no lock (DuckLake gives them a snapshot: the latest, or the one `as_of`) and get a
        sandboxed connection.

        A loading session (`loading`, a shard run's) holds the writer lock only around each of its
        transactions: shard runs fetch and extract at once and their commits take turns, each transaction
        starting after the previous writer's commit, so the anti-joins that keep an article once (the lake
        has no keys) see every other shard's rows."""
        shared = loading and not read_only
        guard = nullcontext() if read_only or shared else catalog_lock(target, "warehouse", timeout=lock_timeout)
        with guard:
            write_lock = CatalogLock(target, "warehouse") if shared else None
            try:
                con = connect_lake(target, read_only=read_only, threads=None if read_only else WRITER_THREADS,
                                   as_of=as_of)
            except BaseException:
                if write_lock is not None:
                    write_lock.close()
                raise
            wh = cls(con, Path(target.data_path), read_only, lake=target, write_lock=write_lock,
                     lock_timeout=lock_timeout)
            try:
                if not read_only:
                    with wh.holding_writer_lock():   # one migration, however many sessions open at once
                        wh.migrate()
                elif wh.version() == 0:
                    raise WarehouseError(f"no warehouse in {wh.where} (run `balkanwatch warehouse init` first)")
                yield wh
            finally:
                wh.con.close()
                if write_lock is not None:
                    write_lock.close()

    @classmethod
    @contextmanager
    def open(cls, path: str | Path, *, read_only: bool = False, lock_timeout: float = 600.0) -> Iterator[Warehouse]:
        """Open under the file lock; a writer also migrates. Readers get a sandboxed read-only connection."""
        path = Path(path)
        if read_only and not path.exists():
            raise WarehouseError(f"no warehouse at {path} (run `balkanwatch ingest` first)")
        lock = path.with_name(path.name + ".lock")
        with file_lock(lock, exclusive=not read_only, timeout=lock_timeout, what="warehouse"):
            wh = cls(cls._connect(path, read_only, wait=lock_timeout), path, read_only)
            try:
                if not read_only:
                    wh.migrate()
                yield wh
            finally:
                wh.con.close()

    @staticmethod
    def _connect(path: Path, read_only: bool, *, wait: float = 0.0) -> duckdb.DuckDBPyConnection:
        """A connection to the file. Another program that has it open (a notebook, the duckdb CLI, a SQL
        client) holds DuckDB's own lock, which ours cannot queue behind: wait up to `wait` seconds for it to
        let go, then WarehouseInUseError naming the program."""
        config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if not read_only:
            # Writers run beside the extraction processes, which own the cores; DuckDB's own thread pool
            # would only compete with them for our small batched writes.
            config["threads"] = WRITER_THREADS
        deadline, told = time.monotonic() + wait, False
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                try:
                    con = duckdb.connect(str(path), read_only=read_only, config=config)
                    break
                except duckdb.IOException as exc:
                    holder = foreign_holder(exc)
                    if holder is None:
                        raise
                    if time.monotonic() >= deadline:
                        raise WarehouseInUseError(str(path), holder, wait) from exc
                    if not told:
                        logger.warning("waiting up to %.0f s for the warehouse file %s: another program has it "
                                       "open (%s)", wait, path, holder)
                        told = True
                    time.sleep(IN_USE_POLL_SECONDS)
            if read_only:
                # Loaded up front only here (the sandbox below forbids loading later); writers load it on
                # demand in _load_fts, since it costs ~40 ms per open.
                con.execute(f"LOAD '{fts_extension_path()}'")
                # The analyst's SQL runs here: no file access, no ATTACH, no INSTALL, settings frozen.
                con.execute(f"SET streaming_buffer_size = '{ANALYST_STREAM_BUFFER}'")
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
            return con
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {exc}{_io_hint(exc)}") from exc
        except OSError as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc

    @contextmanager
    def holding_writer_lock(self) -> Iterator[None]:
        """The lake's writer lock for the block, in a loading session (re-entrant); nothing otherwise: every
        other writer holds it for its whole session."""
        if self._write_lock is None:
            yield
            return
        if self._held == 0:
            self._write_lock.acquire(timeout=self._lock_timeout)
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if self._held == 0:
                self._write_lock.release()

    @property
    def loading(self) -> bool:
        """A lake session that shares the lake with other shard runs' loads (open_lake)."""
        return self._write_lock is not None

    @contextmanager
    def transaction(self, *, verify_locks: bool = True) -> Iterator[None]:
        """One transaction (a loading session's under the writer lock). On a lake the COMMIT first checks that
        the catalog still holds this process's locks (lake.verify_held_locks); `verify_locks=False` only for
        a write that records a fact of the world and is idempotent (an e-mail sent)."""
        with self.holding_writer_lock(), self._transaction(verify_locks):
            yield

    @contextmanager
    def _transaction(self, verify_locks: bool = True) -> Iterator[None]:
        try:
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            yield
            if self.lake is not None and verify_locks:
                verify_held_locks()   # a restarted catalog dropped our locks while the lake reconnected (lake.py)
            self.con.execute("COMMIT")
        except BaseException as exc:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            if isinstance(exc, duckdb.Error):
                raise WarehouseError(f"warehouse write failed{_io_hint(exc)}: {self._said(exc)}") from exc
            raise
        finally:
            self._in_transaction = False

    @contextmanager
    def registered(self, **tables: pa.Table) -> Iterator[None]:
        """Arrow tables visible to this connection's SQL under these names for the block's duration (how
        batches and id lists go in: one column, not a Python list converted value by value)."""
        names: list[str] = []
        try:
            for name, table in tables.items():
                try:
                    self.con.register(name, table)
                except duckdb.Error as exc:
                    self._failed(exc)
                names.append(name)
            yield
        except BaseException:
            self._unregister(names, quiet=True)    # what failed in the block is the error to see
            raise
        self._unregister(names, quiet=False)

    @contextmanager
    def id_table(self, name: str, ids: Iterable[str], column: str = "id") -> Iterator[None]:
        """`ids` (strings) as the one-column table `name` for the block's SQL: `x IN (SELECT id FROM name)`.
        How id lists go in: a Python list bound as a parameter is converted value by value, ~0.1 ms each in
        duckdb 1.5.5 (without pandas installed each value costs a failed `import pandas`; 0.6 s for a batch of
        2,000 ids), a registered Arrow column at once (0.02 s)."""
        with self.registered(**{name: pa.table({column: pa.array(list(ids), pa.string())})}):
            yield

    def _unregister(self, names: Sequence[str], *, quiet: bool) -> None:
        """Drop registered Arrow tables. Each drop is a catalog change that commits by itself, so on a lake whose
        catalog went away it fails: a WarehouseError, as every statement's (none when `quiet`: another error
        is already on its way)."""
        for name in names:
            try:
                self.con.unregister(name)
            except duckdb.Error as exc:
                if not quiet:
                    self._failed(exc)

    def _failed(self, exc: duckdb.Error) -> NoReturn:
        """A statement outside `_exec` failed: on a lake whose catalog restarted, the lost lock says so (the
        run's work is rolled back and redone by the next run); else the error as `_exec` gives it."""
        if self.lake is not None and not self.read_only:
            verify_held_locks()
        raise self._error(exc) from exc

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        if self.lake is not None and not self.read_only and not self._in_transaction and _WRITE.match(sql):
            verify_held_locks()   # a write that commits itself: checked as a transaction's COMMIT is
        try:
            return self.con.execute(sql, params)
        except duckdb.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: duckdb.Error) -> WarehouseError:
        """A failed statement as the WarehouseError we raise: DuckDB's text with a hint. A reader that asked for
        a table or column the warehouse lacks, when the warehouse is older than this balkanwatch, is told so
        (what it asked for may be what a migration adds)."""
        if self.read_only and isinstance(exc, duckdb.CatalogException | duckdb.BinderException):
            try:
                have = self.version()
            except WarehouseError:
                have = SCHEMA_VERSION
            if 0 < have < SCHEMA_VERSION:
                return WarehouseError(
                    f"{self._said(exc).splitlines()[0]} ({self.where} is at schema version {have}, this balkanwatch "
                    f"at {SCHEMA_VERSION}: `balkanwatch warehouse init`, or the next ingest, migrates it)")
        return WarehouseError(f"{self._said(exc)}{self._hint(exc)}")

    def _hint(self, exc: BaseException) -> str:
        """`_io_hint`, except on a read-only session, where a write refused is the session, not the disk."""
        if self.read_only and "read-only" in str(exc):
            return " (a read-only session: `balkanwatch sql` reads the warehouse and cannot change it)"
        return _io_hint(exc)

    def _said(self, exc: BaseException) -> str:
        """A DuckDB error's text as we pass it on: on a lake scrubbed (no secret, the catalog as written)."""
        return self.lake.scrub(str(exc)) if self.lake is not None else str(exc)

    # -- schema ----------------------------------------------------------------------------------------
    def version(self) -> int:
        exists = self._exec("""SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'
                               AND table_catalog = current_database()""").fetchone()
        if not exists or not exists[0]:
            return 0
        row = self._exec("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    @staticmethod
    def migrations() -> list[tuple[int, str]]:
        """(version, sql) of every migration file, ascending."""
        folder = resources.files("warehouse") / "migrations"
        found = []
        for entry in folder.iterdir():
            if m := re.match(r"(\d{3})_.*\.sql$", entry.name):
                found.append((int(m.group(1)), entry.read_text(encoding="utf-8")))
        return sorted(found)

    def migrate(self) -> int:
        """Create the schema in a new file, or apply the missing migrations; returns the version."""
        current = self.version()
        if current == 0:
            with self.transaction():
                self.con.execute(self._ddl((resources.files("warehouse") / "schema.sql").read_text(encoding="utf-8")))
                self.con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, utcnow()])
            return SCHEMA_VERSION
        if current > SCHEMA_VERSION:
            raise WarehouseError(f"{self.where} has schema version {current}; this balkanwatch knows {SCHEMA_VERSION}")
        for version, sql in self.migrations():
            if current < version <= SCHEMA_VERSION:
                with self.transaction():
                    self.con.execute(self._ddl(sql))
                    self.con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utcnow()])
        return self.version()

    def _ddl(self, sql: str) -> str:
        """Schema SQL as this backend takes it (a lake has no keys or indexes: lake.lake_schema)."""
        return lake_schema(sql) if self.lake else sql

    # -- sources ---------------------------------------------------------------------------------------
    @retry_conflicts
    def sync_sources(self, sources: Sequence[Any], default_poll_minutes: float,
                     max_poll_minutes: float | None = None) -> None:
        """Make the sources table match the config (new rows added, settings updated, removed ones flagged; a
        source whose URL or kind changed starts afresh: due now, no validators, no failures). With
        `max_poll_minutes` (`ingest.max_poll_minutes`), a healthy source scheduled further out than that after
        its last poll (by a run under a larger bound) is brought forward to it: a lowered bound applies from the
        next run, not after the old schedule. Failing sources keep their backoff (and Retry-After)."""
        rows = pa.table({"name": pa.array([s.name for s in sources], pa.string()),
                         "kind": pa.array([s.fetch_kind for s in sources], pa.string()),
                         "location": pa.array([s.location for s in sources], pa.string()),
                         "language": pa.array([s.language or None for s in sources], pa.string()),
                         "country": pa.array([s.country or None for s in sources], pa.string()),
                         "source_type": pa.array([s.kind or None for s in sources], pa.string()),
                         "poll_minutes": pa.array([float(s.poll_minutes or default_poll_minutes) for s in sources],
                                                  pa.float64())})
        with self.transaction(), self.registered(configured=rows):   # one statement for any number of sources
            self.con.execute("UPDATE sources SET in_config = false")
            # A source given a new URL (or kind) is polled at once, as a new one: the old URL's validators,
            # <ttl> and failures (its backoff) do not carry over; its articles and publication history do.
            self.con.execute(
                """UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL, ttl_minutes = NULL,
                     consecutive_failures = 0, next_poll_at = NULL
                   FROM configured c WHERE sources.name = c.name
                     AND (sources.location IS DISTINCT FROM c.location OR sources.kind IS DISTINCT FROM c.kind)""")
            self.con.execute(   # MERGE, not ON CONFLICT: the same statement runs on a lake (no keys there)
                """MERGE INTO sources USING configured c ON sources.name = c.name
                   WHEN MATCHED THEN UPDATE SET kind = c.kind, location = c.location, language = c.language,
                     country = c.country, source_type = c.source_type, poll_minutes = c.poll_minutes, in_config = true
                   WHEN NOT MATCHED THEN INSERT (name, kind, location, language, country, source_type, poll_minutes,
                     in_config) VALUES (c.name, c.kind, c.location, c.language, c.country, c.source_type,
                     c.poll_minutes, true)""")
            if max_poll_minutes is not None:
                bound = "last_attempt_at + to_seconds(CAST(? AS DOUBLE) * 60)"
                self.con.execute(
                    f"""UPDATE sources SET next_poll_at = {bound}, interval_minutes = least(interval_minutes, ?)
                        WHERE in_config AND consecutive_failures = 0 AND last_attempt_at IS NOT NULL
                          AND next_poll_at > {bound}""",
                    [max_poll_minutes, max_poll_minutes, max_poll_minutes])

    def source_states(self) -> dict[str, SourceState]:
        rows = self._exec(
            """SELECT name, kind, location, poll_minutes, etag, last_modified, body_hash,
                      consecutive_failures, next_poll_at, interval_minutes, ttl_minutes FROM sources WHERE in_config""").fetchall()
        return {r[0]: SourceState(*r) for r in rows}

    def publications(self, sources: Sequence[str], now: datetime) -> dict[str, Publication]:
        """When each source's items appeared (publication time, or first seen when undated or dated later):
        how many in the last RATE_WINDOW_DAYS, the newest, and the mean gap before it (balkanwatch/health.py).
        One query for any number of sources."""
        with self.id_table("wanted", sources, "source"):
            rows = self._exec(
                f"""WITH seen AS (SELECT source, least(coalesce(published_at, fetched_at), fetched_at) AS t
                                  FROM articles WHERE source IN (SELECT source FROM wanted)),
                         top AS (SELECT source, max(t) AS newest FROM seen GROUP BY source)
                    SELECT source, count(*) FILTER (WHERE t > ?::TIMESTAMP - INTERVAL {RATE_WINDOW_DAYS} DAY),
                           min(t) FILTER (WHERE t > ?::TIMESTAMP - INTERVAL {RATE_WINDOW_DAYS} DAY),
                           any_value(top.newest),
                           count(*) FILTER (WHERE t >= top.newest - INTERVAL {SILENCE_WINDOW_DAYS} DAY),
                           min(t) FILTER (WHERE t >= top.newest - INTERVAL {SILENCE_WINDOW_DAYS} DAY),
                           count(*) FILTER (WHERE t > ?::TIMESTAMP - INTERVAL {BURST_WINDOW_HOURS} HOUR),
                           min(t) FILTER (WHERE t > ?::TIMESTAMP - INTERVAL {BURST_WINDOW_HOURS} HOUR)
                    FROM seen JOIN top USING (source) GROUP BY source""",
                [utc_naive(now)] * 4).fetchall()
        out = {name: Publication(0, None, None, None) for name in sources}
        for source, recent, oldest_recent, newest, window, oldest_window, burst, oldest_burst in rows:
            gap = None
            if newest is not None and window >= SILENCE_MIN_ITEMS and oldest_window is not None:
                gap = (newest - oldest_window).total_seconds() / 60 / (window - 1) or None
            out[source] = Publication(int(recent or 0), oldest_recent, newest, gap, int(burst or 0), oldest_burst)
        return out

    @staticmethod
    def _fetch_table(fetches: Sequence[Any], run_id: str) -> pa.Table:
        return pa.Table.from_pylist(
            [{"run_id": run_id, "source": f.source, "url": f.url, "final_url": f.final_url, "status": f.status,
              "started_at": utc_naive(f.started_at), "elapsed_ms": f.elapsed_ms, "bytes": f.bytes,
              "not_modified": f.not_modified, "error": f.error, "error_kind": f.error_kind} for f in fetches],
            schema=FETCH_SCHEMA)

    def source_health(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM source_health ORDER BY in_config DESC, name")

    # -- items -----------------------------------------------------------------------------------------
    def texts_seen(self, source: str, hashes: Sequence[str]) -> set[str]:
        """Which of these content hashes an article of `source` already has."""
        if not hashes:
            return set()
        rows = self._exec("""SELECT DISTINCT content_hash FROM articles
                             WHERE source = ? AND list_contains(?, content_hash)""", [source, list(hashes)]).fetchall()
        return {r[0] for r in rows}

    def known_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these article ids are stored already, or failed too often to try again."""
        return set(self.known_items(ids))

    def known_items(self, ids: Sequence[str]) -> dict[str, datetime | None]:
        """Known ids → when the stored version last changed as far as listings told us (listing update time,
        else publication, else fetch time); ids that failed too often map to None (not fetched again, not
        even as revisions). The ids go in as one Arrow column (`id_table`)."""
        if not ids:
            return {}
        with self.id_table("listed_ids", ids, "article_id"):
            rows = self._exec(
                """SELECT l.article_id,
                          coalesce(a.listed_updated_at, greatest(a.published_at, a.fetched_at), a.fetched_at)
                   FROM listed_ids l LEFT JOIN articles a USING (article_id)
                   WHERE a.article_id IS NOT NULL OR l.article_id IN
                         (SELECT article_id FROM failed_items WHERE attempts >= ?)""",
                [MAX_ITEM_ATTEMPTS]).fetchall()
        return {art_id: when for art_id, when in rows}

    def aggregator_links(self, link_ids: Sequence[str]) -> dict[str, str]:
        """Stored resolutions: aggregator link id → the publisher's URL, for those of `link_ids` known."""
        if not link_ids:
            return {}
        with self.id_table("listed_links", link_ids, "link_id"):
            rows = self._exec("""SELECT link_id, any_value(publisher_url) FROM aggregator_links
                                 WHERE link_id IN (SELECT link_id FROM listed_links) GROUP BY link_id""").fetchall()
        return dict(rows)

    @retry_conflicts
    def record_aggregator_links(self, links: Sequence[tuple[str, str, str]], source: str) -> int:
        """Keep (link_id, link, publisher URL) resolutions of `source`'s items; the links' item errors go.
        Idempotent: a link stored already (another shard, a re-run) keeps its first row. Returns rows added."""
        first: dict[str, tuple[str, str, str]] = {}   # one row per link (no primary key, like articles)
        for row in links:
            first.setdefault(row[0], row)
        if not first:
            return 0
        batch = pa.table({"link_id": pa.array([r[0] for r in first.values()], pa.string()),
                          "link": pa.array([r[1] for r in first.values()], pa.string()),
                          "publisher_url": pa.array([r[2] for r in first.values()], pa.string())})
        with self.transaction(), self.registered(resolved_links=batch):
            added = self.con.execute(
                """INSERT INTO aggregator_links SELECT b.link_id, b.link, b.publisher_url, ?, ? FROM resolved_links b
                   WHERE NOT EXISTS (SELECT 1 FROM aggregator_links t WHERE t.link_id = b.link_id)""",
                [source, utcnow()]).fetchone()
            self.con.execute("DELETE FROM failed_items WHERE article_id IN (SELECT link_id FROM resolved_links)")
        return int(added[0]) if added else 0

    def stored_version(self, article_id: str) -> tuple[str, int] | None:
        """(content_hash, revision) of a stored article."""
        row = self._exec("SELECT content_hash, coalesce(revision, 1) FROM articles WHERE article_id = ?",
                         [article_id]).fetchone()
        return (row[0], int(row[1])) if row else None

    @retry_conflicts
    def record_revision(self, a: ExtractedArticle, revision: int) -> None:
        """Keep the stored text as revision `revision - 1` and make `a` the article (the run's cleaning step
        removes its boilerplate again: boilerplate_paragraphs = NULL asks for that)."""
        with self.transaction():
            self.con.execute("""INSERT INTO article_revisions SELECT article_id, coalesce(revision, 1),
                                coalesce(revised_at, fetched_at), title, content_hash, text FROM articles a
                                WHERE article_id = ? AND NOT EXISTS (SELECT 1 FROM article_revisions r
                                  WHERE r.article_id = a.article_id AND r.revision = coalesce(a.revision, 1))""",
                             [a.article_id])
            self.con.execute(
                """UPDATE articles SET title = ?, author = ?, text = ?, content_hash = ?, extractor_version = ?,
                   listed_updated_at = ?, revision = ?, revised_at = ?, boilerplate_paragraphs = NULL,
                   mentions_version = NULL, text_from = ? WHERE article_id = ?""",
                [a.title, a.author, a.text, a.content_hash, a.extractor_version, utc_naive(a.listed_updated_at), revision,
                 utc_naive(a.fetched_at), a.text_from, a.article_id])
            # the new page replaces the old one, or comes back if retention deleted it (warehouse.keep_raw_pages_days)
            self.con.execute("DELETE FROM raw_pages WHERE article_id = ?", [a.article_id])
            self.con.execute("""INSERT INTO raw_pages (article_id, url, final_url, fetched_at, encoding, html_zlib, bytes)
                                VALUES (?, ?, ?, ?, ?, ?, ?)""",
                             [a.article_id, a.url, a.final_url, utc_naive(a.fetched_at), a.encoding or "utf-8",
                              a.raw_html, a.raw_bytes])
            self.forget_key_hashes([a.article_id])

    @retry_conflicts
    def touch_listed(self, article_id: str, listed_updated_at: datetime | None) -> None:
        """A re-fetch found the same text: remember the listing's time so it is not fetched again."""
        with self.transaction():
            self._exec("UPDATE articles SET listed_updated_at = ? WHERE article_id = ?",
                       [utc_naive(listed_updated_at), article_id])

    # -- runs ------------------------------------------------------------------------------------------
    @retry_conflicts
    def start_run(self, run_id: str, flow_run_id: str | None) -> None:
        with self.transaction():
            # A run left 'running' by a killed process is marked crashed: the warehouse has only what it
            # committed. Not by a loading session: other shards' runs are running beside it (settle does it).
            if not self.loading:
                self.con.execute("UPDATE runs SET status = 'crashed' WHERE status = 'running'")
            self.con.execute("INSERT INTO runs (run_id, flow_run_id, started_at, status) VALUES (?, ?, ?, 'running')",
                             [run_id, flow_run_id, utcnow()])

    @retry_conflicts
    def mark_crashed_runs(self) -> int:
        """Runs left 'running' are crashed (call only while no run can be running: under the exclusive run lock)."""
        with self.transaction():
            row = self.con.execute("UPDATE runs SET status = 'crashed' WHERE status = 'running'").fetchone()
        return int(row[0]) if row else 0

    @retry_conflicts
    def finish_run(self, run_id: str, *, polled: int, failed: int, new_articles: int, item_errors: int) -> None:
        with self.transaction():
            self.con.execute(
                """UPDATE runs SET finished_at = ?, status = 'completed', sources_polled = ?, sources_failed = ?,
                   new_articles = ?, item_errors = ? WHERE run_id = ?""",
                [utcnow(), polled, failed, new_articles, item_errors, run_id])

    # -- loading ---------------------------------------------------------------------------------------
    def _insert_articles(self, arts: Sequence[ExtractedArticle], run_id: str) -> dict[str, int]:
        """Batched, idempotent insert of articles with their raw pages, sketches and paragraph signatures (in
        the caller's transaction), one statement per table whatever the number of articles or sources;
        returns the new articles per source."""
        if not arts:
            return {}
        first: dict[str, ExtractedArticle] = {}   # one row per article, the first copy (no primary key: schema v7)
        for a in arts:
            first.setdefault(a.article_id, a)
        arts = list(first.values())
        batch = pa.Table.from_pylist([_article_row(a, run_id) for a in arts], schema=ARTICLE_SCHEMA)
        raws = pa.Table.from_pylist(
            [{"article_id": a.article_id, "url": a.url, "final_url": a.final_url,
              "fetched_at": utc_naive(a.fetched_at), "encoding": a.encoding or "utf-8",
              "html_zlib": a.raw_html, "bytes": a.raw_bytes} for a in arts if a.raw_html], schema=RAW_SCHEMA)
        sketches = pa.table({
            "article_id": [a.article_id for a in arts],
            "story_time": pa.array([utc_naive(story_time(a.published_at, a.fetched_at)) for a in arts], pa.timestamp("us")),
            "hashes": pa.array([list(a.sketch) for a in arts], pa.list_(pa.uint32()))})
        with self.registered(new_articles_batch=batch, new_raw_batch=raws, new_sketch_batch=sketches):
            fresh = self.con.execute(f"""SELECT source, count(*) FROM new_articles_batch b
                                         WHERE {_absent_from('articles')} GROUP BY source""").fetchall()
            self.con.execute(f"INSERT INTO articles BY NAME SELECT * FROM new_articles_batch b WHERE {_absent_from('articles')}")
            self.con.execute(f"INSERT INTO raw_pages BY NAME SELECT * FROM new_raw_batch b WHERE {_absent_from('raw_pages')}")
            self.con.execute("DELETE FROM failed_items WHERE article_id IN (SELECT article_id FROM new_articles_batch)")
            self.con.execute(f"""INSERT INTO article_sketches BY NAME SELECT * FROM new_sketch_batch b
                                 WHERE {_absent_from('article_sketches')}""")
            self.record_signatures([(a.article_id, a.source, *sig) for a in arts for sig in a.signatures])
        return {source: int(n) for source, n in fresh}

    @retry_conflicts
    def load_articles(self, arts: Sequence[ExtractedArticle], run_id: str) -> int:
        """Commit articles in a transaction of their own (tests, benchmarks, history loads; an ingest hands a
        large source's chunks to `record_polls`); returns how many were new."""
        with self.transaction():
            return sum(self._insert_articles(arts, run_id).values())

    def record_outcome(self, outcome: SourceOutcome, run_id: str, *, now: datetime, next_poll_at: datetime,
                       failures: int, failed_items: Sequence[tuple[str, str, str, str]] = (),
                       loaded_before: int = 0) -> int:
        """Store one source's poll in one transaction (`record_polls` of one, its schedule left as it was):
        remaining articles, raw pages, fetch log, failures, health. `loaded_before` counts articles of this
        poll already committed by `load_articles`. Returns the number of articles that were new."""
        polled = PolledSource(outcome, now, next_poll_at, failures, failed_items, loaded_before)
        return self.record_polls([polled], run_id)[outcome.source]

    @retry_conflicts
    def record_polls(self, polls: Sequence[PolledSource], run_id: str, *, plan: Planner | None = None,
                     chunks: Sequence[ExtractedArticle] = ()) -> dict[str, int]:
        """Store the polls of many sources in one transaction, in a few set-based statements whatever their
        number (on a lake the cost goes with the statements, not the rows: docs/design.md, DuckLake): their
        articles (raw pages, sketches, signatures), fetch logs and failed items; then `plan` decides the
        schedules of those that answered from their publication histories, new articles included; then one
        UPDATE of `sources` sets health and schedule together. Without `plan` the stored interval, usual gap
        and silence stay. Returns the new articles per source (`loaded_before` included). Idempotent: known
        article ids are left untouched, and a redone write asks `plan` again. `chunks`: articles of sources
        still being polled (no health of theirs yet), inserted by the same statements; their new articles
        are in the result too (added to a poll's of the same source)."""
        if not polls and not chunks:
            return {}
        with self.transaction():
            fresh = self._insert_articles([*chunks, *(a for p in polls for a in p.outcome.articles)], run_id)
            new = fresh | {p.outcome.source: p.loaded_before + fresh.get(p.outcome.source, 0) for p in polls}
            if not polls:
                return new
            if fetches := [f for p in polls for f in p.outcome.fetches]:
                with self.registered(fetch_batch=self._fetch_table(fetches, run_id)):
                    self.con.execute("INSERT INTO fetches BY NAME SELECT * FROM fetch_batch")
            self._merge_failed_items(polls)
            answered = [p.outcome.source for p in polls if p.outcome.ok]
            now = max(p.at for p in polls)
            schedules = plan(self.publications(answered, now)) if plan is not None and answered else {}
            with self.registered(polled=self._polled_table(polls, new, schedules)):
                self.con.execute(_UPDATE_POLLED)
        return new

    def _merge_failed_items(self, polls: Sequence[PolledSource]) -> None:
        """Listed items that failed: a new row, or one more attempt on the stored one (one MERGE for all)."""
        rows = {art_id: {"article_id": art_id, "source": p.outcome.source, "url": url, "error": error,
                         "error_kind": kind, "last_tried_at": utc_naive(p.at)}
                for p in polls for art_id, url, error, kind in p.failed_items}   # one row per item (no key)
        if not rows:
            return
        table = pa.Table.from_pylist(list(rows.values()), schema=FAILED_SCHEMA)
        with self.registered(failed_batch=table):
            self.con.execute(
                """MERGE INTO failed_items USING failed_batch f ON failed_items.article_id = f.article_id
                   WHEN MATCHED THEN UPDATE SET error = f.error, error_kind = f.error_kind,
                     attempts = failed_items.attempts + 1, last_tried_at = f.last_tried_at
                   WHEN NOT MATCHED THEN INSERT VALUES (f.article_id, f.source, f.url, f.error, f.error_kind, 1,
                     f.last_tried_at)""")

    @staticmethod
    def _polled_table(polls: Sequence[PolledSource], new: dict[str, int], schedules: dict[str, Schedule]) -> pa.Table:
        """The `polled` relation of _UPDATE_POLLED: a row per source, its health and (when planned) schedule."""
        rows = []
        for p in polls:
            o, plan = p.outcome, schedules.get(p.outcome.source)
            rows.append({
                "name": o.source, "ok": o.ok, "at": utc_naive(p.at), "failures": p.failures,
                "next_poll_at": utc_naive(plan.next_poll_at if plan else p.next_poll_at),
                "warning": o.warning, "etag": o.etag, "last_modified": o.last_modified, "body_hash": o.body_hash,
                "new": new[o.source], "error": o.error, "error_kind": o.error_kind, "planned": plan is not None,
                "interval_minutes": plan.interval_minutes if plan else None,
                "usual_gap_minutes": plan.usual_gap_minutes if plan else None,
                "silent": plan.silent if plan else False, "ttl_minutes": plan.ttl_minutes if plan else None})
        return pa.Table.from_pylist(rows, schema=POLLED_SCHEMA)

    # -- stories ---------------------------------------------------------------------------------------
    _KEY_COLUMNS = "a.content_hash, a.url, a.final_url, a.canonical_url, a.source, a.feed_guid"

    @staticmethod
    def _keys(r: Sequence[Any]) -> tuple[str, ...]:
        return exact_keys(content_hash=r[0], urls=r[1:4], source=r[4], guid=r[5])

    def unassigned_articles(self) -> list[tuple[str, str, datetime, list[int] | None, tuple[str, ...], Headline]]:
        """(article_id, text, story time, sketch or None, exact keys, headline) of articles with no story yet,
        in story-time order. Articles loaded by ingest have their sketch already (made in the extraction
        workers); the text is read only for those that have none."""
        rows = self._exec(
            f"""SELECT a.article_id, CASE WHEN s.hashes IS NULL THEN a.text END, s.story_time, s.hashes,
                      a.published_at, a.fetched_at, a.publisher, a.title, {self._KEY_COLUMNS}
               FROM articles a LEFT JOIN article_sketches s USING (article_id)
               WHERE a.story_id IS NULL""").fetchall()
        out = [(r[0], r[1], r[2] if r[2] is not None else story_time(r[4], r[5]), r[3], self._keys(r[8:]),
                headline(r[6], r[7])) for r in rows]
        return sorted(out, key=lambda r: (r[2], r[0]))

    def story_sketches(self, since: datetime) -> Iterator[tuple[str, str, list[int], tuple[str, ...], Headline]]:
        """(article_id, story_id, hashes, exact keys, headline) of assigned articles whose story time is at or
        after `since`, oldest first (the order they were assigned in)."""
        cur = self._exec(
            f"""SELECT s.article_id, a.story_id, s.hashes, a.publisher, a.title, {self._KEY_COLUMNS}
               FROM article_sketches s JOIN articles a USING (article_id)
               WHERE s.story_time >= ? AND a.story_id IS NOT NULL ORDER BY s.story_time, s.article_id""", [since])
        while batch := cur.fetchmany(10_000):
            for r in batch:
                yield r[0], r[1], r[2], self._keys(r[5:]), headline(r[3], r[4])

    def story_window(self, since: datetime, until: datetime | None = None) -> WindowColumns:
        """Assigned articles whose story time is at or after `since` (and at or before `until`, when given),
        oldest first, as columns: a run's story index (`StoryIndex.add_columns`). Sketches and key hashes come
        as Arrow lists, straight into numpy; key hashes missing (a migrated warehouse, a text changed since)
        are derived and stored first."""
        self.fill_key_hashes(since, until)
        t = self._exec(
            """SELECT s.article_id, a.story_id, s.hashes, coalesce(s.key_hashes, []::UBIGINT[]) AS key_hashes,
                      a.publisher, a.title
               FROM article_sketches s JOIN articles a USING (article_id)
               WHERE s.story_time >= ? AND (CAST(? AS TIMESTAMP) IS NULL OR s.story_time <= ?)
                 AND a.story_id IS NOT NULL ORDER BY s.story_time, s.article_id""",
            [since, until, until]).to_arrow_table()

        def flat(column: str) -> tuple[np.ndarray, np.ndarray]:
            lists = t[column].combine_chunks() if t.num_rows else pa.array([], pa.list_(pa.uint64()))
            offsets = lists.offsets.to_numpy().astype(np.int64)
            return offsets - offsets[0], lists.flatten().to_numpy()

        hash_offsets, hashes = flat("hashes")
        key_offsets, keys = flat("key_hashes")
        return WindowColumns(t["article_id"].to_pylist(), t["story_id"].to_pylist(), hash_offsets, hashes,
                             key_offsets, keys, [p or None for p in t["publisher"].to_pylist()],
                             t["title"].to_pylist())

    def fill_key_hashes(self, since: datetime, until: datetime | None = None) -> int:
        """Derive and store the key hashes of assigned articles from `since` on (to `until`, when given) that have
        none; returns how many."""
        rows = self._exec(
            f"""SELECT a.article_id, {self._KEY_COLUMNS} FROM article_sketches s JOIN articles a USING (article_id)
                WHERE s.key_hashes IS NULL AND a.story_id IS NOT NULL AND s.story_time >= ?
                  AND (CAST(? AS TIMESTAMP) IS NULL OR s.story_time <= ?)""", [since, until, until]).fetchall()
        if rows:
            batch = pa.table({"article_id": [r[0] for r in rows],
                              "key_hashes": pa.array([key_hashes(self._keys(r[1:])) for r in rows],
                                                     pa.list_(pa.uint64()))})
            with self.registered(key_batch=batch), self.transaction():
                self.con.execute("""UPDATE article_sketches SET key_hashes = b.key_hashes FROM key_batch b
                                    WHERE article_sketches.article_id = b.article_id""")
        return len(rows)

    def forget_key_hashes(self, article_ids: Sequence[str]) -> None:
        """The exact keys of these articles may have changed (new text, new canonical URL): derive them again."""
        if article_ids:
            with self.id_table("changed_ids", article_ids, "article_id"):
                self._exec("""UPDATE article_sketches SET key_hashes = NULL
                              WHERE article_id IN (SELECT article_id FROM changed_ids)""")

    def record_stories(self, rows: Sequence[tuple[Any, datetime, Sequence[int], Sequence[str]]]) -> None:
        """Store (StoryAssignment, story_time, hashes, exact keys) rows and set articles.story_id, in one
        transaction."""
        if not rows:
            return
        now = utcnow()
        table = pa.table({
            "article_id": [a.article_id for a, *_ in rows], "story_id": [a.story_id for a, *_ in rows],
            "matched_article_id": [a.matched_article_id for a, *_ in rows],
            "jaccard": pa.array([a.jaccard for a, *_ in rows], pa.float64()),
            "containment": pa.array([a.containment for a, *_ in rows], pa.float64()),
            "rule": [a.rule for a, *_ in rows], "assigned_at": pa.array([now] * len(rows), pa.timestamp("us")),
            "story_time": pa.array([utc_naive(t) for _, t, _, _ in rows], pa.timestamp("us")),
            "hashes": pa.array([list(h) for _, _, h, _ in rows], pa.list_(pa.uint32())),
            "key_hashes": pa.array([key_hashes(k) for *_, k in rows], pa.list_(pa.uint64())),
        })
        with self.registered(story_batch=table), self.transaction():
            self.con.execute(f"""INSERT INTO article_sketches SELECT article_id, story_time, hashes, key_hashes
                                 FROM story_batch b WHERE {_absent_from('article_sketches')}""")
            self.con.execute("""UPDATE article_sketches SET key_hashes = b.key_hashes FROM story_batch b
                                WHERE article_sketches.article_id = b.article_id""")
            self.con.execute(f"""INSERT INTO story_assignments SELECT article_id, story_id, matched_article_id,
                                  jaccard, containment, rule, assigned_at FROM story_batch b
                                 WHERE {_absent_from('story_assignments')}""")
            self.con.execute("""UPDATE articles SET story_id = b.story_id FROM story_batch b
                                WHERE articles.article_id = b.article_id AND articles.story_id IS NULL""")

    # -- search and reading ----------------------------------------------------------------------------
    def _load_fts(self) -> None:
        if not self.read_only:
            self._exec(f"LOAD '{fts_extension_path()}'")

    SEGMENT_ARTICLES = FTS_SEGMENT_ARTICLES   # a file's index segment holds at most this many (tests make it small)

    def rebuild_fts(self) -> None:
        """Rebuild the BM25 index over title and text whole (DuckDB's FTS index does not update incrementally),
        and drop the recent index, whose articles it now holds. On a file the index is segments of at most
        FTS_SEGMENT_ARTICLES articles (in the order they were fetched). A lake's tables take no FTS index: its
        index is a local copy of them (warehouse/lake_search.py)."""
        if self.lake:
            copy = self._exec(f"SELECT article_id, {FOLDED_FTS_FIELDS}, {_indexed_key()} AS key FROM articles").to_arrow_table()
            lake_search.build_index(self._lake_index(), copy, FTS_FIELDS, fts_extension=fts_extension_path())
            lake_search.remove_index(self._lake_recent_index())
            self._lake_indexed = None
            if not self.read_only:   # a reader (an analyst's `reindex`) builds its machine's index all the same
                self.record_fts_build()
            return
        self._load_fts()
        with self.transaction():
            self.con.execute("CREATE SCHEMA IF NOT EXISTS search")
            stopwords_table(self.con, SEARCH_STOPWORDS_TABLE)
            for schema in self._segments()[1:]:
                self._drop_index(_segment_table(_segment_number(schema)), schema)
            self.con.execute(f"CREATE OR REPLACE TABLE {SEARCH_KEYS} {SEARCH_KEYS_COLUMNS}")
            self.con.execute(f"""CREATE OR REPLACE TEMP TABLE _segment_of AS SELECT article_id,
                                   (row_number() OVER (ORDER BY fetched_at, article_id) - 1) // {self.SEGMENT_ARTICLES}
                                   AS segment FROM articles""")
            row = self.con.execute("SELECT coalesce(max(segment), 0) FROM _segment_of").fetchone()
            for k in range(int(row[0]) + 1 if row else 1):
                self._build_index(_segment_table(k), f"article_id IN (SELECT article_id FROM _segment_of WHERE segment = {k})",
                                  segment=k)
            self.con.execute("DROP TABLE _segment_of")
            self.con.execute(f"CREATE OR REPLACE TABLE {SEARCH_INFO} AS SELECT {INDEX_VERSION} AS version")
            if self._has_schema("fts_main_articles"):          # the index over unfolded text, before session 32
                self.con.execute("PRAGMA drop_fts_index('articles')")
            self._drop_index(RECENT_TABLE, RECENT_SCHEMA, RECENT_INFO)
            self.record_fts_build()

    def _build_index(self, table: str, where: str, *, segment: int | None = None) -> int:
        """Copy the folded title and text of the articles `where` into `table` and build DuckDB's FTS index over
        it (replacing the one there), then empty the copy: the index keeps what it needs. A segment's
        (`segment` k) records what it indexed in SEARCH_KEYS, and is built even empty; the recent index
        (RECENT_SEGMENT) records it too; another index is not built for no article (nor its copy left), the
        recent one neither. Returns the articles indexed. Inside the caller's transaction."""
        fields = ", ".join(f"'{f}'" for f in FTS_FIELDS)
        self.con.execute(f"""CREATE OR REPLACE TABLE {table} AS SELECT article_id, {FOLDED_FTS_FIELDS}, {_indexed_key()} AS key
                             FROM articles WHERE {where}""")
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        held = int(row[0]) if row else 0
        if not held and (segment is None or segment == RECENT_SEGMENT):   # no index then (one built and dropped
                                                                           # in a transaction fails its commit)
            self.con.execute(f"DROP TABLE {table}")
            return 0
        self.con.execute(f"PRAGMA create_fts_index('{table}', 'article_id', {fields}, "
                         f"{fts_options(SEARCH_STOPWORDS_TABLE)})")
        if segment is not None:
            self.con.execute(f"DELETE FROM {SEARCH_KEYS} WHERE segment = ?", [segment])
            self.con.execute(f"INSERT INTO {SEARCH_KEYS} SELECT article_id, ?, key FROM {table}", [segment])
        self.con.execute(f"DELETE FROM {table}")
        return held

    def _drop_index(self, table: str, schema: str, info: str | None = None) -> None:
        if self._has_schema(schema):
            self.con.execute(f"PRAGMA drop_fts_index('{table}')")
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        if info:
            self.con.execute(f"DROP TABLE IF EXISTS {info}")

    def _segments(self) -> list[str]:
        """The FTS schemas of a file's index segments, segment 0 first ([]: no index)."""
        rows = self._exec("SELECT schema_name FROM duckdb_schemas() WHERE schema_name = ? OR regexp_full_match(schema_name, ?)",
                          [FTS_SCHEMA, re.escape(FTS_SCHEMA) + r"_\d+"]).fetchall()
        return sorted((r[0] for r in rows), key=_segment_number)

    @staticmethod
    def _in_any(schemas: Sequence[str]) -> str:
        """SQL of the article ids the FTS indexes `schemas` hold."""
        return " UNION ALL ".join(f"SELECT name FROM {s}.docs" for s in schemas)

    def seal_fts(self) -> int:
        """Fold what a file's index lacks (the recent index's articles, the unindexed) and what it holds stale (an
        article whose title or text changed since: revised, cleaned of boilerplate learned later) into its
        segments, rebuilding only those concerned: the last one when the new articles fit in it
        (FTS_SEGMENT_ARTICLES), new segments after it when they do not, and at most one other segment holding
        stale articles (the one holding most). The recent index is then rebuilt of the stale articles left
        in the other segments (dropped when there are none). Without an index of this version's rules, or on
        a lake (one index), rebuilds it whole. Returns the articles (re)indexed in the segments."""
        if self.lake or not self.has_fts():
            self.rebuild_fts()
            return self.fts_coverage()[0]
        self._load_fts()
        with self.transaction():
            segments = self._segments()
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {SEARCH_KEYS} {SEARCH_KEYS_COLUMNS}")
            last = _segment_number(segments[-1])
            held = self.con.execute(f"SELECT count(*) FROM {segments[-1]}.docs").fetchone()
            in_last = int(held[0]) if held else 0
            self.con.execute(f"""CREATE OR REPLACE TEMP TABLE _new AS SELECT article_id, row_number() OVER (
                                   ORDER BY fetched_at, article_id) - 1 AS n FROM articles
                                 WHERE article_id NOT IN ({self._in_any(segments)})""")
            row = self.con.execute("SELECT count(*) FROM _new").fetchone()
            new = int(row[0]) if row else 0
            stale = dict(self.con.execute(self._stale_sql("k.segment, count(*)", "GROUP BY k.segment")).fetchall())
            done = 0
            if new and in_last + new <= self.SEGMENT_ARTICLES:
                done += self._build_index(_segment_table(last), f"""article_id IN (SELECT name FROM {segments[-1]}.docs)
                                                                   OR article_id IN (SELECT article_id FROM _new)""",
                                          segment=last)
                stale.pop(last, None)
            elif new:
                for k in range(-(-new // self.SEGMENT_ARTICLES)):
                    done += self._build_index(_segment_table(last + 1 + k), f"""article_id IN (SELECT article_id
                                                FROM _new WHERE n // {self.SEGMENT_ARTICLES} = {k})""",
                                              segment=last + 1 + k)
            if stale:
                k = max(stale, key=lambda s: (stale[s], -s))
                done += self._build_index(_segment_table(k), f"article_id IN (SELECT name FROM {_segment_schema(k)}.docs)",
                                          segment=k)
            self.con.execute("DROP TABLE _new")
            if done:
                self._build_recent()   # what is left stale in the other segments, if any
                self.record_fts_build()
        return done

    @staticmethod
    def _stale_sql(select: str, tail: str = "", keys: str = SEARCH_KEYS) -> str:
        """SQL reading `keys` (SEARCH_KEYS, or a lake's `_search_keys`: `k`) rows of articles changed (or gone)
        since their segment (a lake's whole index) indexed them."""
        return f"""SELECT {select} FROM {keys} k LEFT JOIN articles a USING (article_id)
                   WHERE k.segment <> {RECENT_SEGMENT} AND (a.article_id IS NULL OR k.key <> {_indexed_key("a")}) {tail}"""

    def stale_fts_count(self) -> int:
        """Articles the index's segments (a lake's whole index) hold with an older title or text than they have
        now, or that are gone, and that the recent index does not hold (those count as its own): what a fold
        must index again besides the recent index and the unindexed."""
        with self._search_keys() as keys:
            if keys is None:
                return 0
            row = self._exec(self._stale_sql("count(*)", f"""AND k.article_id NOT IN (SELECT article_id FROM {keys}
                                                                 WHERE segment = {RECENT_SEGMENT})""", keys)).fetchone()
        return int(row[0]) if row else 0

    def outdated_fts_count(self) -> int:
        """Articles a search finds by older words than they have now: the index that holds them last (the
        recent one, else their segment or a lake's whole index) indexed an older title or text. The recent
        index's next rebuild (`rebuild_recent_fts`) takes them."""
        with self._search_keys() as keys:
            if keys is None:
                return 0
            row = self._exec(f"""WITH newest AS (SELECT article_id, arg_min(key, segment) AS key FROM {keys}
                                                  GROUP BY article_id)
                                 SELECT count(*) FROM newest JOIN articles a USING (article_id)
                                 WHERE newest.key <> {_indexed_key("a")}""").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _search_keys(self) -> Iterator[str | None]:
        """The table of what the index holds at which title and text ((article_id, segment, key) as SEARCH_KEYS;
        the recent index's rows as RECENT_SEGMENT): a file's SEARCH_KEYS, a lake's read from its local index
        files for the block (whole as segment 0); None without an index, or for a file's index from before
        session 43 (which recorded nothing). A lake's index from before session 44 has NULL keys: nothing
        stale."""
        if not self.has_fts():
            yield None
        elif not self.lake:
            yield SEARCH_KEYS if self._has_table(SEARCH_KEYS) else None
        else:
            recent = self._lake_recent_index()
            parts = []
            for path, segment in ((self._lake_index(), 0), *([(recent, RECENT_SEGMENT)] if recent.exists() else [])):
                keys = lake_search.indexed_keys(path, fts_extension=fts_extension_path())
                parts.append(keys.append_column("segment", pa.array([segment] * keys.num_rows, pa.int32())))
            with self.registered(lake_search_keys=pa.concat_tables(parts)):
                yield "lake_search_keys"

    def rebuild_recent_fts(self) -> int:
        """Index the articles the whole index lacks in the recent index (replacing it): the cost of the articles
        since the last whole rebuild, not of every article; also those the index holds stale (a file's
        segments, a lake's whole index), at their current title and text (a search scores them there only).
        Without a whole index of this version's rules, rebuilds it whole instead. Returns the articles the
        recent index holds."""
        if not self.has_fts():
            self.rebuild_fts()
            return 0
        if self.lake:
            main = lake_search.indexed_keys(self._lake_index(), fts_extension=fts_extension_path())
            with self.registered(lake_main_keys=main):
                copy = self._exec(f"""SELECT a.article_id, {FOLDED_FTS_FIELDS}, {_indexed_key("a")} AS key
                                      FROM articles a LEFT JOIN lake_main_keys m USING (article_id)
                                      WHERE m.article_id IS NULL OR m.key <> {_indexed_key("a")}""").to_arrow_table()
            if copy.num_rows:
                lake_search.build_index(self._lake_recent_index(), copy, FTS_FIELDS, fts_extension=fts_extension_path())
            else:
                lake_search.remove_index(self._lake_recent_index())
            self._lake_indexed = None
            return int(copy.num_rows)
        self._load_fts()
        with self.transaction():
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {SEARCH_KEYS} {SEARCH_KEYS_COLUMNS}")
            return self._build_recent()

    def _build_recent(self) -> int:
        """(Re)build a file's recent index, inside the caller's transaction (which made SEARCH_KEYS): the articles
        no segment holds, and the stale ones (`_stale_sql`) at their current title and text; dropped when
        there are none."""
        self._drop_index(RECENT_TABLE, RECENT_SCHEMA, RECENT_INFO)
        self.con.execute(f"DELETE FROM {SEARCH_KEYS} WHERE segment = {RECENT_SEGMENT}")
        held = self._build_index(RECENT_TABLE, f"""article_id NOT IN ({self._in_any(self._segments())})
                                                   OR article_id IN ({self._stale_sql('k.article_id')})""",
                                 segment=RECENT_SEGMENT)
        if held:
            self.con.execute(f"CREATE TABLE {RECENT_INFO} AS SELECT {INDEX_VERSION} AS version")
        return held

    def recent_fts_count(self) -> int:
        """How many articles the recent index holds (0: none)."""
        if self.lake:
            if self._lake_indexed is not None:    # read with the whole index's ids this session (`_unindexed`)
                return self._lake_recent_held
            recent = self._lake_recent_index()
            return lake_search.indexed_ids(recent, fts_extension=fts_extension_path()).num_rows if recent.exists() else 0
        if not (self.has_fts() and self._has_recent()):
            return 0
        row = self._exec(f"SELECT count(*) FROM {RECENT_SCHEMA}.docs").fetchone()
        return int(row[0]) if row else 0

    def _has_recent(self) -> bool:
        """A file's recent index exists, of this version's rules. Asked only beside a current whole index (the
        callers checked `has_fts`): a whole rebuild drops the recent index, and none is built without one."""
        return self._has_schema(RECENT_SCHEMA) and lake_search.index_current(self.con, RECENT_INFO)

    def _indexes(self) -> list[str]:
        """The FTS schemas of a file's index: its segments, then the recent index if there. Asked only beside a
        current index (the callers checked `has_fts`)."""
        return self._segments() + ([RECENT_SCHEMA] if self._has_recent() else [])

    def _lake_index(self) -> Path:
        assert self.lake is not None and self.lake.search_index is not None, "a lake opened with its search index"
        return self.lake.search_index

    def _lake_recent_index(self) -> Path:
        return lake_search.recent_path(self._lake_index())

    def has_fts(self) -> bool:
        """Whether a search index exists. A file's built by other rules than this version's (INDEX_VERSION)
        counts as none, as a lake's does (lake_search.indexed_ids): search scans every article until the next
        ingest or `reindex` rebuilds it."""
        if self.lake:
            return self._lake_index().exists()
        return self._has_schema(FTS_SCHEMA) and lake_search.index_current(self.con, SEARCH_INFO)

    def _has_table(self, name: str) -> bool:
        """Whether the table `schema.name` exists in the warehouse."""
        schema, table = name.split(".")
        row = self._exec("""SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()
                              AND schema_name = ? AND table_name = ?""", [schema, table]).fetchone()
        return bool(row and row[0])

    def _has_schema(self, name: str) -> bool:
        row = self._exec("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ?", [name]).fetchone()
        return bool(row and row[0])

    def _unindexed(self) -> str:
        """SQL predicate on articles: not (yet) in the full-text index (on a lake, its ids registered as
        `lake_indexed` for the session)."""
        if not self.has_fts():
            return "true"
        if not self.lake:
            return f"article_id NOT IN ({self._in_any(self._indexes())})"
        if self._lake_indexed is None:
            whole = lake_search.indexed_ids(self._lake_index(), fts_extension=fts_extension_path())
            recent = self._lake_recent_index()
            if recent.exists():
                recent_ids = lake_search.indexed_ids(recent, fts_extension=fts_extension_path())
                self._lake_indexed, self._lake_recent_held = pa.concat_tables([whole, recent_ids]), recent_ids.num_rows
            else:
                self._lake_indexed, self._lake_recent_held = whole, 0
            self.con.register("lake_indexed", self._lake_indexed)
        return "article_id NOT IN (SELECT article_id FROM lake_indexed)"

    def fts_coverage(self) -> tuple[int, int, datetime | None]:
        """(indexed articles, articles not yet in the index, fetch time of the oldest unindexed one)."""
        unindexed = self._unindexed()
        row = self._exec(f"""SELECT count(*) FILTER (WHERE NOT ({unindexed})), count(*) FILTER (WHERE {unindexed}),
                                    min(fetched_at) FILTER (WHERE {unindexed}) FROM articles""").fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), row[2]

    def record_fts_build(self) -> None:
        self._exec("INSERT INTO fts_builds SELECT ?, count(*) FROM articles", [utcnow()])

    def search(self, query: str, limit: int = 20, *, since: datetime | None = None,
               sources: Sequence[str] = (), topics: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Articles ranked by BM25 over their folded title and text (any script, with or without diacritics;
        a word also matches the longer words it begins: `lake_search.expanded`); articles newer than the
        index follow, matched by a plain scan for every folded query word (so search never misses what just
        landed). Quoted phrases must occur and `-terms` must not (`balkanwatch.search_syntax`): ranked
        articles are checked against them, the best SEARCH_CANDIDATES at most. `since`: only articles of that
        time or later (ARTICLE_TIME: published, or fetched when that is unknown or later); `sources`: only
        theirs; `topics`: only articles of stories any of these watchlists matched (`_OF_TOPICS`). On a file
        these are part of the ranking's SQL; on a lake (whose local index holds no times) ranked articles
        are checked against them as against phrases."""
        q = parse_search(query, since=utc_naive(since), sources=tuple(sources), topics=tuple(topics))
        return self._with_excerpts(q, self._search(q, limit))

    def _search(self, q: SearchQuery, limit: int) -> list[dict[str, Any]]:
        # the time and sources are in both finders' SQL, but for a lake's ranking (its local index holds none)
        ranked = self._checked(q, limit, self._ranked, where_in_sql=not self.lake)
        if len(ranked) >= limit:
            return ranked
        return ranked + self._checked(q, limit - len(ranked), self._fresh, where_in_sql=True)

    def _with_excerpts(self, q: SearchQuery, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`hits`, each with its `excerpt`: the sentence of its text that holds the most query words
        (search_syntax.excerpt)."""
        if not hits:
            return hits
        with self.id_table("hit_ids", (h["article_id"] for h in hits)):
            texts = dict(self._exec(
                "SELECT article_id, text FROM articles WHERE article_id IN (SELECT id FROM hit_ids)").fetchall())
        return [{**h, "excerpt": excerpt(texts.get(h["article_id"]) or "", q)} for h in hits]

    def search_stories(self, query: str, limit: int = 20, *, since: datetime | None = None,
                       sources: Sequence[str] = (), topics: Sequence[str] = ()) -> list[dict[str, Any]]:
        """`search` with one hit per story: each story's best hit (ranked before fresh, as `search` orders
        them), with the story's `story_id` and `copies` (its other articles, matched or not); an article
        not yet given a story (loaded, not settled) is its own. Hits are asked 4 times as many as still
        needed, then 4 times more, up to SEARCH_CANDIDATES: a story of 200 wire copies does not fill the list."""
        q = parse_search(query, since=utc_naive(since), sources=tuple(sources), topics=tuple(topics))
        asked = limit
        while True:
            hits = self._search(q, asked)
            stories = self._stories_of([h["article_id"] for h in hits])
            best: dict[str, dict[str, Any]] = {}
            for h in hits:
                story_id, copies = stories.get(h["article_id"], (None, 0))
                best.setdefault(story_id or h["article_id"], {**h, "story_id": story_id, "copies": copies})
            if len(best) >= limit or len(hits) < asked or asked >= SEARCH_CANDIDATES:
                return self._with_excerpts(q, list(best.values())[:limit])
            asked = min(asked * 4, SEARCH_CANDIDATES)

    def _stories_of(self, ids: list[str]) -> dict[str, tuple[str, int]]:
        """article_id → (story_id, the story's copies) for the articles of `ids` that have a story."""
        if not ids:
            return {}
        with self.id_table("hit_ids", ids):
            rows = self._exec(   # not the `stories` view: it aggregates every story of the warehouse
                """WITH hit AS (SELECT article_id, story_id FROM articles
                                WHERE article_id IN (SELECT id FROM hit_ids) AND story_id IS NOT NULL),
                        size AS (SELECT story_id, count(*) - 1 AS copies FROM articles
                                 WHERE story_id IN (SELECT story_id FROM hit) GROUP BY story_id)
                   SELECT h.article_id, h.story_id, s.copies FROM hit h JOIN size s USING (story_id)""").fetchall()
        return {aid: (story_id, int(copies)) for aid, story_id, copies in rows}

    def _checked(self, q: SearchQuery, limit: int, find: Callable[[SearchQuery, int], list[dict[str, Any]]], *,
                 where_in_sql: bool) -> list[dict[str, Any]]:
        """The first `limit` of `find`'s hits that meet the query's phrases, exclusions, time, sources and topics:
        `find` is asked for 4 times as many as still needed, then 4 times more, up to SEARCH_CANDIDATES. Hits
        are read back and checked only for what `find` could not keep to itself (SearchQuery.to_check): on a
        file, `--since` and `--source` alone cost no second read of every hit's text."""
        if not q.to_check(where_in_sql=where_in_sql):
            return find(q, limit)
        asked = min(limit * 4, SEARCH_CANDIDATES)
        while True:
            hits = find(q, asked)
            found = self._folded_texts([h["article_id"] for h in hits], q.topics)
            kept = [h for h in hits if q.keeps(*found.get(h["article_id"], ("", None, None, False)))]
            if len(kept) >= limit or len(hits) < asked or asked >= SEARCH_CANDIDATES:
                return kept[:limit]
            asked = min(asked * 4, SEARCH_CANDIDATES)

    def _folded_texts(self, ids: list[str], topics: Sequence[str] = ()) -> dict[str, tuple[str, str, datetime, bool]]:
        """article_id → (folded title and text, source, ARTICLE_TIME, whether a story of `topics` holds it:
        `_OF_TOPICS`) of the articles `ids`."""
        if not ids:
            return {}
        with self.id_table("hit_ids", ids):
            rows = self._exec(f"""SELECT article_id, title, text, source, {ARTICLE_TIME}, {_OF_TOPICS if topics else "true"}
                                  FROM articles WHERE article_id IN (SELECT id FROM hit_ids)""",
                              [list(topics)] * 2 if topics else None).fetchall()
        return {aid: (fold(f"{title or ''} {text or ''}"), source, time, bool(of_topics))
                for aid, title, text, source, time, of_topics in rows}

    @staticmethod
    def _where(q: SearchQuery) -> tuple[str, list[Any]]:
        """SQL predicate on articles (and its parameters) for the query's time, sources and topics."""
        sql: list[str] = ["true"]
        params: list[Any] = []
        if q.since is not None:
            sql.append(f"{ARTICLE_TIME} >= ?")
            params.append(q.since)
        if q.sources:
            sql.append("list_contains(?, source)")
            params.append(list(q.sources))
        if q.topics:
            sql.append(_OF_TOPICS)
            params += [list(q.topics)] * 2
        return " AND ".join(sql), params

    def _ranked(self, q: SearchQuery, limit: int) -> list[dict[str, Any]]:
        """search's BM25 part: the best `limit` indexed articles for the query's folded words (of its time
        and sources, on a file)."""
        if not self.has_fts():
            return []
        if self.lake:
            return self._lake_ranked(q.words, limit)
        self._load_fts()
        where, params = self._where(q)
        # an article is scored in one index, with the word statistics of all (lake_search.bm25_sql): in the
        # recent index when that holds it again (stale in its segment)
        indexes = self._indexes()
        shadowing = RECENT_SCHEMA if RECENT_SCHEMA in indexes else None
        return self.rows(
            f"""WITH scored AS ({lake_search.bm25_sql(indexes, shadowing=shadowing)})
                SELECT a.article_id, a.source, a.published_at, a.title, a.url, round(s.score, 3) AS score
                FROM scored s JOIN articles a USING (article_id) WHERE {where}
                ORDER BY s.score DESC, a.article_id LIMIT ?""",
            [lake_search.expanded_all(self.con, indexes, q.words), *params, limit])

    def _lake_ranked(self, words: str, limit: int) -> list[dict[str, Any]]:
        """search's BM25 part on a lake: ids and scores from the local indexes (whole and recent), the rows from
        the lake."""
        recent = self._lake_recent_index()
        best = lake_search.ranked(self._lake_index(), words, limit, fts_extension=fts_extension_path(),
                                  recent=recent if recent.exists() else None)
        with self.registered(lake_ranked=best):
            return self.rows(
                """SELECT a.article_id, a.source, a.published_at, a.title, a.url, round(r.score, 3) AS score
                   FROM lake_ranked r JOIN articles a USING (article_id) ORDER BY r.score DESC, r.article_id""")

    def _fresh(self, q: SearchQuery, limit: int) -> list[dict[str, Any]]:
        """search's plain scan: the newest `limit` articles not in the index (of the query's time and sources)
        holding every folded word, each matched at the start of a word as the index matches it
        (lake_search.scan_pattern). Before session 36 a word matched anywhere: "un" found "fun" and "until"."""
        folded = q.words.split()
        where, params = self._where(q)
        match = " AND ".join(["folded LIKE ? AND regexp_matches(folded, ?)"] * len(folded))
        return self.rows(
            f"""SELECT article_id, source, published_at, title, url, NULL AS score FROM (
                  SELECT *, {fold_sql("title || ' ' || text")} AS folded FROM articles
                  WHERE {self._unindexed()} AND {where})
                WHERE {match} ORDER BY published_at DESC NULLS LAST, article_id LIMIT ?""",
            [*params, *(p for w in folded for p in scan_pattern(w)), limit])

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cur = self._exec(sql, params)
        cols = [d[0] for d in cur.description or []]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def query(self, sql: str, *, timeout: float | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run an analyst's SQL (on a read-only, sandboxed connection when opened read-only), stopped by Ctrl-C
        and after `timeout` seconds (None or 0: no limit; `interruptible`): `query_into`'s result, whole."""
        cols: list[str] = []
        rows: list[tuple[Any, ...]] = []
        self.query_into(sql, cols.extend, rows.extend, timeout=timeout)
        return cols, rows

    def query_into(self, sql: str, columns: Callable[[list[str]], None], rows: Callable[[list[tuple[Any, ...]]], None],
                   *, timeout: float | None = None, batch: int = QUERY_BATCH_ROWS) -> int:
        """`query`, its result handed over `batch` rows at a time (`columns` first) instead of whole: what
        `balkanwatch sql` needs for a result larger than memory (every article's text). Returns the rows."""
        def run() -> int:
            if self.lake and self.read_only:
                check_analyst_sql(self.con, sql)
            cur = self._exec(sql)
            columns([d[0] for d in cur.description or []])
            count = 0
            while chunk := cur.fetchmany(batch):
                rows(chunk)
                count += len(chunk)
            return count
        return self.interruptible(run, timeout)

    def interruptible(self, work: Callable[[], _Result], timeout: float | None = None) -> _Result:
        """`work` (DuckDB calls on this session's connection) in a helper thread while this thread waits, so
        that Ctrl-C, and `timeout` seconds (None or 0: no limit), stop it with `con.interrupt()`. Run in this
        thread, DuckDB keeps it in C++ until the query ends, and Python's signal handlers only run between
        bytecodes: Ctrl-C did nothing to a long `balkanwatch sql`. On a DuckDB file a query keeps writers
        out while it runs, so `warehouse.query_timeout` bounds how long an analyst's query holds them."""
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, work()))
            except BaseException as exc:   # handed to the waiting thread, which raises it
                outcome.append((False, exc))

        worker = threading.Thread(target=run, name="warehouse-query", daemon=True)
        deadline = time.monotonic() + timeout if timeout else None
        worker.start()
        try:
            while worker.is_alive():
                worker.join(QUERY_POLL_SECONDS)   # Ctrl-C interrupts this wait
                if worker.is_alive() and deadline is not None and time.monotonic() >= deadline:
                    self.con.interrupt()
                    worker.join()
                    if not outcome[0][0]:
                        raise QueryTimeoutError(timeout or 0.0, file=self.lake is None) from outcome[0][1]
        except KeyboardInterrupt:
            self.con.interrupt()
            worker.join(5)
            raise
        done, value = outcome[0]
        if done:
            return cast(_Result, value)
        raise value

    def counts(self) -> dict[str, int]:
        return {t: int(self._exec(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]  # count(*) returns a row
                for t in ("sources", "articles", "raw_pages", "fetches", "runs", "failed_items")}

    def raw_page_ids(self, where_version_not: str | None = None) -> list[str]:
        """Ids of the articles with a stored raw page (optionally only stale extractions), in id order."""
        sql = "SELECT r.article_id FROM raw_pages r JOIN articles a USING (article_id)"
        params: list[Any] = []
        if where_version_not:
            sql += " WHERE a.extractor_version <> ?"
            params.append(where_version_not)
        return [r[0] for r in self._exec(sql + " ORDER BY r.article_id", params).fetchall()]

    def raw_pages(self, article_ids: Sequence[str]) -> list[tuple[str, str, str, str, bytes]]:
        """(article_id, source, url, encoding, html bytes) of these articles' stored pages, in id order. Asked
        for a batch at a time: a warehouse's raw pages do not fit in memory (~60 kB each compressed)."""
        with self.id_table("wanted_pages", article_ids, "article_id"):
            rows = self._exec("""SELECT a.article_id, a.source, a.url, r.encoding, r.html_zlib FROM raw_pages r
                                 JOIN articles a USING (article_id)
                                 WHERE r.article_id IN (SELECT article_id FROM wanted_pages)
                                 ORDER BY a.article_id""").fetchall()
        return [(art_id, source, url, enc, zlib.decompress(blob)) for art_id, source, url, enc, blob in rows]

    def articles_without_raw_page(self) -> int:
        """Articles whose raw page retention deleted (warehouse.keep_raw_pages_days): `reextract` cannot reach
        them (articles kept from the listing of a page refused to us never had one)."""
        return int(self._exec(f"""SELECT count(*) FROM articles a
                                 WHERE NOT EXISTS (SELECT 1 FROM raw_pages r WHERE r.article_id = a.article_id)
                                   AND NOT (a.text_from IN {FROM_LISTING_SQL} AND a.final_url IS NULL)"""
                              ).fetchone()[0])  # type: ignore[index]  # count(*) returns a row

    def update_extractions(self, arts: Sequence[ExtractedArticle]) -> int:
        """Replace extracted fields after `reextract`; ids, fetch times and feed dates (unless the page has one) stay."""
        with self.transaction():
            for a in arts:
                self.con.execute(
                    """UPDATE articles SET title = ?, author = ?, canonical_url = ?, language = ?, site_name = ?,
                       text = ?, content_hash = ?, extractor_version = ?, text_from = ?,
                       published_at = CASE WHEN ? = 'page' THEN ? ELSE published_at END,
                       published_from = CASE WHEN ? = 'page' THEN 'page' ELSE published_from END
                       WHERE article_id = ?""",
                    [a.title, a.author, a.canonical_url, a.language, a.site_name, a.text, a.content_hash,
                     a.extractor_version, a.text_from, a.published_from, utc_naive(a.published_at), a.published_from,
                     a.article_id])
            self.forget_key_hashes([a.article_id for a in arts])
        return len(arts)

    EXPORT_SKIPPED = ("raw_pages",    # the pages as fetched: large and binary (reextract reads them in place)
                      "story_words")  # a month of stories' word lists: a cache the alerts cycle rebuilds
    EXPORT_BATCH_ROWS = 10_000

    def export_parquet(self, folder: str | Path) -> list[Path]:
        """One Parquet file per table (raw pages excepted) and per view (`stories`, `topic_counts`, …, as they
        read now), all from one snapshot, each written a batch of rows at a time (a warehouse larger than
        memory exports) under a temporary name, then renamed: a file in `folder` is always a whole table."""
        import pyarrow.parquet as pq

        out = Path(folder)
        if out.exists() and not out.is_dir():
            raise WarehouseError(f"{out} is a file: export --parquet writes into a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot make the folder {out}: {exc}") from exc
        written = []
        self._exec("BEGIN TRANSACTION")   # one snapshot for every table (a lake's writers go on meanwhile)
        try:
            names = [r[0] for r in self._exec(
                """SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
                     AND schema_name = 'main'
                   UNION ALL
                   SELECT view_name FROM duckdb_views() WHERE database_name = current_database()
                     AND schema_name = 'main' AND NOT internal
                   ORDER BY 1""").fetchall() if r[0] not in self.EXPORT_SKIPPED]
            for name in names:
                target, part = out / f"{name}.parquet", out / f".{name}.parquet.part"
                reader = self._exec(f'SELECT * FROM "{name}"').to_arrow_reader(self.EXPORT_BATCH_ROWS)
                try:
                    with pq.ParquetWriter(part, reader.schema) as writer:
                        for batch in reader:
                            writer.write_batch(batch)
                except OSError as exc:
                    part.unlink(missing_ok=True)
                    raise WarehouseError(f"cannot write {target}: {exc}") from exc
                part.replace(target)
                written.append(target)
        finally:
            self._exec("ROLLBACK")
        return written

