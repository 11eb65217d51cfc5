"""Settings declared as data: every key has a type, a default and help text, in one place.

`load_config(path)` reads one TOML file; unknown keys, wrong types and bad URLs are rejected with a
`ConfigError` naming the key. Secrets never live here: only the *names* of environment variables.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import ssl
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from balkanwatch.errors import ConfigError

CONFIG_ENV = "BALKANWATCH_CONFIG"
DEFAULT_CONFIG_NAME = "balkanwatch.toml"


def _f(default: Any, help: str, **kw: Any) -> Any:
    """A settings field: default plus the help text the README documents."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class WarehouseSettings:
    path: str = _f("data/balkanwatch.duckdb", "DuckDB file; relative paths are relative to the config file.")
    lock_timeout: float = _f(600.0, "Seconds a run waits for another writer before it skips; also how long any command waits for a program that is not balkanwatch to close the DuckDB file (a notebook), before it fails naming the program.")
    query_timeout: float = _f(300.0, "Seconds an analyst's `balkanwatch sql` query may run before it is stopped (`sql --timeout` overrides it; 0: no limit). On a DuckDB file a query keeps ingest's writes out while it runs: keep it below `lock_timeout`, which is how long a run waits for them.")
    backend: str = _f("duckdb", "duckdb (one file, `path`) or ducklake (Parquet files under `data_path`, metadata in the PostgreSQL `catalog`; see \"DuckLake\" below).")
    catalog: str = _f("", "DuckLake only: libpq connection string of the PostgreSQL catalog, e.g. \"dbname=lake host=127.0.0.1 port=5432 user=bw\" (no password here). Bounds on a silent catalog are added unless it sets them: `connect_timeout=10`, TCP keepalives and `tcp_user_timeout=30000`, and the same for PostgreSQL's end by `options` (PostgreSQL ≥ 12; a string with its own `options` gets none of ours).")
    catalog_password_env: str = _f("", "DuckLake only: environment variable holding the catalog's password; never logged.")
    data_path: str = _f("", "DuckLake only: folder of the lake's Parquet files (relative to the config file), or an s3:// URL (then the `s3_*` settings).")
    s3_endpoint: str = _f("", "DuckLake on s3:// only: host:port of an S3-compatible store (MinIO, Ceph, …); empty for AWS itself.")
    s3_region: str = _f("us-east-1", "DuckLake on s3:// only: the bucket's region.")
    s3_url_style: str = _f("", "DuckLake on s3:// only: `path` (most S3-compatible stores) or `vhost`; empty for DuckDB's default (vhost).")
    s3_use_ssl: bool = _f(True, "DuckLake on s3:// only: HTTPS to the endpoint (false only for a store on a trusted network).")
    s3_key_id_env: str = _f("AWS_ACCESS_KEY_ID", "DuckLake on s3:// only: environment variable holding the access key id (unset: anonymous access).")
    s3_secret_env: str = _f("AWS_SECRET_ACCESS_KEY", "DuckLake on s3:// only: environment variable holding the secret access key; never logged.")
    search_index: str = _f("data/lake-search.duckdb", "DuckLake only: local DuckDB file holding this machine's BM25 index of the lake's articles (a copy of title and text), built by `reindex` and by ingest; relative to the config file.")
    keep_snapshots_days: float = _f(7.0, "DuckLake only: `warehouse maintain` expires the lake's snapshots older than this many days; `sql --as-of` and `AT (VERSION => …)` reach back this far.")
    file_grace_hours: float = _f(1.0, "DuckLake only: hours a file the lake no longer needs (merged away, or of an expired snapshot) stays on disk before `warehouse maintain` deletes it, so that a query that began earlier can still read it.")
    keep_raw_pages_days: float = _f(0.0, "Raw pages (the HTML kept for `reextract`, 40-60 kB an article compressed) fetched more than this many days ago are deleted by `warehouse maintain` (scheduled by `balkanwatch serve` every `schedule.maintain_every_hours` once set), except each source's newest 20, which its page template is learned from; their articles stay. 0 keeps them forever.")
    keep_fetches_days: float = _f(0.0, "Rows of the fetch log (`fetches`: one per HTTP request, ~15-40 bytes each) older than this many days are deleted by `warehouse maintain`. 0 keeps them forever.")
    load_articles: int = _f(200, "DuckLake only: a batch's polled sources are committed together (one load transaction) once this many new articles wait (a large source's chunks of 50, handed over while it is still being extracted, count too). At least 1; more holds more in memory (~50–100 kB an article) and loses more to a crash (redone by the next run).")
    load_seconds: float = _f(5.0, "DuckLake only: …or once the first source with something to store has waited this many seconds (0: at once): how long after its poll an article may wait to be visible. A DuckDB file commits each source at once.")
    ask_window_seconds: float = _f(0.05, "DuckLake only: seconds a source's ask for its known article ids waits for the asks of other sources of its batch, answered by the same catalog query (a lake read costs ~40 ms whatever its rows; on a remote catalog more). 0 on a DuckDB file.")


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = _f("balkanwatch/0.1 (+https://github.com/balkanwatch)", "User-Agent sent with every request and matched against robots.txt.")
    timeout: float = _f(20.0, "Seconds for connect, read and write each; a whole request, body included, gets 3x this in flight (stops trickling servers; waiting for the host's turn is not in it).", positive=True)
    max_body_bytes: int = _f(10_000_000, "Bodies larger than this (after decompression) are refused, never read whole.", positive=True)
    per_host_concurrency: int = _f(2, "Requests in flight to one host at once.")
    per_host_delay: float = _f(1.0, "Seconds between the starts of two requests to one host.")
    host_queue_seconds: float = _f(300.0, "Longest an article page waits in one run for its host's turn (per_host_concurrency, per_host_delay, a robots.txt Crawl-delay): a source's first poll can list hundreds of pages of one host. Pages still waiting then are left for the next run, not failed; the source's health says how many, and it is polled again after ingest.min_poll_minutes. 0: no limit.")
    allow_private_networks: bool = _f(False, "Allow private, loopback and link-local addresses. Tests and intranets only.")
    max_redirects: int = _f(5, "Redirects followed per request; each hop is checked against the address policy.")
    retries: int = _f(2, "Retries of a transient failure (timeout, reset, 5xx, 429) within one run.")
    backoff_base: float = _f(1.0, "First retry delay in seconds; doubles on each retry.")
    retry_after_cap: float = _f(30.0, "Longest Retry-After we wait inside a run; longer ones move the source's next poll instead.")
    respect_robots: bool = _f(True, "Fetch and obey robots.txt for each host.")
    ca_file: str = _f("", "PEM file of further CAs to trust for https:// sources (an intranet's own CA), besides the system's; relative to the config file. A certificate that does not verify (expired, another host's, self-signed) fails its source with the reason.")


@dataclass(frozen=True)
class IngestSettings:
    poll_minutes: float = _f(10.0, "Default minutes between polls of a source (a source may set its own); the start of its adaptive interval.", positive=True)
    min_poll_minutes: float = _f(5.0, "Shortest interval adaptive polling gives a source that publishes often.")
    max_poll_minutes: float = _f(360.0, "Longest interval adaptive polling gives a source that rarely publishes "
                                        "(RSS <ttl> and Cache-Control max-age are honoured up to this); lowered, it applies "
                                        "from the next run.")
    silence_gaps: float = _f(4.0, "A source that answers but publishes nothing for this many of its usual gaps "
                                  "between items is `silent`…")
    silence_floor_hours: float = _f(48.0, "…and for at least this many hours.")
    max_backoff_minutes: float = _f(360.0, "Cap of the graded backoff of a failing source; it is never disabled.")
    max_items_per_source: int = _f(200, "New items taken from one source per run (newest first); the rest wait for the next run, which polls the source after ingest.min_poll_minutes.", positive=True)
    extract_workers: int = _f(2, "Processes for trafilatura extraction (CPU-bound); 0 means the number of cores.")
    extractor_agreement: bool = _f(True, "Check trafilatura's text against resiliparse's on every page and, where they disagree, keep the text most extractors agree on (readability, boilerpy3, jusText; +0.009 word F1 on WCXB dev by cross-validation, 1.55x the extraction CPU, 1.45x a CPU-bound ingest's wall time on two cores). false keeps trafilatura's text alone.")
    extract_timeout: float = _f(60.0, "Seconds one page's extraction may take. Past half of it the extractor-agreement opinions are given up and trafilatura's text kept; past all of it the page fails as an item (tried again by the next runs, at most 3 times). Some huge pages cost time that grows with the square of their size (a 2 MB page of links: 74 s). 0: no limit.")
    max_sitemap_depth: int = _f(2, "Nesting of sitemap indexes followed.")
    google_news_base: str = _f("https://news.google.com", "Google News, for the decoding exchange that turns its newer "
                                                        "item links (AU_yqL…) into the publisher's URL; tests point it "
                                                        "at a loopback server.")


@dataclass(frozen=True)
class ScheduleSettings:
    ingest_every_minutes: int = _f(10, "Interval of the ingest deployment served by `balkanwatch serve`; a healthy "
                                          "source due within half of it (or of the time to the next scheduled run, if less) is polled by the run before.")
    maintain_every_hours: int = _f(24, "Interval of the maintenance deployment (`warehouse maintain`) served by `balkanwatch serve`: on a DuckLake lake always, on a DuckDB file when `warehouse.keep_raw_pages_days` or `warehouse.keep_fetches_days` is set.")


@dataclass(frozen=True)
class AlertsSettings:
    email_to: list[str] = _f([], "Recipients of alert e-mails; empty records alerts in the warehouse without sending.")
    email_from: str = _f("balkanwatch@localhost", "From address of alert e-mails.")
    every_minutes: int = _f(15, "Interval of the alerts deployment served by `balkanwatch serve` (it also runs after each ingest).")
    bucket_minutes: int = _f(60, "Width of the time buckets in which unique stories per topic are counted.")
    window_hours: float = _f(6.0, "Only spikes in the last this-many hours alert; older ones are history (cold start builds the baseline).", positive=True)
    catch_up_hours: float = _f(72.0, "After a gap in ingest (the machine was down, runs failed), spikes up to this many hours old alert when their stories came in late (first fetched in the alert window, by a later run than the first that brought their source's articles): a surge nobody could see in time is still news, and the e-mail says how late. 0: only alerts.window_hours.")
    history_days: int = _f(28, "Days of counts the detector reads before the alert window (baseline and seasonality).", positive=True)
    alerts_per_month: float = _f(4.0, "About how many alerts a topic may send a month, on its most outstanding surges: a "
                                      "surge alerts when days with one that big come, on the topic's own record of daily "
                                      "peaks, about once in 1/this months or less (balkanwatch/spikes.py). At most one a day "
                                      "(30 × 24 / cooldown_hours).")
    cooldown_hours: float = _f(24.0, "After an alert, the same topic does not alert again for this long (one e-mail per surge).")
    min_stories: int = _f(3, "Volume floor: never alert on fewer unique stories than this, however quiet the topic.")
    surge_hours: list[float] = _f([1.0, 3.0], "Spans over which a surge is judged (stories in the last hour, the last three "
                                              "hours). Add 12 to also catch day-long builds on quiet topics.")
    email_silent_sources: bool = _f(False, "Also e-mail once when a source goes silent (it answers but has published "
                                           "nothing for ingest.silence_gaps of its usual gaps).")
    ingest_stall_periods: int = _f(6, "A scheduled alerts run (the alerts deployment of `serve` or a worker) e-mails once "
                                      "when no ingest run has completed for this many periods of "
                                      "schedule.ingest_every_minutes (an hour at the defaults): while ingest is stalled the "
                                      "alerts see nothing new. Also how long the alerts deployment's cycles may fail to use the warehouse "
                                      "before one e-mail, sent straight over SMTP, says so. 0 turns both off.")
    digest: bool = _f(False, "Also send a daily digest: the last day's alerts, and every topic's unique stories with its most carried "
                                 "(alerts.digest_stories), linked.")
    digest_hour: int = _f(7, "Hour (in alerts.timezone) after which the daily digest is sent (once per day).")
    digest_stories: int = _f(5, "Stories the daily digest lists under each topic: the last day's most carried (most "
                                "articles, then sources), with their links. 0 lists counts only.")
    digest_rising: int = _f(5, "Events of rising words (`balkanwatch rising`: words the last day's stories suddenly share, a new name no watchlist holds) that the daily digest to alerts.email_to lists after the topics, each with its newest stories, linked; a desk's digest (watchlists[].email_to) lists those rising within its topics' stories, against their own weeks before (`rising --topic` of each). 0: none.")
    rising_artifact: int = _f(10, "Events of rising words (the last day's, as `balkanwatch rising` finds them) that every alerts run shows in the Prefect UI, most surprising first, each with its newest stories linked (artifact `rising-words`). Reading them counts the words of the last four weeks' stories, stored once per story (`story_words`): about 2 s for 29,000 stories on two cores (`bench/rising_cost.py`). 0: none.")
    timezone: str = _f("UTC", "IANA time zone the e-mails give times in, and the digest's day and hour follow, e.g. \"Europe/Belgrade\" (CET, CEST in summer: \"17:00 CET\"). Counts, buckets, the warehouse and the Prefect UI stay in UTC.")
    chart_days: float = _f(3.0, "Days of history drawn in the e-mail's chart.", positive=True)
    save_dir: str = _f("", "When set, every e-mail sent is also written there as .eml and .html (relative to the config file).")

    @property
    def zone(self) -> tzinfo:
        """alerts.timezone as a tzinfo (ZoneInfoNotFoundError, a KeyError, or ValueError when it is none)."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class FeedsSettings:
    dir: str = _f("", "Folder (relative to the config file) where every run that settles writes Atom feeds of unique stories for a feed reader: `all.atom` (every story) and `topics/<topic>.atom` (each watchlist's), newest first, each story once however many sites carry it; `alerts.atom`, every surge the alerts detected (one entry per alert e-mail, also rewritten by each alerts cycle that finds one). Empty: no feeds written (`balkanwatch feed` prints one any time).")
    entries: int = _f(100, "Stories in each feed, newest first.", positive=True)
    base_url: str = _f("", "The http(s) address the folder is served at (e.g. https://intranet.example.org/feeds/): each feed then names its own address (rel=\"self\") and `feeds.opml` lists them all, for importing every topic into a feed reader at once.")

    def folder(self, base_dir: Path) -> Path | None:
        """feeds.dir as a path (relative to the config file's folder), None when unset."""
        if not self.dir:
            return None
        p = Path(self.dir).expanduser()
        return p if p.is_absolute() else base_dir / p


@dataclass(frozen=True)
class SmtpSettings:
    host: str = _f("localhost", "SMTP server.")
    port: int = _f(25, "SMTP port (587 for STARTTLS, 465 for SSL are usual).")
    security: str = _f("none", "none, starttls or ssl.", choices=("none", "starttls", "ssl"))
    username_env: str = _f("", "Environment variable holding the SMTP user name (no login when unset or empty).")
    password_env: str = _f("", "Environment variable holding the SMTP password; never logged.")
    password_block: str = _f("", "Name of a Prefect Secret block holding the password (used when password_env is empty).")
    credentials_block: str = _f("", "Name of a prefect-email EmailServerCredentials block: server, port, security, user "
                                    "and password all come from it (the keys above are then ignored).")
    timeout: float = _f(30.0, "Seconds for the SMTP connection and each command.", positive=True)
    ca_file: str = _f("", "PEM file of the CA to verify the server's certificate with (default: the system's CAs).")


@dataclass(frozen=True)
class SourceSettings:
    name: str = _f("", "Unique name of the source, one line of text; shown in the UI and stored on every article.", required=True)
    feed: str = _f("", "RSS, Atom or RDF feed URL.")
    urls: list[str] = _f([], "A list of page URLs fetched as articles.")
    sitemap: str = _f("", "A sitemap, sitemap index or news sitemap URL.")
    listing: str = _f("", "A page listing article links (an official news page without a feed): its links to "
                          "articles of the same site are fetched, new ones on every poll.")
    country: str = _f("", "Country the source covers or comes from (ISO 3166 code, e.g. XK, RS); informational.")
    kind: str = _f("", "What the source is (official, agency, outlet, aggregator, ...); informational.")
    language: str = _f("", "ISO 639-1 code used when the page does not declare one.")
    poll_minutes: float = _f(0.0, "Minutes between polls of this source; 0 uses ingest.poll_minutes.")

    @property
    def fetch_kind(self) -> str:
        """How the source is read: feed, sitemap, listing or urls."""
        return "feed" if self.feed else "sitemap" if self.sitemap else "listing" if self.listing else "urls"

    @property
    def location(self) -> str:
        return self.feed or self.sitemap or self.listing or (self.urls[0] if self.urls else "")

    @property
    def address(self) -> str | None:
        """The feed, sitemap or listing this source reads, normalised (http or https, `www.`, tracking
        parameters aside): no two sources may share one. None for a `urls` source (a list of pages)."""
        from balkanwatch.urls import normalise_url

        return None if self.fetch_kind == "urls" else normalise_url(self.location)


@dataclass(frozen=True)
class WatchlistSettings:
    name: str = _f("", "Unique name of the topic (used in alerts and the mentions table).", required=True)
    any: list[str] = _f([], "Terms of which at least one must occur (any script; `*` ends a prefix term).", required=True)
    all_of_any: list[list[str]] = _f([], "Groups of terms; one term of every group must also occur.")
    none: list[str] = _f([], "Terms that exclude a text from the topic.")
    alerts_per_month: float = _f(0.0, "This topic's alert budget (see alerts.alerts_per_month): more for a topic the desk "
                                      "must not miss, less for a chatty one; 0 takes alerts.alerts_per_month.")
    every_story: bool = _f(False, "Also e-mail every new story of this topic as it comes (one e-mail per alerts "
                                  "cycle with the stories first seen since the last, each story once, at most "
                                  "alerts.catch_up_hours old; none the same cycle's surge e-mail already lists), not "
                                  "only its surges: for a narrow topic where each story counts.")
    email_to: list[str] = _f([], "Recipients of this topic's alerts instead of alerts.email_to (a desk that follows "
                                 "only this topic); empty takes alerts.email_to. An incident spanning several topics "
                                 "is one e-mail to all of their recipients. With alerts.digest on, they also get a "
                                 "daily digest of the topics they follow.")


@dataclass(frozen=True)
class Config:
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    feeds: FeedsSettings = field(default_factory=FeedsSettings)
    sources: list[SourceSettings] = field(default_factory=list)
    watchlists: list[WatchlistSettings] = field(default_factory=list)
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    path: Path | None = field(default=None, metadata={"internal": True})

    @functools.cached_property
    def _sources_by_name(self) -> dict[str, SourceSettings]:
        return {s.name: s for s in self.sources}

    def source(self, name: str) -> SourceSettings:
        """The source called `name` (KeyError if none): a lookup, not a scan (a run polls every source)."""
        return self._sources_by_name[name]

    def topic_alerts(self, watchlist: str) -> AlertsSettings:
        """alerts.* as they apply to one topic: its own alerts_per_month and email_to where it sets them."""
        w = next((w for w in self.watchlists if w.name == watchlist), None)
        if w is None or not (w.alerts_per_month or w.email_to):
            return self.alerts
        return dataclasses.replace(self.alerts, alerts_per_month=w.alerts_per_month or self.alerts.alerts_per_month,
                                   email_to=list(w.email_to or self.alerts.email_to))

    def require_topics(self, topics: Sequence[str]) -> None:
        """ConfigError naming the topics (`--topic`) that are no watchlist of the config."""
        known = [w.name for w in self.watchlists]
        if unknown := [t for t in topics if t not in known]:
            raise ConfigError(f"no watchlist named {', '.join(map(repr, unknown))} in {self.path or 'the config'}; "
                              f"topics: {', '.join(known) or 'none (add [[watchlists]] to the config)'}")

    def topic_budgets(self) -> dict[str, float]:
        """Every topic's alerts_per_month as it applies (topic_alerts), by topic name."""
        return {w.name: self.topic_alerts(w.name).alerts_per_month for w in self.watchlists}

    @property
    def warehouse_path(self) -> Path:
        p = Path(self.warehouse.path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def lake_search_index(self) -> Path:
        """The local BM25 index of a lake (warehouse.search_index, relative to the config file)."""
        p = Path(self.warehouse.search_index).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def lake_data_path(self) -> str:
        """The DuckLake data path: an absolute folder ending in '/' (relative to the config file), or a URL."""
        raw = self.warehouse.data_path
        if "://" in raw:
            return raw if raw.endswith("/") else raw + "/"
        p = Path(raw).expanduser()
        return str(p if p.is_absolute() else (self.base_dir / p).resolve()) + "/"


SECTIONS: dict[str, type] = {
    "warehouse": WarehouseSettings,
    "fetch": FetchSettings,
    "ingest": IngestSettings,
    "schedule": ScheduleSettings,
    "alerts": AlertsSettings,
    "smtp": SmtpSettings,
    "feeds": FeedsSettings,
}


def _check_type(key: str, value: Any, annotation: str) -> Any:
    """Coerce ints to floats where a float is wanted; reject anything else of the wrong type."""
    if annotation == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)   # and checked as any float (a negative int was let through before session 13)
    expected: type[Any] = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list,
                           "list[list[str]]": list, "list[float]": list}[annotation]
    if isinstance(value, bool) and expected is not bool:
        raise ConfigError(f"{key}: expected {annotation}, got a boolean")
    if not isinstance(value, expected):
        raise ConfigError(f"{key}: expected {annotation}, got {type(value).__name__} {value!r}")
    if annotation == "list[str]" and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings")
    if annotation == "list[float]":
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value):
            raise ConfigError(f"{key}: expected a list of positive numbers")
        value = [float(v) for v in value]
    if annotation == "list[list[str]]" and not all(isinstance(g, list) and all(isinstance(v, str) for v in g)
                                                   for g in value):
        raise ConfigError(f"{key}: expected a list of lists of strings")
    if expected in (int, float) and value < 0:
        raise ConfigError(f"{key}: must not be negative (got {value})")
    return value


RENAMED = {"alerts.threshold": "the detector's threshold is a rate now; set alerts.alerts_per_month "
                               "(default 4: about one alert a week per topic, on its most outstanding surge)",
           "alerts.false_alerts_per_month": "surges are judged against the topic's own record of daily peaks now; "
                                            "set alerts.alerts_per_month (default 4: about one alert a week per topic)",
           "alerts.record_check": "every surge is judged against the topic's own record of daily peaks now; "
                                  "remove the key"}


def _build(cls: type, raw: dict[str, Any], prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}: expected a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}"
        if key in RENAMED:
            raise ConfigError(f"{key} was replaced: {RENAMED[key]}")
        raise ConfigError(f"unknown key {key} (known: {', '.join(sorted(fields))})")
    values = {}
    for name, value in raw.items():
        values[name] = _check_type(f"{prefix}.{name}", value, str(fields[name].type))
    for name, f in fields.items():
        if f.metadata.get("required") and not values.get(name):
            raise ConfigError(f"{prefix}.{name} is required")
        if f.metadata.get("positive") and name in values and not values[name] > 0:
            raise ConfigError(f"{prefix}.{name} must be above 0 (got {values[name]})")
        choices = f.metadata.get("choices")
        if choices and name in values and values[name] not in choices:
            raise ConfigError(f"{prefix}.{name}: expected one of {', '.join(choices)} (got {values[name]!r})")
    return cls(**values)


def most_alerts_per_month(cooldown_hours: float) -> float:
    """The largest alert budget a cooldown allows: one alert per cooldown, in a 30-day month."""
    return 30 * 24 / cooldown_hours


def _check_address(key: str, address: str) -> None:
    """Addresses go into e-mail headers: one address each, no line breaks."""
    if any(c in address for c in "\r\n,;") or "@" not in address:
        raise ConfigError(f"{key}: not a single e-mail address: {address!r}")


def check_budget(key: str, budget: float, cooldown_hours: float) -> None:
    """ConfigError when `key`'s budget of alerts a month is more than the cooldown allows."""
    most = most_alerts_per_month(cooldown_hours)
    if budget > most:
        raise ConfigError(f"{key} = {budget:g} cannot be met: with alerts.cooldown_hours = {cooldown_hours:g} a "
                          f"topic alerts at most {most:g} times a month")


def _check_alerts(alerts: AlertsSettings) -> None:
    """One address per entry; buckets of at least a minute; a budget the cooldown allows."""
    for key, address in [("alerts.email_from", alerts.email_from), *(("alerts.email_to", a) for a in alerts.email_to)]:
        _check_address(key, address)
    if alerts.bucket_minutes < 1 or not 0 <= alerts.digest_hour <= 23:
        raise ConfigError("alerts.bucket_minutes must be ≥ 1 and alerts.digest_hour within 0–23")
    if alerts.digest_rising < 0:
        raise ConfigError("alerts.digest_rising must be 0 or more (5: the day's five most surprising rising words)")
    if alerts.rising_artifact < 0:
        raise ConfigError("alerts.rising_artifact must be 0 or more (10: the day's ten most surprising rising words)")
    if alerts.digest_stories < 0:
        raise ConfigError("alerts.digest_stories must be 0 or more (5: the last day's five most carried stories a topic)")
    if not alerts.alerts_per_month > 0:
        raise ConfigError("alerts.alerts_per_month must be above 0 (e.g. 4 for about one alert a week)")
    if not alerts.cooldown_hours > 0:
        raise ConfigError("alerts.cooldown_hours must be above 0 (24: one alert a day per topic at most)")
    check_budget("alerts.alerts_per_month", alerts.alerts_per_month, alerts.cooldown_hours)
    try:
        _ = alerts.zone
    except (ValueError, KeyError) as exc:    # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"alerts.timezone: {alerts.timezone!r} is not an IANA time zone (e.g. \"Europe/Belgrade\", "
                          "\"UTC\")") from exc
    if not alerts.surge_hours:
        raise ConfigError("alerts.surge_hours: give at least one span, e.g. [1, 3]")
    if alerts.every_minutes < 1:
        raise ConfigError("alerts.every_minutes: a schedule needs an interval of at least 1 minute")
    if alerts.ingest_stall_periods < 0:
        raise ConfigError("alerts.ingest_stall_periods must be ≥ 0 (0 turns the stalled-ingest e-mail off)")


def _check_topic_alerts(prefix: str, w: WatchlistSettings, alerts: AlertsSettings) -> None:
    check_budget(f"{prefix}.alerts_per_month", w.alerts_per_month, alerts.cooldown_hours)
    for address in w.email_to:
        _check_address(f"{prefix}.email_to", address)


def _check_ingest(ingest: IngestSettings) -> None:
    if not 0 < ingest.min_poll_minutes <= ingest.max_poll_minutes:
        raise ConfigError("ingest.min_poll_minutes must be above 0 and at most ingest.max_poll_minutes "
                          f"(got {ingest.min_poll_minutes:g} and {ingest.max_poll_minutes:g})")
    if ingest.silence_gaps <= 0 or ingest.silence_floor_hours < 0:
        raise ConfigError("ingest.silence_gaps must be above 0 and ingest.silence_floor_hours at least 0")
    check_url("ingest.google_news_base", ingest.google_news_base)


def check_url(key: str, url: str) -> None:
    """Only absolute http(s) URLs with a host are accepted."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: not an absolute http(s) URL: {url!r}")


def _source(raw: dict[str, Any], index: int) -> SourceSettings:
    src: SourceSettings = _build(SourceSettings, raw, f"sources[{index}]")
    if not _one_line(src.name):
        raise ConfigError(f"sources[{index}]: the name {src.name!r} must be one line of text (it is shown in "
                          "e-mails, artifacts, feeds and the health table)")
    given = [k for k in ("feed", "urls", "sitemap", "listing") if raw.get(k)]
    if len(given) != 1:
        raise ConfigError(f"sources[{index}] ({src.name}): set exactly one of feed, urls, sitemap, listing "
                          f"(got {given or 'none'})")
    for url in [src.feed, src.sitemap, src.listing, *src.urls]:
        if url:
            check_url(f"sources[{index}] ({src.name})", url)
    return src


def _one_line(name: str) -> bool:
    """A name that is text on one line: not blank, no control character (a line break among them)."""
    return bool(name.strip()) and not any(c < " " or c == "\x7f" for c in name)


def _watchlist(raw: dict[str, Any], index: int) -> WatchlistSettings:
    from balkanwatch.watch import Watchlist

    w: WatchlistSettings = _build(WatchlistSettings, raw, f"watchlists[{index}]")
    if not _one_line(w.name):
        raise ConfigError(f"watchlists[{index}]: the name {w.name!r} must be one line of text (it heads e-mails, "
                          "artifacts and feeds)")
    try:
        Watchlist.build(w.name, w.any, w.all_of_any, w.none)
    except ValueError as exc:
        raise ConfigError(f"watchlists[{index}] ({w.name}): {exc}") from exc
    return w


def _unique(kind: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{kind}: duplicate name {dupes[0]!r}")


def _one_source_per_address(sources: list[SourceSettings]) -> None:
    """Two sources reading one feed, sitemap or listing (a feed pasted twice under two names, an OPML import
    of a feed already there) would poll it twice a cycle and credit its articles to whichever came first."""
    seen: dict[str, str] = {}
    for s in sources:
        key = s.address
        if key is None:
            continue
        if key in seen:
            raise ConfigError(f"sources: {s.name!r} reads the same {s.fetch_kind} as {seen[key]!r} ({s.location}); "
                              "keep one of them")
        seen[key] = s.name


def _check_warehouse(w: WarehouseSettings) -> None:
    if w.backend not in ("duckdb", "ducklake"):
        raise ConfigError(f"warehouse.backend: expected duckdb or ducklake, got {w.backend!r}")
    if w.backend == "ducklake" and not (w.catalog and w.data_path):
        raise ConfigError("warehouse: backend = \"ducklake\" needs catalog (a libpq connection string) and data_path")
    if w.s3_url_style not in ("", "path", "vhost"):
        raise ConfigError(f"warehouse.s3_url_style: expected path or vhost, got {w.s3_url_style!r}")
    if w.data_path.startswith(("s3n://", "s3a://", "gs://", "gcs://", "r2://", "az://", "abfss://", "http://", "https://")):
        raise ConfigError(f"warehouse.data_path: a folder or an s3:// URL, got {w.data_path!r}")
    if w.load_articles < 1:
        raise ConfigError(f"warehouse.load_articles must be at least 1 (got {w.load_articles})")
    if w.ask_window_seconds > 10:
        raise ConfigError(f"warehouse.ask_window_seconds: a window of at most 10 s (got {w.ask_window_seconds}): "
                          "every source with a listing waits this long")
    if w.keep_snapshots_days < 0 or w.file_grace_hours < 0:
        raise ConfigError("warehouse.keep_snapshots_days and warehouse.file_grace_hours cannot be negative")
    if w.keep_raw_pages_days < 0 or w.keep_fetches_days < 0:
        raise ConfigError("warehouse.keep_raw_pages_days and warehouse.keep_fetches_days cannot be negative "
                          "(0 keeps everything)")
    if "password" in w.catalog.lower():
        raise ConfigError("warehouse.catalog: no password in the connection string; name an environment "
                          "variable in warehouse.catalog_password_env")


def _ca_file(raw: str, base_dir: Path) -> str:
    """fetch.ca_file as an absolute path, once it is known to hold CA certificates."""
    p = Path(raw).expanduser()
    p = p if p.is_absolute() else base_dir / p
    try:
        ssl.create_default_context(cafile=str(p))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"fetch.ca_file: cannot load CA certificates from {p}: {exc}") from exc
    return str(p)


def parse_config(data: dict[str, Any], base_dir: Path, path: Path | None = None) -> Config:
    """Validate a parsed TOML document into a Config."""
    allowed = set(SECTIONS) | {"sources", "watchlists"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]} (known sections: {', '.join(sorted(allowed))})")
    sections = {name: _build(cls, data.get(name, {}), name) for name, cls in SECTIONS.items()}
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("sources: expected an array of tables ([[sources]])")
    sources = [_source(raw, i) for i, raw in enumerate(raw_sources)]
    _unique("sources", [s.name for s in sources])
    _one_source_per_address(sources)
    raw_watchlists = data.get("watchlists", [])
    if not isinstance(raw_watchlists, list):
        raise ConfigError("watchlists: expected an array of tables ([[watchlists]])")
    watchlists = [_watchlist(raw, i) for i, raw in enumerate(raw_watchlists)]
    _unique("watchlists", [w.name for w in watchlists])
    if sections["fetch"].per_host_concurrency < 1:
        raise ConfigError("fetch.per_host_concurrency must be at least 1")
    if sections["fetch"].host_queue_seconds < 0:
        raise ConfigError("fetch.host_queue_seconds must be 0 (no limit) or more")
    if sections["fetch"].ca_file:
        sections["fetch"] = dataclasses.replace(sections["fetch"], ca_file=_ca_file(sections["fetch"].ca_file, base_dir))
    _check_alerts(sections["alerts"])
    for i, w in enumerate(watchlists):
        _check_topic_alerts(f"watchlists[{i}] ({w.name})", w, sections["alerts"])
    _check_ingest(sections["ingest"])
    _check_warehouse(sections["warehouse"])
    if not 1 <= sections["smtp"].port <= 65535:
        raise ConfigError(f"smtp.port: a TCP port is 1–65535 (got {sections['smtp'].port}; 587 for STARTTLS, "
                          "465 for SSL are usual)")
    if sections["feeds"].base_url:
        check_url("feeds.base_url", sections["feeds"].base_url)
    if sections["schedule"].ingest_every_minutes < 1:
        raise ConfigError("schedule.ingest_every_minutes: a schedule needs an interval of at least 1 minute")
    if sections["schedule"].maintain_every_hours < 1:
        raise ConfigError("schedule.maintain_every_hours: a schedule needs an interval of at least 1 hour")
    return Config(**sections, sources=sources, watchlists=watchlists, base_dir=base_dir, path=path)


def resolve_config_path(explicit: str | None) -> Path:
    """--config, then $BALKANWATCH_CONFIG, then ./balkanwatch.toml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME).expanduser().resolve()


def load_config(path: str | Path) -> Config:
    """Read and validate one TOML config file."""
    p = Path(path).expanduser().resolve()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {p}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    return parse_config(data, base_dir=p.parent, path=p)


def settings_reference() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, help) for every documented setting; the docs test checks the README has them."""
    rows = []
    for section, cls in [*SECTIONS.items(), ("sources[]", SourceSettings), ("watchlists[]", WatchlistSettings)]:
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            rows.append((f"{section}.{f.name}", str(f.type), default, f.metadata["help"]))
    return rows
