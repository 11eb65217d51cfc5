"""`balkanwatch` command line. Thin: parses arguments, loads the config once, calls flows / warehouse."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.progress import progress_bar
from balkanwatch.config import (
    CONFIG_ENV,
    AlertsSettings,
    Config,
    load_config,
    most_alerts_per_month,
    resolve_config_path,
)
from balkanwatch.errors import BalkanwatchError, ConfigError
from balkanwatch.models import EMAIL_KINDS

if TYPE_CHECKING:
    from warehouse import Warehouse

T = TypeVar("T")
FORMATS = ("table", "csv", "json")
MAX_CELL = 80   # table cells wider than this are cut with an ellipsis (csv/json give everything)
# Without PREFECT_API_URL a command's flow runs on a temporary local Prefect server, which Prefect gives 20 s to
# start: on a busy two-core machine it took longer (a CI run failed so), and a scheduled command that gives up
# is worse than one that starts late. Unless the environment says otherwise, it gets this long.
EPHEMERAL_STARTUP_SECONDS = 120


def count(text: str) -> int:
    """An argparse type for --limit and the like: a whole number, 0 or more (DuckDB's "LIMIT/OFFSET cannot be
    negative" came through before)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


def _plain(v: Any) -> str:
    """A value JSON has no type for, as text (in JSON and in CSV alike): times in ISO form, bytes as their
    length, anything else as str() gives it."""
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    if isinstance(v, bytes | bytearray):
        return f"<{len(v)} bytes>"
    return str(v)


def dumps(value: Any) -> str:
    """JSON with datetimes as ISO strings and bytes as their length."""
    return json.dumps(value, ensure_ascii=False, default=_plain, indent=None)


def _cell(v: Any) -> str:
    if isinstance(v, list):
        v = ", ".join(map(str, v))
    s = "" if v is None else v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "isoformat") else str(v)
    s = s.replace("\n", " ⏎ ")
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Rows as an aligned text table, CSV, or a JSON array of objects (`ResultWriter`, in one batch)."""
    buf = io.StringIO()
    writer = ResultWriter(fmt, buf)
    writer.columns(list(columns))
    writer.rows([tuple(r) for r in rows])
    writer.finish()
    return buf.getvalue().removesuffix("\n")


class ResultWriter:
    """An analyst's result written as `render` would write it, a batch of rows at a time (memory: one batch).

    Into `out` when it is a regular file (`> dump.csv`); otherwise (a pipe, a terminal) into a temporary
    file, copied to `out` by `finish` once the warehouse is closed: a reader that stops reading (`| less`
    left open) must not hold the warehouse, which keeps ingest's writes out while it is open. The table
    format always goes through the temporary file: its column widths are known at the end."""

    def __init__(self, fmt: str, out: Any) -> None:
        import tempfile

        self.fmt, self.out, self.count = fmt, out, 0
        self.cols: list[str] = []
        self.widths: list[int] = []
        direct = fmt != "table" and _is_regular_file(out)
        self.sink: Any = out if direct else tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
        self._csv = csv.writer(self.sink, lineterminator="\n") if fmt == "csv" else None

    def columns(self, cols: list[str]) -> None:
        self.cols = cols
        if self.fmt == "csv":
            assert self._csv is not None
            self._csv.writerow(cols)
        elif self.fmt == "json":
            self.sink.write("[")
        else:
            self.widths = [len(c) for c in cols]

    def rows(self, batch: list[tuple[Any, ...]]) -> None:
        if self.fmt == "csv":
            assert self._csv is not None
            self._csv.writerows([_csv_value(v) for v in r] for r in batch)
        elif self.fmt == "json":
            for r in batch:
                self.sink.write((", " if self.count else "") + dumps(dict(zip(self.cols, r, strict=True))))
                self.count += 1
            return
        else:
            for r in batch:
                cells = [_cell(v) for v in r]
                self.widths = [max(w, len(c)) for w, c in zip(self.widths, cells, strict=True)]
                self.sink.write(json.dumps(cells, ensure_ascii=False) + "\n")
        self.count += len(batch)

    def finish(self) -> None:
        """The end of the result, and the copy from the temporary file; a reader that went away (`| head`)
        ends it quietly, as it ends other command-line tools."""
        try:
            if self.fmt == "json":
                self.sink.write("]\n")
            if self.sink is not self.out:
                self.sink.seek(0)
                if self.fmt == "table":
                    self._table()
                else:
                    import shutil

                    shutil.copyfileobj(self.sink, self.out, 1 << 20)
            self.out.flush()
        except BrokenPipeError:
            _quiet_stdout()
        finally:
            if self.sink is not self.out:
                self.sink.close()

    def _table(self) -> None:
        def line(vals: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(vals, self.widths, strict=True)).rstrip()

        self.out.write(line(self.cols) + "\n" + line(["-" * w for w in self.widths]) + "\n")
        for text in self.sink:
            self.out.write(line(json.loads(text)) + "\n")
        self.out.write(f"({self.count} row{'s' if self.count != 1 else ''})\n")


def _csv_value(v: Any) -> Any:
    """A CSV cell: a list or a struct (`sources`, `topics`, `story_ids`) as JSON, which any CSV reader's user
    can parse (Python's repr, "['Koha', 'RTS']", was written before); times and bytes as JSON writes them
    (`_plain`); numbers and text as they are."""
    if v is None:
        return ""
    if isinstance(v, list | tuple | dict):
        return dumps(v)
    return _plain(v) if hasattr(v, "isoformat") or isinstance(v, bytes | bytearray) else v


def _is_regular_file(out: Any) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.fstat(out.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):   # io.StringIO (tests, notebooks): no descriptor
        return False


def _quiet_stdout() -> None:
    """After a BrokenPipeError: stdout points at /dev/null, so the interpreter's last flush cannot fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _time_limit(text: str) -> float:
    """A time limit argument: seconds, at least 0 (0: none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"seconds must be at least 0, got {text!r}")
    return value


def _config(args: argparse.Namespace) -> Config:
    return load_config(resolve_config_path(args.config))


def _stored(args: argparse.Namespace) -> Config:
    """The config of a command that works on what ingest stored: its warehouse must exist (check_exists)."""
    from warehouse import Warehouse

    config = _config(args)
    Warehouse.check_exists(config)
    return config


def _open_ro(config: Config) -> AbstractContextManager[Warehouse]:
    from warehouse import Warehouse

    return Warehouse.for_config(config, read_only=True)


# -- commands ------------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from flows.ingest import ingest, run_ingest

    config = _config(args)
    shard = f"{args.shard[0]}/{args.shard[1]}" if args.shard else None
    summary = _plain_or_flow(
        args, lambda: asyncio.run(run_ingest(config, force=args.force, shard=args.shard,
                                             settle=not args.no_settle)).as_dict(),
        lambda: dict(asyncio.run(ingest(config_path=str(config.path), force=args.force, shard=shard,
                                        settle=not args.no_settle))))   # a FlowResult: as JSON, a dict
    if args.json:
        print(dumps(summary))
        return 0
    print(format_summary(summary))
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    """Boilerplate, stories, watchlist matches and one alerts cycle for what loads without settling left."""
    from flows.ingest import run_settle, settle

    config = _stored(args)
    summary = _plain_or_flow(args, lambda: asyncio.run(run_settle(config)).as_dict(),
                             lambda: asyncio.run(settle(config_path=str(config.path))))
    if args.json:
        print(dumps(summary))
    elif summary["status"] == "skipped":
        print(f"settle skipped: {summary['note']}")
    else:
        print(f"settled: {summary['new_stories']} new stories, {summary['new_copies']} copies of known stories, "
              f"{summary['boilerplate_removed']} boilerplate paragraphs removed, {summary['matched_articles']} "
              f"articles matched" + (f"; alerts cycle: {summary['alerts']}" if summary["alerts"] else "")
              + (f"; Atom feeds: {summary['feeds']}" if summary.get("feeds") else ""))
    return 0


def _shard(text: str) -> tuple[int, int]:
    from balkanwatch.sharding import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plain_or_flow(args: argparse.Namespace, plain: Callable[[], T], flow: Callable[[], T]) -> T:
    """A command's work without Prefect (`--no-prefect`), or as its flow run (`_with_prefect`)."""
    return plain() if args.no_prefect else _with_prefect(flow)


def _with_prefect(fn: Callable[[], T]) -> T:
    """Run a flow; a Prefect API that cannot be reached becomes one clear message, not a traceback."""
    import httpx

    try:
        return fn()
    except (httpx.ConnectError, httpx.ConnectTimeout, OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "Failed to reach API" not in str(exc):
            raise
        from prefect.settings import PREFECT_API_URL

        raise BalkanwatchError(
            f"cannot reach the Prefect API at {PREFECT_API_URL.value()!r} ({exc}). Start it with `make run` "
            "(or `prefect server start`), unset PREFECT_API_URL to use a temporary local server, "
            "or pass --no-prefect to run without Prefect.") from exc


def format_summary(s: Mapping[str, Any]) -> str:
    if s["status"] == "skipped":
        return f"ingest skipped: {s['note']}"
    lines = [f"ingest run {s['run_id']}: {s['sources_polled']} sources polled, {s['sources_failed']} failed, "
             f"{s['new_articles']} new articles ({s['new_stories']} new stories, {s['new_copies']} copies of "
             f"known stories), {s['item_errors']} page errors"]
    for r in s["sources"]:
        state = "ok " if r["ok"] else "ERR"
        detail = "not modified" if r["not_modified"] else f"{r['listed']} listed, {r['new_articles']} new" + (
            f", {r['revised']} revised" if r.get("revised") else "")
        if not r["ok"]:
            detail = r["error"]
        elif r.get("silent"):
            detail += ", SILENT: nothing new for several of its usual gaps"
        lines.append(f"  [{state}] {r['name']}: {detail} (next poll {r['next_poll_at']})")
    if s.get("alerts"):
        lines.append(f"  alerts cycle: {s['alerts']}")
    if s.get("feeds"):
        lines.append(f"  Atom feeds: {s['feeds']}")
    return "\n".join(lines)


def cmd_warehouse_init(args: argparse.Namespace) -> int:
    """Create the warehouse's schema (idempotent): on a lake, once before workers start."""
    from warehouse import Warehouse

    config = _config(args)
    with Warehouse.for_config(config) as wh:
        version, where = wh.version(), wh.where
    print(f"{where}: schema version {version}")
    return 0


def cmd_warehouse_migrate(args: argparse.Namespace) -> int:
    """Copy the DuckDB file warehouse (warehouse.path, or --from) into the configured, empty lake."""
    from warehouse.migrate import migrate_to_lake

    config = _config(args)
    source = Path(args.source).expanduser() if args.source else config.warehouse_path
    with progress_bar("copying rows into the lake") as progress:
        copied = migrate_to_lake(config, source, progress)
    for table, rows in copied.items():
        print(f"{table}: {rows} rows")
    print(f"copied {source} into lake {config.lake_data_path}: {sum(copied.values())} rows in {len(copied)} tables")
    return 0


def cmd_warehouse_maintain(args: argparse.Namespace) -> int:
    """Apply the retention; flush, merge, expire and clean up the lake (a DuckDB file: CHECKPOINT); print what it did."""
    from flows.upkeep import maintain, run_maintain

    config = _stored(args)
    report = _plain_or_flow(args, lambda: run_maintain(config).as_dict(),
                            lambda: maintain(config_path=str(config.path)))
    if args.json:
        print(dumps(report))
        return 0
    from balkanwatch.maintenance import MaintenanceReport

    print("\n".join(line for line in MaintenanceReport(**report).lines() if line))
    return 0


def cmd_warehouse_snapshots(args: argparse.Namespace) -> int:
    """The lake's newest snapshots: what `sql --version N` / `--as-of` can go back to."""
    with _open_ro(_config(args)) as wh:
        rows = wh.snapshots(args.limit)
    columns = ["snapshot_id", "snapshot_time_utc", "changes", "commit_message"]
    print(render(columns, [[r[c] for c in columns] for r in rows], args.format))
    return 0


def _as_of(text: str) -> datetime:
    """An ISO time for `sql --as-of`; one without an offset is UTC, as the warehouse's own times."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r} (e.g. 2026-05-04T14:00, or with +02:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_sql(args: argparse.Namespace) -> int:
    from warehouse import Warehouse

    if args.query.lstrip().startswith("."):   # `.tables`, `.schema`: the DuckDB or sqlite3 shell's commands
        word = args.query.split()[0]
        raise BalkanwatchError(f"{word} is a command of DuckDB's shell, not SQL: here `SHOW TABLES`, "
                               "`DESCRIBE articles`, `SHOW ALL TABLES` (the tables and views: warehouse/schema.sql)")
    as_of = args.as_of if args.as_of is not None else args.version
    config = _config(args)
    timeout = config.warehouse.query_timeout if args.timeout is None else args.timeout
    writer = ResultWriter(args.format, sys.stdout)
    with Warehouse.for_config(config, read_only=True, as_of=as_of) as wh:
        wh.query_into(args.query, writer.columns, writer.rows, timeout=timeout)
    writer.finish()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    config = _config(args)
    config.require_topics(args.topic)
    with _open_ro(config) as wh:
        known = [r[0] for r in wh.query("SELECT name FROM sources ORDER BY name")[1]] if args.source else []
        if unknown := [s for s in args.source if s not in known]:   # removed from the config: still known
            raise BalkanwatchError(f"no source named {', '.join(map(repr, unknown))} in the warehouse; "
                                   f"sources: {', '.join(known) or 'none yet'}")
        hits = (wh.search_stories if args.stories else wh.search)(args.query, limit=args.limit, since=args.since,
                                                                   sources=args.source, topics=args.topic)
    cols = ["score", "published_at", "source", "title", "excerpt", "url"] + (["copies", "story_id"] if args.stories else [])
    rows = [[h[c] if c != "score" or h[c] is not None or args.format != "table" else "new" for c in cols]
            for h in hits]
    print(render(cols, rows, args.format))
    if args.format == "table" and any(h["score"] is None for h in hits):
        print("(new = added since the last index build, matched by a plain scan; `balkanwatch reindex` ranks them)")
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    """One story: what it is, then every article of it, as it joined."""
    with _open_ro(_config(args)) as wh:
        head, articles = wh.story(args.ref)
    if head is None:
        if articles:
            raise BalkanwatchError(f"{articles[0]['url']} has no story yet: it was loaded by a run that did not "
                                   "settle (`balkanwatch settle` gives it one)")
        raise BalkanwatchError(f"no story {args.ref!r}: neither a story id nor the URL of an article in the warehouse "
                               "(`balkanwatch stories` and `search --stories` show story ids)")
    if args.format == "json":
        print(dumps({**head, "articles": articles}))
        return 0
    cols = ["seen_at", "source", "publisher", "title", "url", "rule", "jaccard", "containment", "matched_url",
            "text_from"]
    if args.format == "table":
        topics = ", ".join(head["topics"]) or "none"
        print(f"{head['title']}\nstory {head['story_id']}: {head['article_count']} articles from "
              f"{len(head['publishers'])} publishers, first seen {head['first_seen_at']:%Y-%m-%d %H:%M} UTC, last "
              f"{head['last_seen_at']:%Y-%m-%d %H:%M} UTC; topics: {topics}\n")
    print(render(cols, [[a[c] for c in cols] for a in articles], args.format))
    if args.text and args.format == "table":
        print(f"\n{head['url']}\n\n{head['text']}")
    return 0


def cmd_stories(args: argparse.Namespace) -> int:
    config = _config(args)
    config.require_topics(args.topic)
    with _open_ro(config) as wh:
        cols, rows = wh.story_list(limit=args.limit, min_copies=args.min_copies, since=args.since, topics=args.topic)
    print(render(cols, rows, args.format))
    return 0


_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_SPAN_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _since(text: str) -> datetime:
    """`stories --since`, `search --since`: a span back from now (90m, 24h, 7d, 2w) or an ISO time (UTC unless it has an offset)."""
    if m := _SPAN.fullmatch(text.strip().lower()):
        return datetime.now(UTC) - timedelta(seconds=float(m[1]) * _SPAN_UNITS[m[2]])
    try:
        return _as_of(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a span or a time: {text!r} (e.g. 24h, 90m, 7d, 2w, "
                                         "or 2026-12-06T08:00)") from None


def cmd_alerts(args: argparse.Namespace) -> int:
    config = _config(args)
    config.require_topics(args.topic)
    with _open_ro(config) as wh:
        rows = wh.alert_log(args.limit, topics=args.topic, since=args.since)
    cols = ["bucket_start", "watchlist", "observed", "expected", "score", "stories", "about", "status", "attempts",
            "sent_at", "last_error", "incident_id", "rating", "rating_note"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    config = _stored(args)
    with _open_ro(config) as wh:
        rows = wh.outbox_log(args.limit, kinds=args.kind, pending=args.pending, since=args.since)
    cols = ["created_at", "kind", "subject", "recipients", "status", "attempts", "sent_at", "last_error", "message_id"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    """An Atom feed of unique stories on stdout (every story's, or a topic's); --write: every feed into feeds.dir."""
    from flows.feeds import alerts_document, document, write_feeds

    config = _stored(args)
    if args.topic and args.alerts:
        raise ConfigError("--alerts is the feed of every topic's surges: give it without --topic")
    if args.topic:
        config.require_topics([args.topic])
    if args.write:
        if config.feeds.folder(config.base_dir) is None:
            raise ConfigError(f"feeds.dir is not set in {config.path}: set it to the folder the feeds go to "
                              "(e.g. [feeds] dir = \"feeds\")")
        with _open_ro(config) as wh:
            try:
                done = write_feeds(wh, config)
            except OSError as exc:
                raise BalkanwatchError(f"feeds.dir: cannot write the feeds: {exc}") from exc
        assert done is not None
        print(f"Atom feeds in {done.folder}: {len(done.written)} written, {done.unchanged} unchanged"
              + (f", removed {', '.join(done.removed)} (topics no longer configured)" if done.removed else ""))
        return 0
    limit = args.limit or config.feeds.entries
    with _open_ro(config) as wh:
        if args.alerts:
            data = alerts_document(wh, limit)
        else:
            data = document(args.topic, wh.feed_stories([args.topic] if args.topic else [], limit)[args.topic])
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from connectors.charset import detect_encoding
    from connectors.extract import PageJob, extract_page

    target = args.target
    now = datetime.now(UTC)
    path = resolve_config_path(args.config)
    # a config named (--config, $BALKANWATCH_CONFIG) must exist; only ./balkanwatch.toml may be missing
    named = bool(args.config or os.environ.get(CONFIG_ENV))
    config = load_config(path) if named or path.exists() else Config()
    agreement = config.ingest.extractor_agreement   # the same choice of text as ingest makes
    if Path(target).exists():
        try:
            body = Path(target).read_bytes()
        except OSError as exc:   # a folder, no permission
            raise BalkanwatchError(f"{target}: cannot read it: {exc.strerror or exc}") from exc
        url = args.url or Path(target).resolve().as_uri()
        job = PageJob(source="cli", url=url, final_url=url, body=body, encoding=detect_encoding(body), fetched_at=now,
                      agreement=agreement, timeout=config.ingest.extract_timeout)
    else:
        from connectors.http import Fetcher

        if "://" not in target:   # neither a file nor a URL: most likely a mistyped path
            raise BalkanwatchError(f"{target}: no such file, and not an http(s) URL")

        async def get() -> Any:
            async with Fetcher(config.fetch) as f:
                return await f.fetch(target)

        r = asyncio.run(get())
        job = PageJob(source="cli", url=target, final_url=r.final_url, body=r.body, encoding=r.encoding, fetched_at=now,
                      agreement=agreement, timeout=config.ingest.extract_timeout)
    art = extract_page(job)
    out = {"title": art.title, "author": art.author, "published": art.published_at, "published_from": art.published_from,
           "language": art.language, "site_name": art.site_name, "url": art.url, "canonical_url": art.canonical_url,
           "encoding": art.encoding, "content_hash": art.content_hash, "extractor_version": art.extractor_version,
           "text_from": art.text_from, "text": art.text}
    if args.json:
        print(dumps(out))
    else:
        print(f"{out['title']}\n{out['author'] or ''} {out['published'] or ''}\n\n{out['text']}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from warehouse import Warehouse

    config = _stored(args)
    lake = config.warehouse.backend == "ducklake"
    # a lake's index is a local file: building it needs no write to the lake (nor its writer lock), only this
    # machine's index lock, so as not to build beside ingest's refresh (waited for, as a run waits for its lock)
    with (Warehouse.lake_index_lock(config, timeout=config.warehouse.lock_timeout) if lake else nullcontext()), \
            Warehouse.for_config(config, read_only=lake) as wh:
        wh.rebuild_fts()
        indexed, _, _ = wh.fts_coverage()
    print(f"full-text index rebuilt over {indexed} articles")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open_ro(_config(args)) as wh:
        files = wh.export_parquet(args.parquet)
    for f in files:
        print(f)
    return 0


def cmd_sources_list(args: argparse.Namespace) -> int:
    with _open_ro(_config(args)) as wh:
        rows = wh.source_health()
    cols = ["name", "country", "source_type", "language", "health", "poll_minutes", "consecutive_failures",
            "last_success_at", "last_new_item_at", "next_poll_at", "articles", "last_error", "last_warning"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    return 0


def cmd_import_opml(args: argparse.Namespace) -> int:
    from balkanwatch.opml import append_sources, read_opml

    path = resolve_config_path(args.config)
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        raise BalkanwatchError(f"{args.file}: cannot read it: {exc.strerror or exc}") from exc
    feeds = read_opml(body)
    added = _appended(path, lambda: append_sources(path, feeds, language=args.language))
    print(f"added {len(added)} of {len(feeds)} feeds to {path}")
    for name in added:
        print(f"  + {name}")
    return 0


def _appended(path: Path, append: Callable[[], T]) -> T:
    """`append`'s result, once what it appended to the config file at `path` loads; when it does not, the
    file is put back as it was (none, when there was none) and the ConfigError raised."""
    before = path.read_text(encoding="utf-8") if path.exists() else None
    done = append()
    try:
        load_config(path)
    except ConfigError:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(before, encoding="utf-8")
        raise
    return done


def cmd_sources_add(args: argparse.Namespace) -> int:
    """Discover the site's feed, check it once, append it to the config; the config is unchanged on failure."""
    from urllib.parse import urlsplit

    from balkanwatch.escaping import one_line
    from balkanwatch.opml import append_sources
    from balkanwatch.urls import normalise_url
    from flows.discovery import discover

    path = resolve_config_path(args.config)
    config = load_config(path)
    found = asyncio.run(discover(args.url, config.fetch))
    if normalise_url(found.url) in {s.address for s in config.sources}:
        raise ConfigError(f"{found.url} is already a source in {path}")
    name = args.name or one_line(found.title or "", 80) or urlsplit(found.url).netloc
    [added] = _appended(path, lambda: append_sources(path, [(name, found.url)], language=args.language,
                                                     key=found.kind))
    print(f"added {found.kind} source {added!r}: {found.url}")
    print(f"  checked: {found.items} items, newest {found.newest or 'undated'}, title {found.title or '(none)'!r}")
    return 0


def cmd_reextract(args: argparse.Namespace) -> int:
    from flows.maintenance import reextract

    config = _stored(args)
    with progress_bar("re-extracting pages") as progress:
        n = reextract(config, everything=args.all, progress=progress)
    print(f"re-extracted {n} articles")
    from warehouse import Warehouse

    with Warehouse.for_config(config, read_only=True) as wh:
        unreachable = wh.articles_without_raw_page()
    if unreachable:
        print(f"{unreachable} articles have no raw page any more (warehouse.keep_raw_pages_days): they keep their text")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from deployments.serve import serve

    config = _config(args)
    _with_prefect(lambda: serve(config))
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    from flows.alerts import alerts, run_alerts

    config = _stored(args)
    summary = _plain_or_flow(args, lambda: run_alerts(config).as_dict(),
                             lambda: alerts(config_path=str(config.path)))
    if args.json:
        print(dumps(summary))
        return 0
    print(f"alerts: {summary['matched_articles']} articles matched, {len(summary['spikes'])} new spikes in "
          f"{summary['incidents']} incidents, {summary['queued']} e-mails queued, {summary['sent']} sent")
    for sp in summary["spikes"]:
        print(f"  {sp['watchlist']}: {sp['observed']:.0f} stories (expected {sp['expected']}) at {sp['bucket']} UTC, "
              f"score {sp['score']}")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    """An analyst's verdict on an alert (its incident id from the e-mail or `alerts`, or one alert id)."""
    from flows.verdicts import rate_alerts

    rated = rate_alerts(_stored(args), args.alert, args.verdict, args.note or "", args.topic)
    print(f"rated {args.verdict}: {', '.join(rated)}")
    return 0


def cmd_missed(args: argparse.Namespace) -> int:
    """A surge the desk wanted an alert for and got none: the misses beside the rated alerts."""
    from flows.verdicts import note_missed

    at = note_missed(_stored(args), args.topic, args.when, args.note or "")
    print(f"noted: {args.topic} should have alerted about {at:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_rematch(args: argparse.Namespace) -> int:
    from flows.mentions import match_mentions
    from warehouse import Warehouse

    config = _stored(args)
    with Warehouse.for_config(config) as wh:
        wh.forget_mentions()
        with progress_bar("matching articles") as progress:
            n = match_mentions(wh, config.watchlists, progress)
        cols, rows = wh.query("SELECT watchlist, count(*) AS articles FROM mentions GROUP BY 1 ORDER BY 1")
    print(f"matched {n} articles against {len(config.watchlists)} watchlists")
    print(render(cols, rows, "table"))
    return 0


def _rate(text: str) -> float:
    """An alert budget for `spikes score`: positive, and no more than its cooldown (the default) allows."""
    value = _positive(text)
    most = most_alerts_per_month(AlertsSettings.cooldown_hours)
    if value > most:
        raise argparse.ArgumentTypeError(f"at most {most:g} alerts a month (one a day, the cooldown), got {text!r}")
    return value


def _rate_list(text: str) -> list[float]:
    """`--budgets 1,2,4,8`: alert budgets, each as `_rate` takes one."""
    return [_rate(part) for part in text.split(",") if part.strip()] or [_rate(text)]


def _term_group(text: str) -> list[str]:
    """`--all-of-any "border,granic*"`: one group of watchlist terms, comma-separated."""
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if not terms:
        raise argparse.ArgumentTypeError(f"no terms in {text!r} (give them comma-separated: border,granic*)")
    return terms


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds > 0, got {text!r}")
    return value


def _hours_list(text: str) -> tuple[float, ...]:
    try:
        hours = tuple(float(part) for part in text.split(","))
    except ValueError:
        hours = ()
    if not hours or any(h <= 0 for h in hours):
        raise argparse.ArgumentTypeError(f"expected positive hours separated by commas, got {text!r}")
    return hours


def cmd_spikes_score(args: argparse.Namespace) -> int:
    from balkanwatch.spikes import SpikeSettings, read_series, score_series, span_seconds, write_scores

    try:
        with open(args.csv, encoding="utf-8", newline="") as f:
            series = read_series(f, args.bucket_seconds)
    except (OSError, ValueError) as exc:
        raise BalkanwatchError(f"{args.csv}: {exc}") from exc
    if series.filled:
        print(f"{args.csv}: {series.filled} buckets of {series.bucket_seconds} s had no row and count as 0 "
              "(scores and alerts are written for the file's rows only)", file=sys.stderr)
    chosen = {"alerts_per_month": args.alerts_per_month,
              "scale_seconds": args.surge_hours and span_seconds(args.surge_hours)}
    settings = SpikeSettings(bucket_seconds=series.bucket_seconds,
                             **{k: v for k, v in chosen.items() if v is not None})
    scored = series.per_row(score_series(series.values, settings))
    explain = series.bucket_seconds if args.explain else 0
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8", newline="") as f:
                write_scores(f, series.stamps, scored, explain)
        except OSError as exc:   # a folder, a missing folder, no permission: said, not a traceback
            raise BalkanwatchError(f"{args.out}: cannot write the scores: {exc.strerror or exc}") from exc
    else:
        write_scores(sys.stdout, series.stamps, scored, explain)
    return 0


def cmd_spikes_backtest(args: argparse.Namespace) -> int:
    from balkanwatch.alerting import kept_of, replay_verdicts
    from flows.maintenance import backtest

    config = _config(args)
    with _open_ro(config) as wh, progress_bar("scoring topics") as progress:
        rows = backtest(wh, config, progress=progress)
        first = wh.first_story_time() if args.per_topic else None
        rated = wh.rated_alerts()
        missed = wh.missed_surges()
    matched, kept = replay_verdicts([(str(r["watchlist"]), r["bucket_start"]) for r in rows], rated,
                                    timedelta(hours=config.alerts.cooldown_hours), missed)
    if args.per_topic:
        from balkanwatch.alerting import budget_check
        from balkanwatch.spikes import MONTH_SECONDS
        from warehouse.store import utcnow

        months = (utcnow() - first).total_seconds() / MONTH_SECONDS if first else 0.0
        summary = budget_check([str(r["watchlist"]) for r in rows], config.topic_budgets(), months)
        for r in summary:   # the desk's verdicts: how many of its rated alerts this replay raises again
            k = kept.get(str(r["watchlist"]), {})
            r["useful_kept"], r["noise_kept"], r["missed_caught"] = (kept_of(k, v) for v in ("useful", "noise", "missed"))
        cols = ["watchlist", "budget_a_month", "alerts", "months", "alerts_a_month", "useful_kept", "noise_kept",
                "missed_caught"]
        print(render(cols, [[r[c] for c in cols] for r in summary], args.format))
        return 0
    for r, verdict in zip(rows, matched, strict=True):
        r["rated"] = verdict or ""
    cols = ["bucket_start", "watchlist", "window_start", "observed", "expected", "ordinary_peak", "usual_per_day",
            "score", "once_in_months", "why", "stories", "rated", "first_titles"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    return 0


def cmd_spikes_budgets(args: argparse.Namespace) -> int:
    from balkanwatch.alerting import BUDGETS
    from flows.maintenance import budget_replays

    config = _config(args)
    config.require_topics(args.topic)
    with _open_ro(config) as wh, progress_bar("replaying topics") as progress:
        rows = budget_replays(wh, config, args.budgets or BUDGETS, topics=args.topic, progress=progress)
    cols = ["watchlist", "budget_a_month", "alerts", "alerts_a_month", "useful_kept", "noise_kept", "missed_caught",
            "note"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    if args.format == "table" and not any(r["useful_kept"] or r["noise_kept"] or r["missed_caught"] for r in rows):
        print("No alert of these topics is rated and no surge noted as missed, so no budget is suggested: "
              "`balkanwatch rate ID useful|noise` (the line at the end of each alert e-mail) and `balkanwatch missed "
              "TOPIC WHEN` give the replays something to keep.")
    return 0


def cmd_topics_list(args: argparse.Namespace) -> int:
    from balkanwatch.alerting import RECENT_ALERT_DAYS, topic_overview
    from flows.alerts import history_start, series_by_topic
    from flows.maintenance import suggested_budgets
    from warehouse.store import utcnow

    config = _stored(args)
    now = utcnow()
    with _open_ro(config) as wh:
        series = series_by_topic(wh, config, history_start(wh, config, now), now)
        since = now - timedelta(days=RECENT_ALERT_DAYS)
        rows = topic_overview(list(series.values()), {w: wh.alert_buckets(w, since) for w in series},
                              config.topic_budgets(), wh.alert_verdicts(since), suggested_budgets(wh, config, now),
                              wh.last_alert_about(since))
    cols = ["watchlist", "stories_7d", "expected_7d", "usual_per_day", "now", "alerts_recent", "rated", "budget",
            "last_alert", "last_alert_about"]
    print(render(cols, [[r[c] for c in cols] for r in rows], args.format))
    return 0


def cmd_rising(args: argparse.Namespace) -> int:
    """Words rising in the last day (or --since) against the weeks before, of every story or of a topic's."""
    from flows.maintenance import rising_words
    from warehouse.base import utc_naive

    config = _stored(args)
    config.require_topics(args.topic)
    now = datetime.now(UTC).replace(tzinfo=None)
    since = utc_naive(args.since) if args.since else now - timedelta(hours=24)
    if since >= now:
        raise ConfigError(f"--since {since:%Y-%m-%d %H:%M} is not in the past")
    if args.baseline_days * 86400 < (now - since).total_seconds():
        raise ConfigError("--baseline-days must cover at least one window as long as --since's")
    with _open_ro(config) as wh:
        report = rising_words(wh, span=now - since, topics=args.topic or None, baseline_days=args.baseline_days,
                              limit=args.limit, now=now)
    if args.format == "json":
        print(dumps(report))
        return 0
    cols = ["word", "with", "stories", "sources", "stories_before", "usual", "busiest_before", "surprise", "topics",
            "examples"]
    rows = [[r["word"], " ".join(r["with"]), *(r[c] for c in cols[2:-2]), ", ".join(r["topics"]) or "—",
             " | ".join(r["examples"])] for r in report["words"]]
    if args.format == "csv":     # folded words, as before; as the stories write them last
        print(render([*cols, "as_written"], [[*row, ", ".join(r["as_written"])] for row, r in
                                               zip(rows, report["words"], strict=True)], "csv"))
        return 0
    # the table shows the words as the stories write them: "Banjska monastery", not "banjska" with "monastery"
    rows = [[r["as_written"][0], ", ".join(r["as_written"][1:]), *row[2:]]
            for row, r in zip(rows, report["words"], strict=True)]
    of = f" of topic{'s' * (len(args.topic) > 1)} {', '.join(map(repr, args.topic))}" if args.topic else ""
    n, e = report["rising_words"], report["events"]
    print(f"{n} rising word{'' if n == 1 else 's'} ({e} event{'' if e == 1 else 's'}: the words of nearly the same stories "
          f"are one row) in the {report['stories']} stories{of} since {report['start']:%Y-%m-%d %H:%M} UTC, against the "
          f"{report['stories_before']} stories of the {report['blocks']} periods as long before. A word rises in 3 "
          "stories or more from 2 sources or more, in at least twice as many as in its busiest period before, and "
          "improbably many at its usual share (surprise: -log10 of that chance).")
    if rows:
        print(render(cols, rows, "table"))
    return 0


def cmd_topics_add(args: argparse.Namespace) -> int:
    """Append a watchlist to the config (as `topics try` tried it); the config is unchanged on failure."""
    from balkanwatch.config import WatchlistSettings, check_budget
    from balkanwatch.opml import append_watchlist

    path = resolve_config_path(args.config)
    config = load_config(path)
    if any(w.name == args.name for w in config.watchlists):
        raise ConfigError(f"{args.name!r} is already a watchlist in {path}: edit its [[watchlists]] entry there")
    topic = WatchlistSettings(name=args.name, any=args.any, all_of_any=args.all_of_any or [], none=args.none or [],
                              alerts_per_month=args.alerts_per_month or 0.0, every_story=args.every_story,
                              email_to=args.email_to or [])
    if topic.alerts_per_month:
        check_budget("--alerts-per-month", topic.alerts_per_month, config.alerts.cooldown_hours)
    _appended(path, lambda: append_watchlist(path, topic))
    print(f"added topic {args.name!r} to {path}: any {topic.any}"
          + (f", all_of_any {topic.all_of_any}" if topic.all_of_any else "")
          + (f", none {topic.none}" if topic.none else ""))
    print("  the next alerts cycle matches it against every stored article (or now: balkanwatch rematch); "
          "a running `serve` reads the config at its next run")
    return 0


def cmd_topics_try(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from balkanwatch.config import WatchlistSettings, check_budget
    from flows.maintenance import try_topic

    config = _stored(args)
    base = next((w for w in config.watchlists if w.name == args.name), WatchlistSettings(name=args.name))
    given = {"any": args.any, "all_of_any": args.all_of_any, "none": args.none,
             "alerts_per_month": args.alerts_per_month}
    candidate = replace(base, **{k: v for k, v in given.items() if v is not None})
    if not candidate.any:
        raise ConfigError(f"{args.name!r} is no watchlist of {config.path or 'the config'}: give its terms with "
                          "--any (and --all-of-any, --none)")
    check_budget("--alerts-per-month", candidate.alerts_per_month, config.alerts.cooldown_hours)
    with _open_ro(config) as wh, progress_bar("matching articles") as progress:
        try:
            report = try_topic(wh, config, candidate, examples=args.examples, since=args.since, progress=progress)
        except ValueError as exc:     # a term of no letters or digits, as the config would refuse it
            raise ConfigError(f"topic {args.name!r}: {exc}") from exc
    if args.format == "json":
        print(dumps(report))
        return 0
    if not report["articles"]:
        print("the warehouse holds no articles with a story yet: nothing to try the topic on (ingest first)")
        return 0
    d = report["definition"]
    print(f"topic {report['topic']!r}: any {d['any']}" + (f", all_of_any {d['all_of_any']}" if d["all_of_any"] else "")
          + (f", none {d['none']}" if d["none"] else ""))
    print(f"{report['stories']} stories ({report['matched_articles']} of {report['articles']} articles) since "
          f"{report['history_start']:%Y-%m-%d %H:%M}: {report['stories_a_day']} a day; "
          f"{report['excluded_stories']} kept out by its none terms")
    n = len(report["alerts"])
    rate = f"{report['alerts_a_month']} a month; " if report["alerts_a_month"] is not None else ""
    print(f"{n} alert{'' if n == 1 else 's'} over the history ({rate}budget {report['budget_a_month']:g} a month)")
    sections: list[tuple[str, list[dict[str, Any]], list[str]]] = [
        ("terms", report["terms"], ["part", "term", "stories", "share", "same_as", "words"]),
        ("stories shared with the configured topics", report["overlap"], ["topic", "shared_stories", "share"]),
        ("alerts it would have raised", report["alerts"],
         ["bucket_start", "observed", "expected", "once_in_months", "why", "stories", "first_titles"]),
        ("newest stories", report["examples"], ["first_seen_at", "title", "terms", "story_id"]),
        ("newest stories its none terms keep out", report["excluded_examples"],
         ["first_seen_at", "title", "kept_out_by", "story_id"])]
    for title, rows, cols in sections:
        if rows:
            print(f"\n{title}:")
            print(render(cols, [[r[c] for c in cols] for r in rows], "table"))
    if not any(w.name == args.name for w in config.watchlists):
        print(f"\nto configure it: {_add_command(candidate)}")
    return 0


def _add_command(w: Any) -> str:
    """The `balkanwatch topics add` command line that configures watchlist `w` (shell-quoted)."""
    import shlex

    words = ["balkanwatch", "topics", "add", w.name, "--any", *w.any]
    for group in w.all_of_any:
        words += ["--all-of-any", ",".join(group)]
    if w.none:
        words += ["--none", *w.none]
    if w.alerts_per_month:
        words += ["--alerts-per-month", f"{w.alerts_per_month:g}"]
    return shlex.join(words)


def cmd_dedupe_backtest(args: argparse.Namespace) -> int:
    from dataclasses import fields, replace

    from balkanwatch.dedupe import SHIPPED
    from flows.maintenance import dedupe_backtest

    given = {f.name: getattr(args, f.name) for f in fields(SHIPPED) if getattr(args, f.name) is not None}
    proposed = replace(SHIPPED, **given)
    with progress_bar("re-clustering (shipped, then proposed)") as progress:
        report = dedupe_backtest(_stored(args), proposed, examples=args.examples, progress=progress)
    if args.format == "json":
        print(dumps(report))
        return 0
    print(f"{report['articles']} articles; shipped thresholds {report['shipped']}, proposed {report['proposed']}")
    print(f"stories: {report['stories_shipped']} → {report['stories_proposed']}; same-story pairs: "
          f"{report['pairs_shipped']} → {report['pairs_proposed']} (+{report['pairs_added']} merged, "
          f"−{report['pairs_removed']} split); {report['articles_moved']} articles would change company")
    if report["examples"]:
        cols = list(report["examples"][0])
        print(render(cols, [[e[c] for c in cols] for e in report["examples"]], "table"))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from importlib import resources

    target = Path(args.path)
    if target.exists() and not args.force:
        raise ConfigError(f"{target} exists (use --force to overwrite)")
    target.write_text((resources.files("balkanwatch") / "default.toml").read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="balkanwatch", description=__doc__)
    p.add_argument("--config", help="config file (default: $BALKANWATCH_CONFIG, then ./balkanwatch.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="run one ingest cycle now, as a Prefect flow run")
    s.add_argument("--force", action="store_true", help="poll every source, due or not")
    s.add_argument("--json", action="store_true", help="print the run summary as JSON")
    s.add_argument("--no-prefect", action="store_true", help="run without Prefect (no UI record, no artifacts)")
    s.add_argument("--shard", type=_shard, metavar="K/N",
                   help="poll only shard K of N (sources assigned by host; balkanwatch/sharding.py)")
    s.add_argument("--no-settle", action="store_true",
                   help="only load: leave boilerplate, stories, watchlists and alerts to `settle` (shard runs)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("settle", help="settle what load-only runs left: boilerplate, stories, watchlists, alerts")
    s.add_argument("--json", action="store_true", help="print the counts as JSON")
    s.add_argument("--no-prefect", action="store_true", help="run without Prefect (no UI record)")
    s.set_defaults(func=cmd_settle)

    s = sub.add_parser("sql", help="run SQL on a read-only, sandboxed connection to the warehouse")
    s.add_argument("query", help="one SQL statement (the tables and views: warehouse/schema.sql, README)")
    _format_option(s)
    s.add_argument("--timeout", type=_time_limit, metavar="SECONDS",
                   help="stop the query after this long (default: warehouse.query_timeout; 0: no limit)")
    when = s.add_mutually_exclusive_group()
    when.add_argument("--as-of", type=_as_of, metavar="TIME",
                      help="DuckLake only: the lake as it was at TIME (ISO; UTC unless it has an offset)")
    when.add_argument("--version", type=int, metavar="N",
                      help="DuckLake only: the lake as it was at snapshot N (`warehouse snapshots` lists them)")
    s.set_defaults(func=cmd_sql)

    s = sub.add_parser("search", help="full-text search (BM25) over article titles and text")
    s.add_argument("query", help='words to rank by; "a phrase" must occur, -word must not (README: search)')
    _limit_option(s, 20, "hits")
    _format_option(s)
    s.add_argument("--stories", action="store_true",
                   help="one hit per story (its best-ranked article, with the story's copies): a wire story once")
    _since_option(s, "articles published since then (fetched, when the date is unknown)")
    s.add_argument("--source", action="append", default=[], metavar="NAME",
                   help="only this source's articles (repeat it for any of several)")
    _topic_option(s, "articles of stories a watchlist matched (any copy of the story, as `stories --topic`)")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("story", help="one story: every article of it (sources, times, how each joined)")
    s.add_argument("ref", metavar="STORY_ID_OR_URL",
                   help="a story id (`stories`, `search --stories`), or the URL of any of its articles (an e-mail's link)")
    s.add_argument("--text", action="store_true", help="also print the first article's text (table format)")
    _format_option(s)
    s.set_defaults(func=cmd_story)

    s = sub.add_parser("stories", help="recent stories with their origin source and copy counts")
    _limit_option(s, 30, "stories, newest first")
    s.add_argument("--min-copies", type=count, default=0, help="only stories with at least this many copies")
    _topic_option(s, "stories a watchlist matched")
    _since_option(s, "stories first seen since then")
    _format_option(s)
    s.set_defaults(func=cmd_stories)

    s = sub.add_parser("extract", help="extract one page (file or URL) exactly as ingest does")
    s.add_argument("target", metavar="FILE_OR_URL", help="a saved HTML or PDF page, or an http(s) URL to fetch")
    s.add_argument("--url", help="the page's URL, when TARGET is a file")
    s.add_argument("--json", action="store_true", help="print title, author, published, language, text, … as JSON")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("reindex", help="rebuild the full-text index now (ingest does it when the tail grows)")
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("export", help="export the warehouse tables as Parquet files")
    s.add_argument("--parquet", required=True, metavar="DIR",
                   help="folder for one TABLE.parquet per table and view (raw pages left out); made if missing")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("reextract", help="re-run extraction on stored raw pages (after an extractor upgrade)")
    s.add_argument("--all", action="store_true", help="every page, not only those from another extractor version")
    s.set_defaults(func=cmd_reextract)

    s = sub.add_parser("serve", help="serve the scheduled deployments (ingest every schedule.ingest_every_minutes)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("init", help="write the default config (KFOR / Western Balkans sources)")
    s.add_argument("path", nargs="?", default="balkanwatch.toml", help="where to write it (default: %(default)s)")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("dedupe-backtest", help="re-cluster the warehouse with candidate thresholds; show what would change")
    s.add_argument("--jaccard", type=float, help="Jaccard at or above which two articles are copies")
    s.add_argument("--containment", type=float, help="containment of the smaller in the larger for truncated copies")
    s.add_argument("--shared", type=int, help="sampled shingles a containment match must share")
    s.add_argument("--min-sketch", type=int, help="sketches smaller than this never match")
    s.add_argument("--examples", type=count, default=20, help="articles that would move, listed")
    _format_option(s, ("table", "json"))
    s.set_defaults(func=cmd_dedupe_backtest)

    s = sub.add_parser("alert", help="run one alerts cycle now: detect spikes, send e-mails (outbox first)")
    s.add_argument("--json", action="store_true", help="print the cycle summary as JSON")
    s.add_argument("--no-prefect", action="store_true", help="run without Prefect (no UI record, no artifacts, no events)")
    s.set_defaults(func=cmd_alert)
    s = sub.add_parser("alerts", help="recorded alerts, newest first, and whether their e-mail went out (read-only)")
    _limit_option(s, 50, "alerts, newest first")
    _topic_option(s, "this watchlist's alerts")
    _since_option(s, "alerts of surges since then")
    _format_option(s)
    s.set_defaults(func=cmd_alerts)

    s = sub.add_parser("outbox", help="every e-mail the alerts queued (surges, new stories, digests, notices), newest "
                                      "first, and whether it went out (read-only)")
    _limit_option(s, 50, "e-mails, newest first")
    s.add_argument("--kind", action="append", default=[], choices=EMAIL_KINDS,
                   help="only e-mails of this kind (repeat it for any of several)")
    s.add_argument("--pending", action="store_true", help="only the e-mails not sent yet (and why)")
    _since_option(s, "e-mails queued since then")
    _format_option(s)
    s.set_defaults(func=cmd_outbox)

    s = sub.add_parser("feed", help="an Atom feed of unique stories (every story's, or a topic's) for a feed reader; "
                                    "--write: every feed into feeds.dir now")
    s.add_argument("--topic", metavar="NAME", default=None, help="the feed of this watchlist (default: every story)")
    s.add_argument("--alerts", action="store_true",
                   help="the feed of surges instead: one entry per alert e-mail, newest first (alerts.atom)")
    s.add_argument("--limit", type=count, default=0,
                   help="stories (or surges) in the feed, newest first (default: feeds.entries)")
    s.add_argument("--write", action="store_true", help="write every feed (all.atom, alerts.atom, "
                   "topics/<topic>.atom, feeds.opml) into feeds.dir, as ingest does")
    s.set_defaults(func=cmd_feed)

    s = sub.add_parser("rising", help="words suddenly in many more stories than in the weeks before (new names, "
                                      "places): what the news is about that no watchlist names yet (read-only)")
    _since_option(s, "the stories first seen since then (default: 24h), against as long periods before")
    _topic_option(s, "the stories this watchlist matched, counted against its own weeks before (a desk's digest "
                     "reads its topics' so)")
    s.add_argument("--baseline-days", type=float, default=28.0, metavar="DAYS",
                   help="days before the window that say what is usual (default: %(default)s)")
    _limit_option(s, 20, "words, most surprising first (0: all)")
    _format_option(s)
    s.set_defaults(func=cmd_rising)

    s = sub.add_parser("rate", help="say whether an alert was worth it (useful or noise): kept with the alert, the "
                                    "labels the detector can be judged on")
    s.add_argument("alert", metavar="ID", help="the incident id of the alert's e-mail (inc-…) or an alert id "
                                               "(topic@time, from `alerts --format json`)")
    s.add_argument("verdict", choices=("useful", "noise"),
                   help="useful (the surge was news to the desk) or noise (it should not have alerted)")
    s.add_argument("--note", default="", help="why, in a few words (kept with the verdict)")
    _topic_option(s, "the alerts of this topic, of an incident over several")
    s.set_defaults(func=cmd_rate)

    s = sub.add_parser("missed", help="note a surge the desk wanted an alert for and got none (beside `rate`: what "
                                      "a replay of the detector is judged on)")
    s.add_argument("topic", metavar="TOPIC", help="the watchlist that should have alerted")
    s.add_argument("when", type=_since, metavar="WHEN",
                   help="about when: an ISO time (UTC unless it has an offset), or how long ago (90m, 6h, 2d)")
    s.add_argument("--note", default="", help="what the surge was, in a few words")
    s.set_defaults(func=cmd_missed)

    s = sub.add_parser("rematch", help="match every article against the current watchlists again")
    s.set_defaults(func=cmd_rematch)

    spk = sub.add_parser("spikes", help="score a count series from CSV, or replay the warehouse's alerts")
    spsub = spk.add_subparsers(dest="spikes_command", required=True)
    s = spsub.add_parser("score", help="read timestamp,value CSV; write timestamp,value,score,alert")
    s.add_argument("--csv", required=True, help="input CSV with a header and columns timestamp,value")
    s.add_argument("--out", help="write here instead of standard output")
    s.add_argument("--bucket-seconds", type=_seconds, default=None,
                   help="bucket width (default: read from the timestamps; buckets without a row count as 0)")
    s.add_argument("--alerts-per-month", type=_rate, metavar="RATE",
                   help="about how many alerts a month, on the most outstanding surges (default 4, as "
                        "alerts.alerts_per_month)")
    s.add_argument("--surge-hours", type=_hours_list, help="spans a surge is judged over, e.g. 1,3,12 (default: 1,3)")
    s.add_argument("--explain", action="store_true",
                   help="also write span_hours, observed, ordinary_peak and once_in_months: why each row scores as it does")
    s.set_defaults(func=cmd_spikes_score)
    s = spsub.add_parser("backtest", help="replay the warehouse's history; list the alerts it would have sent")
    _format_option(s)
    s.add_argument("--per-topic", action="store_true",
                   help="one row per topic instead: its alerts over the history against its budget a month")
    s.set_defaults(func=cmd_spikes_backtest)
    s = spsub.add_parser("budgets", help="replay every topic at several budgets against the desk's verdicts "
                                         "(rate, missed): which alerts_per_month keeps what it asked for")
    _format_option(s)
    s.add_argument("--budgets", type=_rate_list, metavar="RATES",
                   help="alerts a month to replay at, e.g. 1,2,4,8,16 (the default; the topic's own is added)")
    _topic_option(s, "this topic's replays")
    s.set_defaults(func=cmd_spikes_budgets)

    wsub = sub.add_parser("warehouse", help="manage the warehouse itself (file or DuckLake lake)")
    wsub_cmds = wsub.add_subparsers(dest="warehouse_command", required=True)
    s = wsub_cmds.add_parser("init", help="create the schema (idempotent); on a lake, before workers start")
    s.set_defaults(func=cmd_warehouse_init)
    s = wsub_cmds.add_parser("migrate", help="copy a DuckDB file warehouse into a new, empty DuckLake lake")
    s.add_argument("--to-lake", action="store_true", required=True,
                   help="into the lake of the config's [warehouse] (backend = \"ducklake\")")
    s.add_argument("--from", dest="source", default="", help="the DuckDB file (default: the config's warehouse.path)")
    s.set_defaults(func=cmd_warehouse_migrate)
    s = wsub_cmds.add_parser("maintain", help="delete raw pages and fetch-log rows past their retention; flush "
                                              "inlined rows, merge small files, expire old snapshots, delete "
                                              "unneeded files (a lake; a DuckDB file is checkpointed)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--no-prefect", action="store_true", help="run without Prefect (no UI record, no artifact)")
    s.set_defaults(func=cmd_warehouse_maintain)
    s = wsub_cmds.add_parser("snapshots", help="the lake's newest snapshots: id, time, what changed (read-only)")
    _limit_option(s, 20, "snapshots, newest first")
    _format_option(s)
    s.set_defaults(func=cmd_warehouse_snapshots)

    tsub = _listing_group(sub, "topics", "every topic's last week against its usual volume, or try a watchlist on "
                                         "the stored articles before adding it",
                          "every topic: stories in 7 days, expected, usual a day, now, alerts, budget", cmd_topics_list)
    s = tsub.add_parser("try", help="what a watchlist (configured or not) makes of the stored articles: stories a "
                                    "day, what each term brings or keeps out, alerts it would have raised")
    s.add_argument("name", help="the topic's name: a configured watchlist (its terms unless given here) or a new one")
    s.add_argument("--any", nargs="+", metavar="TERM", help="terms of which one must occur (replaces the configured ones)")
    s.add_argument("--all-of-any", action="append", type=_term_group, metavar="T1,T2",
                   help="a group of terms of which one must also occur; repeat for several groups (replaces the "
                        "configured groups)")
    s.add_argument("--none", nargs="*", metavar="TERM",
                   help="terms that keep a text out (replaces the configured ones; --none alone: none)")
    s.add_argument("--alerts-per-month", type=_positive, metavar="RATE",
                   help="the budget the alerts are replayed at (default: the topic's, else alerts.alerts_per_month)")
    s.add_argument("--examples", type=count, default=10, metavar="N",
                   help="show the N newest stories, and the N newest it keeps out (default: %(default)s)")
    _since_option(s, "the stories first seen since then (the trial reads every article's text: on a large "
                     "warehouse, 90d is quicker)")
    _format_option(s)
    s.set_defaults(func=cmd_topics_try)

    s = tsub.add_parser("add", help="append a watchlist to the config, as `topics try` tried it (the config is "
                                    "unchanged when the entry would not load)")
    s.add_argument("name", help="the new topic's name (not a configured watchlist's)")
    s.add_argument("--any", nargs="+", required=True, metavar="TERM", help="terms of which one must occur")
    s.add_argument("--all-of-any", action="append", type=_term_group, metavar="T1,T2",
                   help="a group of terms of which one must also occur; repeat for several groups")
    s.add_argument("--none", nargs="*", metavar="TERM", help="terms that keep a text out")
    s.add_argument("--alerts-per-month", type=_positive, metavar="RATE",
                   help="the topic's own alert budget (default: alerts.alerts_per_month)")
    s.add_argument("--every-story", action="store_true", help="also e-mail every new story of the topic as it comes")
    s.add_argument("--email-to", nargs="+", metavar="ADDRESS",
                   help="recipients of this topic's alerts instead of alerts.email_to (a desk)")
    s.set_defaults(func=cmd_topics_add)

    ssub = _listing_group(sub, "sources", "list sources with their health, or import feeds from OPML",
                          "sources and their health", cmd_sources_list)
    s = ssub.add_parser("add", help="find a site's feed (or sitemap), check it once, append it to the config")
    s.add_argument("url", help="the site's homepage, a section page, or a feed")
    s.add_argument("--name", default="", help="the source's name (default: the feed's title)")
    s.add_argument("--language", default="", help="language to set on the new source")
    s.set_defaults(func=cmd_sources_add)
    s = ssub.add_parser("import-opml", help="add the feeds of an OPML file to the config")
    s.add_argument("file", help="an OPML file (a feed reader's export)")
    s.add_argument("--language", default="", help="language to set on the imported sources")
    s.set_defaults(func=cmd_import_opml)
    return p


def _listing_group(sub: Any, name: str, what: str, list_help: str,
                   func: Callable[[argparse.Namespace], int]) -> Any:
    """A command that lists when given alone (`balkanwatch sources`) or as `NAME list`, and has other
    subcommands: the subcommands' parsers, to add those to."""
    group = sub.add_parser(name, help=what)
    _format_option(group)
    group.set_defaults(func=func)
    subs = group.add_subparsers(dest=f"{name}_command")
    s = subs.add_parser("list", help=list_help)
    _format_option(s)
    s.set_defaults(func=func)
    return subs


def _limit_option(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    parser.add_argument("--limit", type=count, default=default, metavar="N",
                        help=f"show at most N {what} (default: %(default)s)")


def _since_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--since", type=_since, metavar="WHEN",
                        help=f"only {what}: 90m, 24h, 7d, 2w, or an ISO time (UTC unless it has an offset)")


def _topic_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--topic", action="append", default=[], metavar="NAME",
                        help=f"only {what} (repeat it for any of several)")


def _format_option(parser: argparse.ArgumentParser, choices: tuple[str, ...] = FORMATS) -> None:
    parser.add_argument("--format", choices=choices, default="table",
                        help="table for reading; csv or json for other programs (default: %(default)s)"
                        if "csv" in choices else "table for reading; json for other programs (default: %(default)s)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before Prefect is imported (its settings are read then); a no-op for a caller that imported it already.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_SECONDS))
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()   # here, not at the interpreter's exit, where a reader gone away is a traceback
        return code
    except BrokenPipeError:
        # The reader of a pipe went away (`balkanwatch alerts | head -3`): the command has said what was
        # read, as other command-line tools end then; quietly, exit 0, as `sql` does (ResultWriter.finish).
        _quiet_stdout()
        return 0
    except BalkanwatchError as exc:
        print(f"balkanwatch: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:   # not a file the command was given or had to make: a bug, with its traceback
            raise
        # `init /no/such/dir/b.toml` and the like: the file and what the system said, not a traceback
        print(f"balkanwatch: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # The warehouse's storage went away mid-command: a lake's catalog stopped (DuckDB then fails the next
        # statement: 'Unable to connect to Postgres at …'; never with the password, lake.py), or a disk.
        # A clear error, not a traceback; the run's writes are rolled back and the next run redoes them.
        duckdb = sys.modules.get("duckdb")
        if duckdb is None or not isinstance(exc, duckdb.IOException):
            raise
        from warehouse.lake import without_bounds

        print(f"balkanwatch: error: the warehouse could not be read or written: {without_bounds(str(exc))}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
