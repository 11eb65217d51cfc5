"""The ingest flow.

    sources due | fetch listing (conditional GET) | parse feed / sitemap | new items only
        | fetch pages (per-host polite) | extract (process pool, both cores) | warehouse.load (chunks of 50)
        | boilerplate (learn per source, strip) | stories (dedupe: join a known story or start one)
        | mentions (watchlists) | health + artifacts
        | alerts flow (flows/alerts.py: spikes, e-mail), when watchlists are configured

One Prefect task run per batch of sources (balkanwatch/sharding.py: up to 25, sorted by host; never one
per article, nor per source); planning and finishing run in the flow itself, since each task run costs API
round trips. Each source's interval adapts to how often it publishes, and a source that answers but has
stopped publishing is marked silent (balkanwatch/health.py). `--shard K/N` polls one shard of the sources
(by host); each shard run settles (boilerplate, stories, mentions) what it loaded. Articles are committed in chunks while a large source is
still extracting, and each source's remaining articles, fetch log and health in one final transaction, so a
crash loses at most the pages in flight and a re-run is idempotent (ids are hashes of normalised URLs).
Only one ingest runs per warehouse at a time: a second one waits `warehouse.lock_timeout`, then skips.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from balkanwatch.config import Config, IngestSettings, WatchlistSettings, load_config
from balkanwatch.errors import BalkanwatchError, WarehouseBusyError
from balkanwatch.health import (
    Publication,
    adaptive_minutes,
    due_slack_minutes,
    fts_refresh,
    is_due,
    is_silent,
    next_poll,
)
from balkanwatch.models import ExtractedArticle, SourceOutcome
from balkanwatch.sharding import batch_label, batches, parse_shard, shard_of
from balkanwatch.templates import Template
from connectors.http import Fetcher
from flows.boilerplate import clean_boilerplate
from flows.mentions import match_mentions
from flows.poll import Extractor, LoadQueue, PollContext, WarehouseGate, poll_source, run_logger
from flows.revisions import revise_articles
from flows.stories import assign_stories
from warehouse.store import PolledSource, Schedule, SourceState, Warehouse

T = TypeVar("T")


@dataclass
class SourceReport:
    name: str
    ok: bool
    not_modified: bool
    listed: int
    new_articles: int
    revised: int
    item_errors: int
    error: str | None
    next_poll_at: str
    poll_minutes: float = 0.0        # the interval chosen for the next poll
    silent: bool = False


@dataclass
class IngestSummary:
    run_id: str
    status: str                      # completed | skipped
    sources_polled: int = 0
    sources_failed: int = 0
    new_articles: int = 0
    new_stories: int = 0             # articles that started a story
    new_copies: int = 0              # articles that joined an existing story (syndicated / duplicate copies)
    matched_articles: int = 0        # articles matched against the watchlists
    boilerplate_removed: int = 0     # site boilerplate paragraphs removed from article texts
    alerts: str = ""                 # outcome of the alerts cycle run after the ingest
    feeds: str = ""                  # what became of the Atom feeds (feeds.dir), when set
    item_errors: int = 0
    sources: list[SourceReport] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)   # title, source, published_at, url
    note: str = ""
    settled: bool = True             # False for a load-only run (a shard run): a `settle` run settles it

    def as_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`'s result, without its deep copy of every value (22 ms for 500 sources)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sources"] = [{f.name: getattr(s, f.name) for f in fields(s)} for s in self.sources]
        out["new"] = [dict(row) for row in self.new]
        return out


async def plan(gate: WarehouseGate, config: Config, run_id: str, flow_run_id: str | None,
               force: bool, shard: tuple[int, int] | None = None,
               minutes_to_next_run: float | None = None) -> list[SourceState]:
    """Sync the config's sources into the warehouse, open the run, and pick the sources that are due (of
    one shard, when given): healthy ones from half the time to the next run early (health.DUE_SLACK)."""
    async with gate.open() as wh:
        wh.sync_sources(config.sources, config.ingest.poll_minutes, config.ingest.max_poll_minutes)
        wh.start_run(run_id, flow_run_id)
        states = wh.source_states()
    now = datetime.now(UTC).replace(tzinfo=None)
    mine = [s for s in states.values() if shard is None or shard_of(s.location, shard[1]) == shard[0]]
    period = config.schedule.ingest_every_minutes
    return [s for s in mine
            if force or is_due(s.next_poll_at, now,
                               due_slack_minutes(period, s.consecutive_failures, minutes_to_next_run))]


# The flows whose runs are ingest cycles: an `ingest-shards` dispatcher's run is one cycle of shard runs
CYCLE_FLOWS = ("ingest", "ingest-shards")


async def minutes_to_next_cycle(config: Config) -> float | None:
    """Minutes until the next ingest cycle Prefect has scheduled for this config: the earliest run still to
    start (scheduled or late: then negative) of a deployment of a CYCLE_FLOWS flow, not a subflow (a shard
    run), whose config_path is this config's. None when there is none (nothing served or deployed) or the
    API does not answer: the caller then takes the next run to be a period away."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterParentTaskRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    if config.path is None:        # a config built in memory: no deployment can name it
        return None
    mine = str(config.path.resolve())
    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(CYCLE_FLOWS))),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                    deployment_id=FlowRunFilterDeploymentId(is_null_=False),
                    parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True)),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=20)
    except Exception as exc:   # noqa: BLE001 - the schedule only refines how early sources are polled
        run_logger().debug("next scheduled ingest not known: %s", exc)
        return None
    for run in runs:
        path = run.parameters.get("config_path")
        if run.expected_start_time is not None and isinstance(path, str) and str(Path(path).resolve()) == mine:
            start = datetime.fromtimestamp(run.expected_start_time.timestamp(), UTC)
            return (start - datetime.now(UTC)).total_seconds() / 60
    return None


@dataclass
class _Polled:
    state: SourceState
    outcome: SourceOutcome
    failed: list[tuple[str, str, str, str]]
    loaded: int   # articles handed over in chunks before the poll ended (_Chunk)
    at: datetime

    @property
    def quiet(self) -> bool:
        """Nothing to store but its fetch log and health (an unchanged feed, mostly): written with others."""
        o = self.outcome
        return o.ok and not o.articles and not o.revisions and not self.failed and not self.loaded


@dataclass(frozen=True)
class _Chunk:
    """LOAD_CHUNK articles of a large source still being polled: they wait in the batch's LoadQueue and are
    committed with the next load transaction, before that source's poll (FIFO), without its health."""

    source: str
    articles: tuple[ExtractedArticle, ...]


def _schedule(p: _Polled, pub: Publication, ing: IngestSettings) -> Schedule:
    """The next poll of a source that answered: its interval from how often it publishes, and silence."""
    naive = p.at.replace(tzinfo=None)
    ttl = p.outcome.ttl_minutes or p.state.ttl_minutes
    floor = max(p.outcome.max_age or 0.0, (ttl or 0.0) * 60) or None
    interval = adaptive_minutes(naive, pub, configured=p.state.poll_minutes, min_minutes=ing.min_poll_minutes,
                                max_minutes=ing.max_poll_minutes, server_floor_seconds=floor)
    if p.outcome.backlog:   # listed pages left for later (a busy host, max_items_per_source): back soon, not in
        interval = round(max(min(interval, ing.min_poll_minutes), (floor or 0.0) / 60), 1)   # hours, politely
    return Schedule(next_poll_at=p.at + timedelta(minutes=interval), interval_minutes=interval,
                    usual_gap_minutes=pub.usual_gap_minutes,
                    silent=is_silent(naive, pub, gaps=ing.silence_gaps, floor_hours=ing.silence_floor_hours),
                    ttl_minutes=p.outcome.ttl_minutes)


def _report(p: _Polled, new: int, revised: int, when: datetime, interval: float, silent: bool,
            log: bool = True) -> SourceReport:
    o = p.outcome
    if log:
        _log_outcome(o, new, silent)
    return SourceReport(name=o.source, ok=o.ok, not_modified=o.not_modified, listed=o.items_listed,
                        new_articles=new, revised=revised, item_errors=len(p.failed), error=o.error,
                        next_poll_at=when.isoformat(timespec="seconds"), poll_minutes=round(interval, 1),
                        silent=silent)


async def _poll(ctx: PollContext, state: SourceState) -> _Polled:
    src = ctx.config.source(state.name)
    outcome, failed, loaded = await poll_source(ctx, state, urls=src.urls, language=src.language or None)
    return _Polled(state, outcome, failed, loaded, datetime.now(UTC))


def _polled_source(p: _Polled, ing: IngestSettings, chunked: int) -> PolledSource:
    """A poll as the warehouse stores it: its health, and the next poll the plain interval (or a failure's
    backoff) gives, which the schedule of a source that answered then replaces; `chunked`: its new articles
    already committed in chunks."""
    o, state = p.outcome, p.state
    when, failures = next_poll(p.at, ok=o.ok, failures_before=state.consecutive_failures,
                               poll_minutes=state.current_minutes, max_backoff_minutes=ing.max_backoff_minutes,
                               retry_after=o.retry_after, gone=o.gone)
    return PolledSource(o, p.at, when, failures, p.failed, chunked)


async def _store(ctx: PollContext, gate: WarehouseGate, items: list[_Polled | _Chunk], run_id: str,
                 chunked: dict[str, int]) -> dict[str, SourceReport]:
    """Commit what these sources brought, with their health and schedules (the adaptive interval, or the
    backoff of a failure), and the chunks of sources still polling, in one transaction; their revised
    articles (rare) first, each in its own. `chunked` (new articles committed in chunks, per source) grows
    by the chunks of sources whose poll is not among these."""
    ing = ctx.config.ingest
    polls = [p for p in items if isinstance(p, _Polled)]
    chunks = [c for c in items if isinstance(c, _Chunk)]
    stored = [_polled_source(p, ing, chunked.get(p.state.name, 0)) for p in polls]
    plans: dict[str, Schedule] = {}

    def plan(pubs: dict[str, Publication]) -> dict[str, Schedule]:
        plans.clear()   # asked again when the write is redone
        plans.update({p.state.name: _schedule(p, pubs[p.state.name], ing) for p in polls if p.outcome.ok})
        return plans

    async with gate.open() as wh:
        revised = {p.state.name: revise_articles(wh, p.outcome.revisions) for p in polls if p.outcome.revisions}
        new = wh.record_polls(stored, run_id, plan=plan, chunks=[a for c in chunks for a in c.articles])
    for source in {c.source for c in chunks} - {p.state.name for p in polls}:
        chunked[source] = chunked.get(source, 0) + new.get(source, 0)
    reports = {}
    for p, s in zip(polls, stored, strict=True):
        name, chosen = p.state.name, plans.get(p.state.name)
        when, interval, silent = ((chosen.next_poll_at, chosen.interval_minutes, chosen.silent) if chosen
                                  else (s.next_poll_at, p.state.current_minutes, False))
        alone = not p.quiet or silent or bool(p.outcome.warning)   # a quiet one: on its batch's line
        reports[name] = _report(p, new[name], revised.get(name, 0), when, interval, silent, alone)
    return reports


@task(name="poll-sources", task_run_name="poll {label}", cache_policy=NO_CACHE)
async def poll_batch(ctx: PollContext, gate: WarehouseGate, batch: list[SourceState], run_id: str,
                     label: str) -> list[SourceReport]:
    """Poll a batch of sources concurrently (one task run for all of them); a failed source is a report,
    never a failed task. What the sources bring waits in a LoadQueue and is committed for many sources at
    once (the gate's LoadLimits: on a file as soon as each is done; on a lake every warehouse.load_articles
    articles or load_seconds); the quiet ones (unchanged feeds: the common case of a cycle) go with the next commit."""
    reports: dict[str, SourceReport] = {}
    quiet: list[SourceOutcome] = []
    chunked: dict[str, int] = {}   # new articles committed in chunks, per source still polling

    async def store(items: list[_Polled | _Chunk]) -> None:
        reports.update(await _store(ctx, gate, items, run_id, chunked))

    loads: LoadQueue[_Polled | _Chunk] = LoadQueue(gate.load_limits, store)

    async def hand_over(arts: Sequence[ExtractedArticle]) -> int:
        """A large source's chunk into the queue (its article limit bounds what waits in memory)."""
        await loads.put(_Chunk(arts[0].source, tuple(arts)), articles=len(arts), urgent=True)
        return len(arts)

    batch_ctx = replace(ctx, load_chunk=hand_over)   # the run's `claimed` set, shared

    async def one(state: SourceState) -> None:
        p = await _poll(batch_ctx, state)
        if p.quiet:
            quiet.append(p.outcome)
        await loads.put(p, articles=len(p.outcome.articles) + len(p.outcome.revisions), urgent=not p.quiet)

    try:
        await asyncio.gather(*(one(s) for s in batch))
        await loads.close()
    finally:
        loads.cancel()
    _log_quiet([o for o in quiet if not (reports[o.source].silent or o.warning)])
    return [reports[s.name] for s in batch]


def _log_quiet(outcomes: list[SourceOutcome]) -> None:
    """One line for a batch's sources that answered with nothing new, naming them: a log record per source
    cost the run 0.3–0.7 ms each in the console and API log handlers (issue #15); failures keep a line each."""
    groups = (("not modified", [o.source for o in outcomes if o.not_modified]),
              ("listed nothing new", [o.source for o in outcomes if not o.not_modified]))
    if parts := [f"{len(names)} source{'s' * (len(names) != 1)} {what}: {', '.join(names)}"
                 for what, names in groups if names]:
        run_logger().info("; ".join(parts))


def _log_outcome(o: SourceOutcome, new: int, silent: bool = False) -> None:
    logger = run_logger()
    if not o.ok:
        logger.warning("source %s failed (%s): %s", o.source, o.error_kind, o.error)
    elif silent:
        logger.warning("source %s is silent: it answers but has published nothing for several of its usual gaps",
                       o.source)
    elif o.not_modified:
        logger.info("source %s not modified", o.source)
    else:
        logger.info("source %s: %d listed, %d new articles, %d item errors%s", o.source, o.items_listed, new,
                    o.item_errors, f" (warning: {o.warning})" if o.warning else "")


def _untraversed(value: T) -> T:
    """`value` as a task argument Prefect does not walk into (`quote`; unwrapped before the task runs).

    Prefect visits every element of a task's arguments twice per task run, looking for futures to wait on:
    through the context's config that is every source of the config, ~30 ms of CPU per task run at 500
    sources (issue #15). Nothing in them is a future; the cast keeps the task's signature for the type checker."""
    from prefect.utilities.annotations import quote

    return cast(T, quote(value))


def _as_is(value: T) -> T:
    return value


class FlowResult(Mapping[str, Any]):
    """A flow's summary dict, read-only, as a mapping Prefect does not walk into.

    When a flow returns, Prefect visits every element of its return value looking for futures to wait on
    (`resolve_futures_to_states`). An ingest summary of 500 sources is ~36,000 objects: 25 ms of CPU per
    flow run, on an unchanged re-poll of ~1 s (issue #15). Nothing in it is a future. It reads like the
    dict (`r["sources"]`, `dict(r)`) and pickles like one, for result storage."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FlowResult({self._data!r})"


async def _poll_all(config: Config, gate: WarehouseGate, due: list[SourceState], run_id: str,
                    in_flow: bool) -> list[SourceReport]:
    async def templates() -> dict[str, Template]:
        async with gate.open() as wh:
            return wh.source_templates()

    extractor = Extractor(config.ingest.extract_workers or os.cpu_count() or 1, config.ingest.extractor_agreement,
                          load_templates=templates, timeout=config.ingest.extract_timeout)   # started, and the templates read, at the first new page
    try:
        async with Fetcher(config.fetch) as fetcher:
            ctx = PollContext(config=config, fetcher=fetcher, extractor=extractor, known_ids=gate.known_ids,
                              texts_seen=gate.texts_seen,
                              known_links=gate.known_links, record_links=gate.record_links)
            poll = poll_batch if in_flow else poll_batch.fn
            keep = _untraversed if in_flow else _as_is
            location = lambda s: s.location   # noqa: E731
            groups = batches(due, location)
            done = await asyncio.gather(*(poll(keep(ctx), keep(gate), keep(b), run_id, batch_label(b, location))
                                          for b in groups))
            return [report for group in done for report in group]
    finally:
        extractor.close()


def settle_warehouse(wh: Warehouse, summary: IngestSummary, watchlists: list[WatchlistSettings]) -> None:
    """The settling steps over everything loaded and not yet settled: site boilerplate, stories, watchlist
    matches. Each step picks up what no earlier run settled, so a load without settling (a shard run,
    `ingest --no-settle`) is settled by the next run that settles, or by `settle`."""
    summary.boilerplate_removed = clean_boilerplate(wh)
    counts = assign_stories(wh)
    summary.new_stories, summary.new_copies = counts.new_stories, counts.new_copies
    summary.matched_articles = match_mentions(wh, watchlists)


def publish_feeds(wh: Warehouse, config: Config, summary: IngestSummary) -> None:
    """Refresh the Atom feeds (feeds.dir) after settling. A folder that cannot be written is logged and said
    in the summary; the run, whose articles are stored, goes on."""
    from flows.feeds import write_feeds

    try:
        done = write_feeds(wh, config)
    except OSError as exc:
        summary.feeds = f"not written: {exc}"
        run_logger().warning("Atom feeds (feeds.dir) %s", summary.feeds)
        return
    if done is not None:
        summary.feeds = f"{len(done.written)} written, {done.unchanged} unchanged" + (
            f", {len(done.removed)} of topics no longer configured removed" if done.removed else "")


def refresh_search_index(wh: Warehouse) -> str | None:
    """Fold what the full-text index lacks or holds stale into it (a file's segments: `seal_fts`; a lake's index
    whole), or index the new articles in the recent index alone, when they have grown or waited long enough
    (health.fts_refresh), or at once the articles changed since they were indexed; returns which it did."""
    indexed, unindexed, oldest = wh.fts_coverage()
    recent = wh.recent_fts_count() if indexed else 0
    stale = wh.stale_fts_count() if indexed else 0
    outdated = wh.outdated_fts_count() if indexed else 0
    waited = (datetime.now(UTC).replace(tzinfo=None) - oldest).total_seconds() / 60 if oldest else None
    plan = fts_refresh(indexed - recent, recent, unindexed, waited, stale=stale, outdated=outdated,
                       segment_articles=None if wh.lake else wh.SEGMENT_ARTICLES)
    if plan == "whole":
        wh.rebuild_fts()
    elif plan == "seal":
        wh.seal_fts()
    elif plan == "recent":
        wh.rebuild_recent_fts()
    return plan


async def index_after_alerts(config: Config, gate: WarehouseGate) -> None:
    """The full-text index, refreshed after the run (after its alerts cycle, when one follows): a rebuild reads
    every article it covers (~1.3 ms each of real text: minutes at 100,000; the hourly recent index only those
    since) and the alert e-mails must not wait for it. On a file, under the ingest run lock again, without
    waiting for it: a run that took it meanwhile refreshes the index at its own end. On a lake, not under the
    run lock at all (`refresh_lake_index`)."""
    if config.warehouse.backend == "ducklake":
        refresh_lake_index(config)
        return
    try:
        with Warehouse.run_lock(config, timeout=0.0):
            try:
                async with gate.open() as wh:
                    refresh_search_index(wh)
            finally:
                gate.close()
    except WarehouseBusyError as exc:
        run_logger().info("full-text index left to the next run: %s", exc)


def refresh_lake_index(config: Config) -> str | None:
    """A lake's search index refreshed as `reindex` builds it: from a read-only session (its index is a file of
    this machine's; the lake is only read) and outside the ingest run lock, so the next run never waits for a
    build (a whole one takes minutes at 100,000 articles). Under this machine's index lock (`<index>.lock`),
    not waited for: a refresh already running here is left to finish, and the next run refreshes what it
    left. A whole rebuild is then recorded in `fts_builds` if the lake's writer lock is free at once (else
    only logged). Returns what was rebuilt (health.fts_refresh's plan)."""
    try:
        with Warehouse.lake_index_lock(config, timeout=0.0):
            with Warehouse.for_config(config, read_only=True) as wh:
                plan = refresh_search_index(wh)
    except WarehouseBusyError as exc:
        run_logger().info("full-text index left to the next run: %s", exc)
        return None
    if plan == "whole":
        try:
            with Warehouse.for_config(config, lock_timeout=0.0) as wh:
                wh.record_fts_build()
        except WarehouseBusyError as exc:
            run_logger().info("full-text index rebuilt, its build not recorded in fts_builds: %s", exc)
    return plan


def index_in_run(config: Config, settle: bool) -> bool:
    """Whether a run (or `settle`) refreshes the full-text index itself, at its end under its run lock: on a
    file when no alerts cycle follows. Otherwise `index_after_alerts` does, after the run (never a lake's
    shard loads: the settle run after them does)."""
    return config.warehouse.backend != "ducklake" and not alerts_follow(config, settle)


def alerts_follow(config: Config, settle: bool) -> bool:
    """Whether an alerts cycle runs after this run's settling (then the index waits for it)."""
    return settle and bool(config.watchlists) and config.path is not None


async def finish(gate: WarehouseGate, summary: IngestSummary, config: Config,
                 artifacts: bool = True, settle: bool = True, index: bool = True) -> IngestSummary:
    """Close the run, settle it (unless asked not to) and refresh the Atom feeds, refresh the full-text index
    (unless an alerts cycle follows: `index_after_alerts`), publish the artifacts."""
    async with gate.open() as wh:
        if settle:
            settle_warehouse(wh, summary, config.watchlists)
            publish_feeds(wh, config, summary)
        summary.settled = settle
        wh.finish_run(summary.run_id, polled=summary.sources_polled, failed=summary.sources_failed,
                      new_articles=summary.new_articles, item_errors=summary.item_errors)
        if index:
            refresh_search_index(wh)
        summary.new = wh.rows(
            """SELECT title, source, published_at, story_id, text_from, url FROM articles WHERE run_id = ?
               ORDER BY published_at DESC NULLS LAST LIMIT 200""", [summary.run_id])
        stories = wh.run_stories(summary.run_id) if settle and artifacts and summary.new else []
        health = wh.source_health()
    gate.close()   # release the warehouse before talking to the Prefect API
    if artifacts:
        await publish_artifacts(summary, health, stories)
    return summary


async def publish_artifacts(summary: IngestSummary, health: list[dict[str, Any]],
                            stories: list[dict[str, Any]] | None = None) -> None:
    """Markdown summary, source-health table and, when the run loaded any, the tables of its new articles
    and of the stories they belong to (`Warehouse.run_stories`: each story once), visible in the Prefect UI."""
    from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

    from balkanwatch.escaping import cell, link, markdown

    failed = [s for s in summary.sources if not s.ok]
    lines = [f"# Ingest run `{summary.run_id}`", "",
             f"- sources polled: **{summary.sources_polled}** (failed: **{summary.sources_failed}**)",
             f"- new articles: **{summary.new_articles}**: **{summary.new_stories}** new stories, "
             f"**{summary.new_copies}** copies of known stories",
             f"- articles revised (changed text, same URL): **{sum(s.revised for s in summary.sources)}**",
             f"- site boilerplate paragraphs removed: **{summary.boilerplate_removed}**",
             f"- page errors: **{summary.item_errors}**", ""]
    if not summary.settled:
        lines[3:6] = [f"- new articles: **{summary.new_articles}** (loaded only: boilerplate, stories, watchlists "
                      "and alerts are settled once by the `settle` run after all shards)",
                      lines[4]]
    if failed:
        lines += ["## Errors", "", "| source | error | next poll |", "|---|---|---|"]
        lines += [f"| {markdown(s.name)} | {markdown(s.error)} | {markdown(s.next_poll_at)} |" for s in failed]
    cols = ("name", "health", "poll_minutes", "consecutive_failures", "last_success_at", "last_new_item_at",
            "last_error", "last_warning", "next_poll_at", "articles")
    calls = [acreate_markdown_artifact("\n".join(lines), key="ingest-summary", description="Ingest run summary"),
             acreate_table_artifact([{c: cell(row[c]) for c in cols} for row in health]
                                    or [{c: "" for c in cols}], key="source-health", description="Health of every source")]
    if summary.new:   # a run that found nothing (most cycles) says so in its summary: no empty table (issue #15)
        calls.append(acreate_table_artifact([{k: link(v) if k == "url" else cell(v) for k, v in row.items()}
                                             for row in summary.new], key="new-articles",
                                            description="Articles that landed in this run"))
    if stories:
        shown = [{**row, "topics": ", ".join(row["topics"]), "sources": ", ".join(row["sources"])} for row in stories]
        calls.append(acreate_table_artifact([{k: link(v) if k == "url" else cell(v) for k, v in row.items()}
                                             for row in shown], key="new-stories",
                                            description="Stories this run brought articles to, each once: new "
                                                        "ones first, then known ones that got more copies"))
    await asyncio.gather(*calls)   # the API calls at once: the run ends sooner


def _minutes_from_now(minutes: float) -> str:
    """'in 4.9 min', or 'late by 1.2 min' for a run that should have started."""
    return f"in {minutes:.1f} min" if minutes >= 0 else f"late by {-minutes:.1f} min"


def _in_flow() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


@flow(name="ingest", description="Poll due sources and load new articles into the warehouse.")
async def ingest(config_path: str, force: bool = False, shard: str | None = None,
                 settle: bool = True) -> Mapping[str, Any]:
    """One ingest cycle for the config at `config_path` (one shard 'K/N' of its sources, when given);
    returns the IngestSummary as a read-only mapping (`FlowResult`). `settle=False` only loads: the
    dispatcher's shard runs leave boilerplate, stories, mentions and alerts to one `settle` run after all of
    them."""
    from prefect.runtime import flow_run

    config = load_config(config_path)
    summary = await run_ingest(config, force=force, flow_run_id=str(flow_run.id) if flow_run.id else None,
                               shard=parse_shard(shard) if shard else None, settle=settle)
    return FlowResult(summary.as_dict())


@flow(name="settle", description="Boilerplate, stories, watchlist matches and one alerts cycle for everything "
                                 "loaded and not yet settled (after the shard runs of a cycle).")
async def settle(config_path: str) -> dict[str, Any]:
    """Settle once what loads without settling (shard runs, `ingest --no-settle`) left; returns the counts."""
    return (await run_settle(load_config(config_path))).as_dict()


async def run_settle(config: Config) -> IngestSummary:
    """The body of `settle`: under the ingest run lock (so it never interleaves with a run's own settling),
    the settling steps, then the alerts cycle, then the full-text index."""
    logger = run_logger()
    summary = IngestSummary(run_id="settle", status="completed")
    gate = WarehouseGate(config)
    try:
        with Warehouse.run_lock(config):
            try:
                async with gate.open() as wh:
                    wh.mark_crashed_runs()    # no run can be running: settle holds the run lock alone
                    settle_warehouse(wh, summary, config.watchlists)
                    publish_feeds(wh, config, summary)
                    if index_in_run(config, True):
                        refresh_search_index(wh)
            finally:
                gate.close()
    except WarehouseBusyError as exc:
        logger.warning("skipped: %s", exc)
        return IngestSummary(run_id="settle", status="skipped", note=str(exc))
    logger.info("settled: %d new stories, %d copies, %d boilerplate paragraphs removed, %d articles matched",
                summary.new_stories, summary.new_copies, summary.boilerplate_removed, summary.matched_articles)
    if alerts_follow(config, True):
        summary.alerts = alerts_after_ingest(config, _in_flow())
    if not index_in_run(config, True):
        await index_after_alerts(config, gate)
    return summary


async def run_ingest(config: Config, *, force: bool = False, flow_run_id: str | None = None,
                     shard: tuple[int, int] | None = None, settle: bool = True) -> IngestSummary:
    """The body of the flow: plan, poll every due source concurrently, finish (settling unless told not to)."""
    logger = run_logger()
    in_flow = _in_flow()
    run_id = flow_run_id or uuid.uuid4().hex
    loading = shard is not None and not settle   # a shard's load: on a lake, beside the other shards' loads
    gate = WarehouseGate(config, loading=loading)
    try:
        with Warehouse.run_lock(config, shard=shard, loading=loading):
            try:
                to_next = await minutes_to_next_cycle(config) if in_flow and not force else None
                due = await plan(gate, config, run_id, flow_run_id, force, shard, to_next)
                logger.info("%d of %d sources due%s%s", len(due), len(config.sources),
                            f" in shard {shard[0]}/{shard[1]}" if shard else "",
                            f" (the next scheduled run {_minutes_from_now(to_next)})" if to_next is not None else "")
                reports = await _poll_all(config, gate, due, run_id, in_flow) if due else []
                summary = IngestSummary(
                    run_id=run_id, status="completed", sources_polled=len(reports),
                    sources_failed=sum(not r.ok for r in reports), new_articles=sum(r.new_articles for r in reports),
                    item_errors=sum(r.item_errors for r in reports), sources=reports)
                summary = await finish(gate, summary, config, in_flow, settle=settle,
                                       index=index_in_run(config, settle))
            finally:
                gate.close()
    except WarehouseBusyError as exc:
        logger.warning("skipped: %s", exc)
        return IngestSummary(run_id=run_id, status="skipped", note=str(exc))
    if not settle:
        summary.alerts = "left to the settle run"
        return summary
    if alerts_follow(config, settle):
        summary.alerts = alerts_after_ingest(config, in_flow)
    if not index_in_run(config, settle):
        await index_after_alerts(config, gate)
    return summary


def alerts_after_ingest(config: Config, in_flow: bool) -> str:
    """Run one alerts cycle (a subflow under Prefect, so its failures show in the UI); never fails the ingest."""
    from flows.alerts import alerts, run_alerts

    logger = run_logger()
    if in_flow:
        state = alerts(str(config.path), return_state=True)
        if not state.is_completed():
            name = (state.name or state.type.value).lower()   # Prefect names every state after its type
            logger.warning("alerts cycle %s: %s", name, state.message)
            return f"{name}: {state.message or ''}".strip()
        # a coroutine otherwise: this runs inside the async ingest flow (_sync: Prefect's undeclared switch)
        result = state.result(_sync=True)  # type: ignore[call-overload]
        return _alerts_outcome(len(result["spikes"]), result["sent"])
    try:
        summary = run_alerts(config)
    except BalkanwatchError as exc:
        logger.warning("alerts cycle failed: %s", exc)
        return f"failed: {exc}"
    return _alerts_outcome(len(summary.spikes), summary.sent)


def _alerts_outcome(spikes: int, sent: int) -> str:
    return f"{spikes} new spike{'s' * (spikes != 1)}, {sent} e-mail{'s' * (sent != 1)} sent"
