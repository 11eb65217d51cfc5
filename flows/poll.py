"""Polling one source: listing → new items → pages → extraction. Plain async code, run by the ingest flow.

Nothing here decides policy (that is balkanwatch.health) or writes SQL (that is warehouse.Warehouse);
it only sequences the connectors and hands a `SourceOutcome` back.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from balkanwatch.aggregators import (
    canonical_target,
    consent_wall,
    google_news_article_page,
    google_news_batch_url,
    google_news_exchange_id,
    google_news_request,
    google_news_response_url,
    google_news_signature,
    publisher_link,
    refresh_target,
    script_redirect,
)
from balkanwatch.config import Config
from balkanwatch.errors import (
    AggregatorLinkError,
    BalkanwatchError,
    FetchError,
    HostBusyError,
    RobotsDisallowedError,
    WarehouseBusyError,
    WarehouseInUseError,
)
from balkanwatch.models import (
    FROM_LISTING,
    PAGE_DESCRIPTION,
    ExtractedArticle,
    FeedItem,
    FetchLog,
    FetchResult,
    ParsedListing,
    SourceOutcome,
)
from balkanwatch.templates import Template
from balkanwatch.urls import article_id
from connectors.extract import REFUSED_STATUSES, PageJob, listing_teaser, safe_extract
from connectors.feeds import parse_feed, parse_sitemap
from connectors.http import Fetcher
from connectors.listing import parse_listing
from warehouse import Warehouse
from warehouse.base import utc_naive
from warehouse.store import SourceState


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run, a plain logger outside (tests of the plain functions)."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("balkanwatch.ingest")


P = TypeVar("P")
KnownIds = Callable[[Sequence[str]], Awaitable[dict[str, datetime | None]]]   # id → stored "changed at"
LoadChunk = Callable[[Sequence[ExtractedArticle]], Awaitable[int]]   # → articles handed over (to the LoadQueue)
KnownLinks = Callable[[Sequence[str]], Awaitable[dict[str, str]]]   # aggregator link id → stored publisher URL
RecordLinks = Callable[[Sequence[tuple[str, str, str]], str], Awaitable[int]]   # (link id, link, URL), source
TextsSeen = Callable[[str, Sequence[str]], Awaitable[set[str]]]   # source, content hashes → those it has stored
INTERSTITIAL_TEXT = 500   # a small page forwarding by script with less text than this is not an article
LOAD_CHUNK = 50   # articles a large source hands to its batch's LoadQueue at a time while still being extracted


@dataclass(frozen=True)
class LoadLimits:
    """How long a batch's polled sources wait for their load transaction (LoadQueue): it commits once
    `articles` articles wait, or once the first source with something to store has waited `seconds`
    (0: at once), and when the batch ends. The bound on both a reader's wait for an article and on what a
    crash loses beyond the pages in flight."""

    articles: int
    seconds: float


# A DuckDB file commits each source as soon as it is done: a commit costs it a few milliseconds, and readers
# then see a source's articles when its poll ends (the behaviour before issue #16's batching).
FILE_LOAD = LoadLimits(articles=1, seconds=0.0)
# A lake's limits are settings (warehouse.load_articles / load_seconds, default 200 articles / 5 s): its commit
# costs ~10–25 ms per statement that writes (bench, docs/design.md: DuckLake), whatever its rows, so its
# sources are committed together, in one transaction of a few statements per table. Articles are visible at
# most load_seconds after their source's poll ended (+ the commit); 200 waiting articles hold ~10–20 MB (text
# and compressed page). A large source hands its articles to the same queue in chunks of LOAD_CHUNK meanwhile.
# A lake's read costs ~40 ms whatever its rows (known_items, bench/lake.py): a source's ask for its known ids
# waits up to warehouse.ask_window_seconds (default 0.05; measured: 60 sources in 6 queries, 2.5 s of reads →
# 0.3 s; 0 s: 24 queries) for the asks of other sources of its batch, to be answered by the same query.
# 0 on a file (a read there costs ~1 ms): the asks ready at the same moment still go together.


def lake_limits(config: Config) -> LoadLimits:
    """The lake's LoadLimits from its settings."""
    return LoadLimits(articles=config.warehouse.load_articles, seconds=config.warehouse.load_seconds)


PARENT_CHECK_SECONDS = 1.0   # how often a worker checks that the process that started it is still alive


def _exit_with_parent(parent: int) -> None:
    """A worker's initializer: exit once the run that started it is gone. A run killed with SIGKILL (or
    the OOM killer) cannot stop its pool, and a spawned worker never sees its call queue close (it holds
    the queue's write end too): without this it would wait for work forever, ~180 MB each."""
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _warm() -> str:
    """Import trafilatura and the chooser's second opinions in a worker ahead of the first page."""
    from connectors.extract import extractor_version
    from connectors.extractors import warm

    warm()
    return extractor_version()


# Worker pools kept for the next run in this process, by size: a process that runs ingest after ingest (a
# served deployment's in-process runs, the demo, a benchmark, the test suite) pays the spawn and the imports
# (~1.4 s of CPU a worker) once, not every run. Interpreter exit stops them (concurrent.futures joins them).
_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """This process's pool of `workers` extraction workers, started (and warmed) at the first call."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_exit_with_parent, initargs=(os.getpid(),))
            for _ in range(workers):
                pool.submit(_warm)
            _POOLS[workers] = pool
        return pool


def retire_pool(pool: ProcessPoolExecutor) -> None:
    """Forget a pool whose worker died (BrokenProcessPool): the next run starts a new one."""
    with _POOLS_LOCK:
        for size, known in list(_POOLS.items()):
            if known is pool:
                del _POOLS[size]
    pool.shutdown(wait=False, cancel_futures=True)


class Extractor:
    """Worker processes running trafilatura (CPU-bound; this process's `shared_pool`); `workers=0` extracts
    inline.

    The workers start when the first source lists new pages, not with the run: spawning two and importing
    trafilatura in them costs ~3 s of CPU, more than the rest of a cycle of 500 unchanged feeds (issue #15);
    they are then kept for the next run in the same process. The learned page templates are read at the first
    page too (`load_templates`, once): a run that extracts nothing never reads them."""

    def __init__(self, workers: int, agreement: bool = True,
                 load_templates: Callable[[], Awaitable[dict[str, Template]]] | None = None,
                 timeout: float = 0.0) -> None:
        self.workers = workers
        self.agreement = agreement   # ingest.extractor_agreement, set on every job it extracts
        self.timeout = timeout       # ingest.extract_timeout, likewise
        self.templates: dict[str, Template] = {}   # learned page templates by source, set on its jobs (#17)
        self.load_templates = load_templates       # read at the first page to extract, then None
        self._loading = asyncio.Lock()
        self.pool: ProcessPoolExecutor | None = None

    async def prepare(self) -> None:
        """Start the workers and read the templates before the first page; cheap once done."""
        self.warm()
        if self.load_templates is not None:
            async with self._loading:
                if self.load_templates is not None:
                    self.templates = await self.load_templates()
                    self.load_templates = None

    def warm(self) -> None:
        """Have the workers (started and importing trafilatura ahead of the first page, unless a run before
        this one in the process started them)."""
        if self.pool is None and self.workers > 0:
            self.pool = shared_pool(self.workers)

    async def extract(self, job: PageJob) -> ExtractedArticle | str:
        await self.prepare()
        job = replace(job, agreement=self.agreement, template=self.templates.get(job.source), timeout=self.timeout)
        if self.pool is None:
            return safe_extract(job)
        pool = self.pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, safe_extract, job)
        except BrokenExecutor:
            # A worker died (killed, out of memory): the pages it held fail like any page that cannot be
            # extracted (kept as failed items, tried again by a later run) and the next page starts a new pool.
            retire_pool(pool)
            if self.pool is pool:
                self.pool = None
            return "the extraction worker died (killed, or out of memory) while this page was extracted"

    def close(self) -> None:
        """The run is done with the workers; they stay for this process's next run (nothing to wait for: every
        job's result is in by now)."""
        self.pool = None


class WarehouseGate:
    """Serialised warehouse sessions for one process (DuckDB: one writer per file).

    The connection (and the file lock) is kept while uses follow each other closely and closed after
    IDLE_CLOSE_SECONDS without use, so a busy run does not pay an open + checkpoint per chunk, and readers
    such as `balkanwatch sql` get in whenever the run is waiting on the network. A session open for
    MAX_HOLD_SECONDS closes as soon as its current use ends, so that readers also get in while a long run
    loads chunk after chunk."""

    # Above the gap between two chunk loads of a CPU-bound run (50 pages, ~2.3 s on two cores): each close
    # is a DuckDB checkpoint, which costs more the more pages the run has appended (0.05 s at the first
    # chunk, 0.3 s at 900 pages, 0.7 s at 2,000; docs/design.md, "Warehouse"), paid in the event loop.
    IDLE_CLOSE_SECONDS = 4.0
    MAX_HOLD_SECONDS = 20.0
    WAIT_POLL_SECONDS = 0.1   # how often a session waiting for a held file tries again (_enter)

    def __init__(self, config: Config, *, loading: bool = False) -> None:
        self.config, self.loading = config, loading   # loading: a shard run's load-only session (Warehouse)
        # A lake's readers never wait for its writer, and opening one costs ~0.5 s (two extensions, the
        # catalog): the run keeps its session until close().
        lake = config.warehouse.backend == "ducklake"
        self.idle_close: float | None = None if lake else self.IDLE_CLOSE_SECONDS
        self.max_hold = self.MAX_HOLD_SECONDS
        self._opened_at = 0.0
        self.load_limits = lake_limits(config) if lake else FILE_LOAD   # how a batch's polls wait for their commit
        self.ask_window = config.warehouse.ask_window_seconds if lake else 0.0   # how long a known_ids ask waits
        self._lock = asyncio.Lock()
        self._session: AbstractContextManager[Warehouse] | None = None
        self._wh: Warehouse | None = None
        self._idle: asyncio.TimerHandle | None = None
        # known_ids asked while another ask waits for the warehouse: answered together by one query.
        self._asks: list[tuple[Sequence[str], asyncio.Future[dict[str, datetime | None]]]] = []

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Warehouse]:
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            if self._wh is None:
                self._session, self._wh = await self._enter()
                self._opened_at = time.monotonic()
            try:
                yield self._wh
            except BaseException:
                self.close()
                raise
            if self.idle_close is not None:
                if time.monotonic() - self._opened_at >= self.max_hold:
                    self.close()   # readers waiting for the lock get in between two loads of a long run
                else:
                    self._idle = asyncio.get_running_loop().call_later(self.idle_close, self._close_if_idle)

    async def _enter(self) -> tuple[AbstractContextManager[Warehouse], Warehouse]:
        """A new session. A file's locks are waited for here, asleep in the event loop, so that fetching and
        extraction go on while another process has the file: a balkanwatch reader or alerts cycle (our
        flock), or a program that is not ours, such as an analyst's notebook (DuckDB's own lock), for up to
        `warehouse.lock_timeout` seconds each time. A lake's session waits in Warehouse.open_lake (its
        writer lock is held by our own short writes only, and opening one costs ~0.5 s a try)."""
        if self.idle_close is None:
            session = Warehouse.for_config(self.config, loading=self.loading)
            return session, session.__enter__()
        timeout = self.config.warehouse.lock_timeout
        deadline, told = time.monotonic() + timeout, False
        while True:
            session = Warehouse.for_config(self.config, loading=self.loading, lock_timeout=0.0)
            try:
                return session, session.__enter__()
            except WarehouseInUseError as exc:
                if time.monotonic() >= deadline:
                    raise WarehouseInUseError(exc.path, exc.holder, timeout) from exc.__cause__
                if not told:
                    run_logger().warning("waiting up to %.0f s for the warehouse file %s: another program has "
                                         "it open (%s)", timeout, exc.path, exc.holder)
                    told = True
            except WarehouseBusyError as exc:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(f"{exc}; gave up after {timeout:.0f}s") from None
            await asyncio.sleep(self.WAIT_POLL_SECONDS)

    def _close_if_idle(self) -> None:
        if not self._lock.locked():
            self.close()

    def close(self) -> None:
        """Release the warehouse now (idle, an error, or the end of the run); safe to call twice."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._session is not None:
            session, self._session, self._wh = self._session, None, None
            session.__exit__(None, None, None)

    async def known_ids(self, ids: Sequence[str]) -> dict[str, datetime | None]:
        """Stored ids among `ids` (Warehouse.known_items). The sources of a batch list their feeds at about
        the same time, and on a lake each read costs ~40 ms whatever its rows (docs/design.md, DuckLake): the
        first ask to get the warehouse answers every ask waiting by then in one query."""
        answer: asyncio.Future[dict[str, datetime | None]] = asyncio.get_running_loop().create_future()
        self._asks.append((ids, answer))
        await asyncio.sleep(self.ask_window)   # let the other sources' asks ready by then join this one
        async with self.open() as wh:
            if not answer.done():
                asks, self._asks = self._asks, []
                try:
                    known = wh.known_items(sorted({i for wanted, _ in asks for i in wanted}))
                except Exception as exc:
                    for _, waiting in asks:
                        waiting.set_exception(exc)
                else:
                    for wanted, waiting in asks:
                        waiting.set_result({i: known[i] for i in wanted if i in known})
        return answer.result()

    async def texts_seen(self, source: str, hashes: Sequence[str]) -> set[str]:
        async with self.open() as wh:
            return wh.texts_seen(source, hashes)

    async def known_links(self, link_ids: Sequence[str]) -> dict[str, str]:
        async with self.open() as wh:
            return wh.aggregator_links(link_ids)

    async def record_links(self, links: Sequence[tuple[str, str, str]], source: str) -> int:
        async with self.open() as wh:
            return wh.record_aggregator_links(links, source)

class LoadQueue(Generic[P]):
    """A batch's polled sources waiting for their load transaction: `put` each as its poll ends, `close`
    when the batch ends; `store` commits a list of them (one transaction) once the LoadLimits say so. A
    source with nothing to store but its fetch log and health (`urgent=False`: an unchanged feed) never
    starts the clock: it goes with the next commit, or the last. A commit started by the clock that fails
    is raised by the next `put` or by `close`."""

    def __init__(self, limits: LoadLimits, store: Callable[[list[P]], Awaitable[None]]) -> None:
        self.limits, self._store = limits, store
        self._waiting: list[P] = []
        self._articles = 0
        self._clock: asyncio.Task[None] | None = None   # sleeping until the first urgent source's deadline
        self._clocks: set[asyncio.Task[None]] = set()   # every clock started, awaited by close()
        self._failure: BaseException | None = None

    async def put(self, item: P, *, articles: int, urgent: bool) -> None:
        self._raise_failure()
        self._waiting.append(item)
        self._articles += articles
        if not urgent:
            return
        if self._articles >= self.limits.articles or self.limits.seconds <= 0:
            await self.flush()
        elif self._clock is None:
            self._clock = asyncio.get_running_loop().create_task(self._flush_later())
            self._clocks.add(self._clock)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.limits.seconds)
        self._clock = None   # from here on, a new urgent source starts a new clock
        try:
            await self.flush()
        except Exception as exc:   # kept for the batch: raised by put() or close()
            self._failure = exc

    async def flush(self) -> None:
        """Commit every source waiting now (nothing when none waits)."""
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        items, self._waiting, self._articles = self._waiting, [], 0
        if items:
            await self._store(items)

    async def close(self) -> None:
        """Commit what still waits, and wait for commits the clock started."""
        await self.flush()
        await asyncio.gather(*self._clocks, return_exceptions=True)   # cancelled ones included
        self._raise_failure()

    def cancel(self) -> None:
        """Stop the clock (the batch failed): nothing more is committed by it."""
        for clock in self._clocks:
            clock.cancel()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure


def _log_ok(source: str, r: FetchResult) -> FetchLog:
    return FetchLog(source=source, url=r.url, final_url=r.final_url, status=r.status, started_at=r.fetched_at,
                    elapsed_ms=r.elapsed_ms, bytes=len(r.body), not_modified=r.not_modified, error=None, error_kind=None)


def _log_err(source: str, url: str, exc: BalkanwatchError, started: datetime) -> FetchLog:
    status = getattr(exc, "status", None)
    elapsed = (datetime.now(UTC) - started).total_seconds() * 1000
    return FetchLog(source=source, url=url, final_url=None, status=status, started_at=started, elapsed_ms=elapsed,
                    bytes=0, not_modified=False, error=str(exc), error_kind=exc.kind)


@dataclass
class PollContext:
    """What every source poll in one run shares."""

    config: Config
    fetcher: Fetcher
    extractor: Extractor
    known_ids: KnownIds
    known_links: KnownLinks                          # aggregator links resolved before (any run, any shard)
    record_links: RecordLinks                        # keep new resolutions (committed at once)
    load_chunk: LoadChunk | None = None             # hand articles over early (large sources), or keep them all
    texts_seen: TextsSeen | None = None              # a source's stored texts (a site-wide description: not news)
    claimed: set[str] = field(default_factory=set)   # article ids taken by another source in this run


@dataclass
class _Acc:
    fetches: list[FetchLog] = field(default_factory=list)
    articles: list[ExtractedArticle] = field(default_factory=list)
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)
    loaded: int = 0   # articles already handed over in chunks (load_chunk)
    revisions: list[ExtractedArticle] = field(default_factory=list)
    deferred: int = 0  # pages not fetched: their host's turn did not come in time (the next run fetches them)
    teasers: Counter[str] = field(default_factory=Counter)   # new articles from the listing, by why (no page text)


async def _listing(ctx: PollContext, state: SourceState, urls: Sequence[str], acc: _Acc
                   ) -> tuple[ParsedListing | None, FetchResult | None]:
    """Fetch and parse the source's listing; (None, result) when it has not changed."""
    if state.kind == "urls":
        return ParsedListing(items=tuple(FeedItem(link=u) for u in urls)), None
    started = datetime.now(UTC)
    try:
        result = await ctx.fetcher.fetch(state.location, etag=state.etag, last_modified=state.last_modified)
    except FetchError as exc:
        acc.fetches.append(_log_err(state.name, state.location, exc, started))
        raise
    unchanged = result.not_modified or (state.body_hash is not None and result.body_hash == state.body_hash)
    acc.fetches.append(replace(_log_ok(state.name, result), not_modified=unchanged))
    if unchanged:
        return None, result
    if state.kind == "feed":
        return parse_feed(result.body, result.final_url, result.content_type), result
    if state.kind == "listing":
        return parse_listing(result.body, result.final_url), result
    return await _sitemap(ctx, state, result, acc), result


async def _sitemap(ctx: PollContext, state: SourceState, root: FetchResult, acc: _Acc) -> ParsedListing:
    """A sitemap with its child sitemaps followed breadth-first, to ingest.max_sitemap_depth."""
    listing, children = parse_sitemap(root.body, root.final_url)
    items = list(listing.items)
    depth, seen = 0, {root.final_url}
    while children and depth < ctx.config.ingest.max_sitemap_depth:
        depth += 1
        next_children: list[str] = []
        for child in children:
            if child in seen:
                continue
            seen.add(child)
            started = datetime.now(UTC)
            try:
                r = await ctx.fetcher.fetch(child)
                acc.fetches.append(_log_ok(state.name, r))
                sub, grand = parse_sitemap(r.body, r.final_url)
            except BalkanwatchError as exc:
                acc.fetches.append(_log_err(state.name, child, exc, started))
                continue
            items.extend(sub.items)
            next_children.extend(grand)
        children = tuple(next_children)
    items.sort(key=lambda i: i.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    return ParsedListing(items=tuple(dict((i.link, i) for i in items).values()))


async def _logged_fetch(ctx: PollContext, state: SourceState, url: str, acc: _Acc,
                        form: dict[str, str] | None = None, patience: float | None = None) -> FetchResult:
    """Fetch `url` (a form POST when `form` is given), logging the fetch either way; raises FetchError
    (HostBusyError, not logged, when no request was sent: the host's turn did not come within `patience`)."""
    started = datetime.now(UTC)
    try:
        r = await ctx.fetcher.fetch(url, form=form, patience=patience)
    except HostBusyError:
        raise
    except FetchError as exc:
        acc.fetches.append(_log_err(state.name, url, exc, started))
        raise
    acc.fetches.append(_log_ok(state.name, r))
    return r


def refused(exc: FetchError) -> bool:
    """True when a page's answer says "not for you" (401/402/403/451, robots.txt), not "try later"."""
    return isinstance(exc, RobotsDisallowedError) or (exc.status in REFUSED_STATUSES and not exc.transient)


async def _fetch_item(ctx: PollContext, state: SourceState, item: FeedItem, url: str, acc: _Acc,
                      language: str | None = None, revision: bool = False) -> FetchResult | None:
    """Fetch `url` for a listed item, logging the fetch; on failure the item's error is recorded, None; an
    item whose host's turn did not come within fetch.host_queue_seconds is left for the next run, None.
    A page refused to us is kept from its listing when it has enough to say (`listing_teaser`): a new
    article, or for a `revision` a re-fetch that found no article (it only records the listing's time)."""
    try:
        return await _logged_fetch(ctx, state, url, acc, patience=ctx.config.fetch.host_queue_seconds or None)
    except HostBusyError:
        acc.deferred += 1
        return None
    except FetchError as exc:
        art = listing_teaser(item, state.name, datetime.now(UTC), language,
                             ctx.config.ingest.extractor_agreement) if refused(exc) else None
        if art is None:
            acc.failed.append((article_id(item.link), item.link, str(exc), exc.kind))
        elif revision:
            acc.revisions.append(art)   # never replaces the stored text (flows/revisions.py)
        else:
            acc.teasers["robots.txt" if isinstance(exc, RobotsDisallowedError) else f"HTTP {exc.status}"] += 1
            await _keep(ctx, acc, art)
        return None


async def _keep(ctx: PollContext, acc: _Acc, article: ExtractedArticle) -> None:
    """A new article for the warehouse: with the source's others, or loaded now when a chunk is full."""
    acc.articles.append(article)
    if ctx.load_chunk is not None and len(acc.articles) >= LOAD_CHUNK:
        chunk, acc.articles = acc.articles, []   # no await in between: no other page sees a half state
        acc.loaded += await ctx.load_chunk(chunk)


async def _google_exchange(ctx: PollContext, state: SourceState, item: FeedItem, gn_id: str, acc: _Acc
                           ) -> FeedItem | None:
    """The item with the publisher's link that Google's decoding exchange gives for a newer-form link (the
    article page's signature, then batchexecute); on failure the item's error is recorded, None."""
    base = ctx.config.ingest.google_news_base
    try:
        page = await _logged_fetch(ctx, state, google_news_article_page(base, gn_id), acc)
        signature, timestamp = google_news_signature(page.body)
        form = {"f.req": google_news_request(gn_id, timestamp, signature)}
        answer = await _logged_fetch(ctx, state, google_news_batch_url(base), acc, form=form)
        return replace(item, link=google_news_response_url(answer.body))
    except (FetchError, AggregatorLinkError) as exc:
        acc.failed.append((article_id(item.link), item.link, f"Google News decoding exchange failed: {exc}", exc.kind))
        return None


async def _google_exchanges(ctx: PollContext, state: SourceState, items: Sequence[FeedItem], acc: _Acc
                            ) -> dict[str, FeedItem | None]:
    """Newer-form Google News links → the item with the publisher's link, or None: failed (the error is
    recorded) or failed too often before (not asked again, like any item). A link resolved before (stored
    in the warehouse) is not asked again; new resolutions are stored at once, before any page is fetched:
    they hold even when the publisher's page then fails."""
    wanted = {i.link: (i, gn_id, article_id(i.link)) for i in items if (gn_id := google_news_exchange_id(i.link))}
    if not wanted:
        return {}
    stored = await ctx.known_links([link_id for _, _, link_id in wanted.values()])
    given_up = await ctx.known_ids([link_id for _, _, link_id in wanted.values() if link_id not in stored])
    todo = [(i, gn_id) for i, gn_id, link_id in wanted.values() if link_id not in stored and link_id not in given_up]
    found = await asyncio.gather(*(_google_exchange(ctx, state, i, gn_id, acc) for i, gn_id in todo))
    exchanged = {i.link: f for (i, _), f in zip(todo, found, strict=True)}
    if new := [(wanted[link][2], link, f.link) for link, f in exchanged.items() if f is not None]:
        await ctx.record_links(new, state.name)
    known = {link: replace(i, link=stored[link_id]) for link, (i, _, link_id) in wanted.items() if link_id in stored}
    return {link: None for link in wanted} | known | exchanged


async def _page(ctx: PollContext, state: SourceState, item: FeedItem, language: str | None, acc: _Acc,
                revision: bool = False) -> None:
    """Fetch and extract one listed page; failures are recorded on the item, not raised."""
    art_id = article_id(item.link)
    r = await _fetch_item(ctx, state, item, item.link, acc, language, revision)
    if r is None:
        return
    target = refresh_target(r.body, r.final_url)
    if target is None and (script_redirect(r.body) or consent_wall(r.final_url)):
        target = canonical_target(r.body, r.final_url)     # an interstitial that names the real article
    if target is not None:                    # an interstitial forwarding by meta refresh: follow it once
        r = await _fetch_item(ctx, state, item, target, acc, language, revision)
        if r is None:
            return
    if consent_wall(r.final_url):
        acc.failed.append((art_id, item.link, f"{r.final_url} is a consent wall (a cookie or privacy "
                           "interstitial, not an article)", AggregatorLinkError.kind))
        return
    job = PageJob(source=state.name, url=item.link, final_url=r.final_url, body=r.body, encoding=r.encoding,
                  fetched_at=r.fetched_at, item=item, source_language=language)
    extracted = await ctx.extractor.extract(job)
    if script_redirect(r.body) and (isinstance(extracted, str) or len(extracted.text) < INTERSTITIAL_TEXT):
        acc.failed.append((art_id, item.link, f"{r.final_url} forwards by script only (an interstitial, not an "
                           "article)", AggregatorLinkError.kind))
        return
    if isinstance(extracted, str):
        acc.failed.append((art_id, item.link, extracted, "extract"))
        return
    if revision:
        acc.revisions.append(extracted)
        return
    if extracted.text_from in FROM_LISTING:
        acc.teasers["no article text on the page"] += 1
    await _keep(ctx, acc, extracted)


SITE_DESCRIPTION = ("the page's description is the site's (the same on its other pages), not the article's; "
                    "the page gave no article text")


async def _drop_site_descriptions(ctx: PollContext, state: SourceState, acc: _Acc) -> None:
    """Teasers made from a page's description that is the site's tagline, not the article's (the same text
    on two of the poll's pages, or on a page the source has stored): item errors, not news. A tagline naming
    a watched topic would otherwise count every paywalled article of the site as a mention of it."""
    described = Counter(a.content_hash for a in acc.articles if a.text_from == PAGE_DESCRIPTION)
    if not described:
        return
    seen = await ctx.texts_seen(state.name, list(described)) if ctx.texts_seen is not None else set()
    site_wide = {h for h, n in described.items() if n > 1 or h in seen}
    for a in [a for a in acc.articles if a.text_from == PAGE_DESCRIPTION and a.content_hash in site_wide]:
        acc.articles.remove(a)
        acc.teasers["no article text on the page"] -= 1
        acc.failed.append((a.article_id, a.url, SITE_DESCRIPTION, "extract"))
    acc.teasers += Counter()   # drops reasons counted down to 0


def changed_since(item: FeedItem, stored: datetime | None) -> bool:
    """True when the listing says a stored article changed after what we have (a revision to fetch)."""
    if stored is None or item.updated is None:
        return False
    return utc_naive(item.updated) > stored


def moved_warning(result: FetchResult | None) -> str | None:
    """The source's warning when its listing answered through permanent redirects only (301/308): polling goes
    on through them, and the analyst is told where to point the config."""
    if result is None or not result.moved_permanently:
        return None
    return f"moved permanently to {result.final_url}: update the source's URL in the config"


def deferred_warning(deferred: int) -> str | None:
    """The source's warning when some of its pages were left for the next run (their host was busy)."""
    if not deferred:
        return None
    return (f"{deferred} page{'s' if deferred != 1 else ''} left for the next run: the host's turn did not come "
            "within fetch.host_queue_seconds (many pages queue behind its politeness delay)")


def teaser_warning(teasers: Counter[str], new: int) -> str | None:
    """The source's warning when some of its new items were stored from the listing alone (teasers, or the
    feed's full content: their pages gave no article text): how many, of how many, and why, so the analyst
    can tell a paywall from a bot wall."""
    if not teasers:
        return None
    why = ", ".join(f"{reason} ×{n}" for reason, n in teasers.most_common())
    return (f"{sum(teasers.values())} of {new} new articles are from the listing only ({why}): their pages "
            "gave no article text")


def _warnings(*warnings: str | None) -> str | None:
    return "; ".join(w for w in warnings if w) or None


async def poll_source(ctx: PollContext, state: SourceState, *, urls: Sequence[str] = (),
                      language: str | None = None) -> tuple[SourceOutcome, list[tuple[str, str, str, str]], int]:
    """Poll one source; never raises for the source's own faults (they come back in the outcome).

    Returns (outcome with the articles not handed over yet, failed items, articles handed over in chunks)."""
    acc = _Acc()
    try:
        listing, result = await _listing(ctx, state, urls, acc)
    except BalkanwatchError as exc:
        gone = getattr(exc, "status", None) == 410   # "gone for good"; a 404 may be a moved or broken feed for a while
        return SourceOutcome(source=state.name, ok=False, fetches=tuple(acc.fetches), error=str(exc),
                             error_kind=exc.kind, retry_after=getattr(exc, "retry_after", None), gone=gone), [], 0
    validators: dict[str, Any] = {"etag": result.etag, "last_modified": result.last_modified,
                                  "body_hash": result.body_hash} if result and not result.not_modified else {}
    cache: dict[str, Any] = {"max_age": result.max_age if result else None,
                             "ttl_minutes": listing.ttl_minutes if listing else None}
    if listing is None:
        return SourceOutcome(source=state.name, ok=True, not_modified=True, fetches=tuple(acc.fetches),
                             warning=moved_warning(result), **validators, **cache), [], 0
    exchanged = await _google_exchanges(ctx, state, listing.items, acc)   # Google's newer links: stored, or asked
    ids, unresolved = {}, []   # unresolved aggregator links fail the same way every poll: they do not
    for i in listing.items:    # keep the feed from counting as unchanged
        if i.link in exchanged:
            if (publisher_item := exchanged[i.link]) is not None:
                ids[article_id(publisher_item.link)] = publisher_item
            continue
        try:
            link = publisher_link(i.link)      # aggregators' links: the publisher's article instead
        except AggregatorLinkError as exc:
            unresolved.append((article_id(i.link), i.link, str(exc), exc.kind))
            continue
        ids[article_id(link)] = replace(i, link=link) if link != i.link else i
    known = await ctx.known_ids(list(ids))
    fresh = [(aid, i) for aid, i in ids.items() if aid not in known and aid not in ctx.claimed]
    left = max(0, len(fresh) - ctx.config.ingest.max_items_per_source)   # listed, for the next runs
    fresh = fresh[: ctx.config.ingest.max_items_per_source]
    revised = [(aid, i) for aid, i in ids.items() if aid not in ctx.claimed and changed_since(i, known.get(aid, None))]
    revised = revised[: max(0, ctx.config.ingest.max_items_per_source - len(fresh))]
    ctx.claimed.update(aid for aid, _ in fresh + revised)
    if fresh or revised:
        await ctx.extractor.prepare()   # the workers start (and the templates are read) while pages are fetched
    await asyncio.gather(*(_page(ctx, state, item, language, acc) for _, item in fresh),
                         *(_page(ctx, state, item, language, acc, revision=True) for _, item in revised))
    await _drop_site_descriptions(ctx, state, acc)
    backlog = left + acc.deferred
    if backlog or acc.failed:
        validators = {}   # keep the old validators so the next poll lists the rest / retries the failures
    if state.kind == "urls" and fresh and acc.failed and not acc.articles and not acc.loaded:
        first = acc.failed[0]
        return SourceOutcome(source=state.name, ok=False, fetches=tuple(acc.fetches), error=first[2],
                             error_kind=first[3], items_listed=len(ids)), acc.failed, acc.loaded
    failed = acc.failed + unresolved
    listed = len(ids) + len(unresolved) + sum(f is None for f in exchanged.values())
    return SourceOutcome(source=state.name, ok=True, items_listed=listed,
                         articles=tuple(acc.articles), revisions=tuple(acc.revisions),
                         fetches=tuple(acc.fetches), item_errors=len(failed),
                         warning=_warnings(listing.warning, moved_warning(result), deferred_warning(acc.deferred),
                                           teaser_warning(acc.teasers, len(acc.articles) + acc.loaded)),
                         backlog=backlog,
                         **validators, **cache), failed, acc.loaded
