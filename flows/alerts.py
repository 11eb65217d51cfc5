"""The alerts flow: scheduled (alerts.every_minutes) and run after every ingest.

    mentions (match new articles) | topic series (unique stories per bucket) | spikes (balkanwatch.spikes)
        | new spikes in the alert window, not repeating a surge | incidents | compose e-mail (chart inline)
        | alerts + outbox in one transaction | outbox lock | send the outbox (SMTP) | mark sent / keep with the error
        | artifacts + one Prefect event per spike

The outbox makes delivery safe: a message is stored before it is sent and marked sent only once the SMTP
server accepted it, so an SMTP outage loses nothing (the next cycle sends it) and a re-run sends nothing
twice (unless the process dies between the server's acceptance and the mark: then the same message, with
the same Message-ID, goes again). Cycles that run at once (the ingest run's and the alerts deployment's)
send one at a time, under the outbox lock (`send_outbox`). Failed deliveries fail the flow run, so the UI
shows them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow

from balkanwatch.alerting import (
    OVERVIEW_DAYS,
    RECENT_ALERT_DAYS,
    USUAL_DAYS,
    Incident,
    Spike,
    TopicSeries,
    as_utc,
    digest_desks,
    group_incidents,
    incident_recipients,
    is_repeat,
    spikes_of,
    surge_about,
    topic_overview,
    topic_series,
)
from balkanwatch.config import Config, SmtpSettings, load_config
from balkanwatch.emails import (
    AlertEmail,
    about_words,
    as_delivered,
    compose_back,
    compose_digest,
    compose_incident,
    compose_silent,
    compose_stalled,
    compose_stories,
    compose_unreachable,
    stall_began,
)
from balkanwatch.errors import DeliveryError, WarehouseBusyError, WarehouseError
from balkanwatch.health import ingest_stalled
from balkanwatch.textnorm import phrases
from connectors import smtp
from flows.maintenance import suggested_budgets, topic_stories
from flows.mentions import match_mentions
from warehouse import Warehouse
from warehouse.store import utcnow

log = logging.getLogger("balkanwatch.alerts")
_T = TypeVar("_T")


@dataclass
class AlertsSummary:
    matched_articles: int = 0
    topics: int = 0
    spikes: list[dict[str, Any]] = field(default_factory=list)
    incidents: int = 0
    queued: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)   # sent, but some recipients refused it
    charts: list[str] = field(default_factory=list)
    about: dict[str, str] = field(default_factory=dict)     # alert id → what its surge is about (the e-mail's words)
    ingest_checked: bool = False      # a scheduled cycle: whether ingest has stalled was checked
    ingest_stalled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def series_by_topic(wh: Warehouse, config: Config, start: datetime, now: datetime) -> dict[str, TopicSeries]:
    """Every configured topic's unique stories per bucket from `start` to the bucket holding `now`, scored."""
    rows = topic_stories(wh, config, start, now)
    return {w.name: topic_series(w.name, rows[w.name], start, now, config.topic_alerts(w.name)) for w in config.watchlists}


def history_start(wh: Warehouse, config: Config, now: datetime) -> datetime:
    """Where the detector's reading starts: alerts.history_days before the alert window, or the first story."""
    a = config.alerts
    start = now - timedelta(hours=a.window_hours, days=a.history_days)
    first = wh.first_story_time()
    return first if first is not None and first > start else start


def new_spikes(wh: Warehouse, config: Config, series: dict[str, TopicSeries], now: datetime) -> list[Spike]:
    """Spikes inside the alert window (alerts.window_hours) that do not repeat a surge already recorded; and
    older ones, up to alerts.catch_up_hours, that hold a story no earlier cycle could see
    (`Warehouse.late_story_ids`): after a gap in ingest (the machine was down from 22:00 to 07:00, a clash
    was reported at 01:00) a surge whose stories came in late is still news, and its e-mail says how late."""
    a = config.alerts
    cooldown = timedelta(hours=a.cooldown_hours)
    since = now - timedelta(hours=a.window_hours)
    catch_up = now - timedelta(hours=a.catch_up_hours)
    late = wh.late_story_ids(since) if catch_up < since else set()
    out = []
    for ts in series.values():
        for spike in spikes_of(ts, since=min(since, catch_up)):
            if spike.bucket_start < since and late.isdisjoint(spike.story_ids):
                continue
            if not is_repeat(spike, wh.alert_buckets(spike.watchlist, spike.bucket_start - cooldown), cooldown):
                out.append(spike)
    return out


def _file_stem(text: str) -> str:
    """A file name from an alert or message id: letters, digits, - and _ kept, the rest _."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def chart_path(config: Config, spike: Spike) -> Path:
    return config.warehouse_path.parent / "charts" / f"{_file_stem(spike.alert_id)}.png"


def queue_incident(wh: Warehouse, config: Config, incident: Incident, series: dict[str, TopicSeries],
                   now: datetime, stories: Sequence[dict[str, Any]],
                   about: Sequence[tuple[Sequence[str], int]] | None = ()) -> tuple[AlertEmail | None, list[Path]]:
    """Render the charts, compose the e-mail (its `stories` as `story_details` gives them, and what its surge
    is about: `DayRising.of_incident`, None when it could not be read), store alerts (with what they were
    about, as the e-mail says it) and outbox row together."""
    from balkanwatch.chart import render_chart

    a = config.alerts
    charts, paths = {}, []
    for spike in incident.spikes:
        png = render_chart(series[spike.watchlist], spike, a.chart_days, a.zone)
        charts[spike.watchlist] = png
        path = chart_path(config, spike)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        paths.append(path)
    email = None
    recipients = incident_recipients(config, incident)
    if recipients:
        email = compose_incident(incident, stories, charts, a.email_from, recipients, now, a.zone, about=about or ())
    status = "pending" if email else "no-recipients"
    rows = [{"alert_id": s.alert_id, "incident_id": incident.incident_id, "watchlist": s.watchlist,
             "bucket_start": s.bucket_start, "window_start": s.window_start, "window_end": s.window_end,
             "score": s.score, "observed": s.observed, "expected": s.expected, "story_ids": list(s.story_ids),
             "status": status, "created_at": now, "about": None if about is None else about_words(about)}
            for s in incident.spikes]
    wh.record_incident(rows, _outbox_row(email, now) if email else None)
    return email, paths


def queue_once(wh: Warehouse, email: AlertEmail, now: datetime) -> int:
    """Put an e-mail sent once per event (a silence, a stall, its end) in the outbox unless its Message-ID is
    there already; the e-mails queued (0 or 1)."""
    if wh.has_message(email.message_id):
        return 0
    wh.record_incident([], _outbox_row(email, now))
    return 1


def _outbox_row(email: AlertEmail, now: datetime) -> dict[str, Any]:
    return {"message_id": email.message_id, "kind": email.kind, "incident_id": email.incident_id,
            "subject": email.subject, "recipients": list(email.recipients), "message": email.raw, "created_at": now}


DIGEST_CANDIDATES = 4   # a topic's stories read for the digest: this × alerts.digest_stories, so that stories a
                        # busier topic lists above can be skipped and its list still filled (a count, not a threshold)


class DayRising:
    """The day's rising words (`flows.maintenance.rising_words`, every event), read once per set of topics and
    end when first asked for: the alert e-mails, the daily digests and the `rising-words` artifact of one
    alerts cycle share them."""

    def __init__(self, wh: Warehouse, now: datetime, *, refresh: bool = False) -> None:
        self.wh, self.now, self.refresh = wh, now, refresh
        self._reports: dict[tuple[frozenset[str] | None, datetime], dict[str, Any]] = {}

    def report(self, topics: frozenset[str] | None = None, end: datetime | None = None) -> dict[str, Any]:
        """The day up to `end` (now by default): of every story (None), or of the stories any of `topics`
        matched, counted against those topics' own weeks before. `refresh`: first bring the stored words of
        the stories read up to date (`refresh_story_words`), so that this and later readings split only the
        stories new since the last."""
        key = (topics, self.now if end is None else min(end, self.now))
        if key not in self._reports:
            from flows.maintenance import BASELINE_DAYS, rising_words

            if self.refresh and not self._reports:
                self.wh.refresh_story_words(self.now - timedelta(days=1 + BASELINE_DAYS))
            self._reports[key] = rising_words(self.wh, span=timedelta(days=1), now=key[1], limit=0,
                                              topics=None if topics is None else sorted(topics))
        return self._reports[key]

    def of_topics(self, followed: frozenset[str] | None, limit: int) -> list[dict[str, Any]]:
        """The `limit` most surprising events: of every story for None; for a desk that follows `followed`
        topics, those rising within its topics' stories (what its own coverage is suddenly about, against
        its own weeks before: `balkanwatch rising --topic` of each)."""
        return list(self.report(followed)["words"][:limit])

    def of_incident(self, incident: Incident, details: Sequence[dict[str, Any]]) -> list[tuple[list[str], int]]:
        """What an incident's surge is about (`alerting.surge_about`): the events rising within its topics'
        stories in the day up to the end of its surge that most of its stories hold, the words of their
        headlines first; each word spelled as the stories' titles and excerpts (`details`, as `story_details`
        gives them) spell it most ("Zvečan", not the folded "zvecan"), and an event's words that they mostly
        write side by side as one phrase ("North Mitrovica", `textnorm.phrases`)."""
        end = max(s.window_end for s in incident.spikes)
        about = surge_about(self.report(frozenset(incident.watchlists), end)["words"], incident.story_ids,
                            titles=[d["title"] or "" for d in details])
        texts = [f"{d['title'] or ''} | {d['excerpt'] or ''}" for d in details]   # "|": not side by side
        return [(phrases(words, texts), n) for words, n in about]


def _about(rising: DayRising, incident: Incident,
           details: Sequence[dict[str, Any]]) -> list[tuple[list[str], int]] | None:
    """`DayRising.of_incident`, or None when it cannot be read: the alert goes out without its About line
    rather than not at all (logged)."""
    try:
        return rising.of_incident(incident, details)
    except Exception as exc:   # a description must never cost the alert it describes
        log.warning("what the surge of %s is about could not be read: %s: %s", incident.incident_id,
                    type(exc).__name__, exc)
        return None


def queue_digest(wh: Warehouse, config: Config, now: datetime, rising: DayRising | None = None) -> int:
    """Queue today's digests once, after alerts.digest_hour (today and the hour in alerts.timezone): one of
    every topic to alerts.email_to, and one of its own topics to each desk that follows topics of its own
    (`watchlists[].email_to`: `digest_desks`); each ends with the day's rising words (alerts.digest_rising),
    a desk's with those rising within its topics' stories. Returns how many were queued."""
    a = config.alerts
    local = as_utc(now).astimezone(a.zone)
    day = f"{local:%Y-%m-%d}"
    if not a.digest or local.hour < a.digest_hour:
        return 0
    desks = [(topics, rcpts, digest_id(day, topics)) for topics, rcpts in digest_desks(config)]
    desks = [d for d in desks if not wh.has_message(d[2])]
    if not desks:
        return 0
    since = now - timedelta(days=1)
    topics = wh.rows("""SELECT watchlist, count(*) AS stories FROM story_mentions WHERE first_seen_at >= ?
                        GROUP BY watchlist ORDER BY stories DESC, watchlist""", [since])
    alerts = wh.rows("""SELECT watchlist, bucket_start, observed, expected FROM alerts WHERE bucket_start >= ?
                        ORDER BY bucket_start""", [since])
    # each topic's candidates: enough that the stories of busier topics above it can be left out of its list
    top = wh.top_stories(since, a.digest_stories * DIGEST_CANDIDATES) if a.digest_stories else {}
    details = {d["story_id"]: d for d in wh.story_details([sid for ids in top.values() for sid in ids])}
    stories = {topic: [details[sid] for sid in ids if sid in details] for topic, ids in top.items()}
    risen = rising or DayRising(wh, now)
    for followed, recipients, message_id in desks:
        email = compose_digest(day, _of_topics(alerts, followed), _of_topics(topics, followed), a.email_from,
                               recipients, now, a.zone, stories, per_topic=a.digest_stories,
                               followed=None if followed is None else sorted(followed), message_id=message_id,
                               rising=risen.of_topics(followed, a.digest_rising) if a.digest_rising else ())
        wh.record_incident([], _outbox_row(email, now))
    return len(desks)


EVERY_STORY_LISTED = 50   # stories one every-story e-mail lists; a larger burst says how many more and how to see them


def queue_new_stories(wh: Warehouse, config: Config, now: datetime) -> int:
    """For every topic that asks for every story (watchlists[].every_story): one e-mail with its stories first
    seen since the last (at most max(alerts.window_hours, alerts.catch_up_hours) old, so a first ingest of
    weeks of history mails the last days', not the weeks), each story once per topic (`story_notices`, with
    the outbox row in one transaction). Stories a surge e-mail of the topic already carried to its readers
    (this cycle's, or an earlier one's: a topic switched to every_story later) are noted, not listed again.
    Returns how many e-mails were queued."""
    a = config.alerts
    since = now - timedelta(hours=max(a.window_hours, a.catch_up_hours))
    queued = 0
    for w in config.watchlists:
        if not w.every_story or not (new := wh.unnoticed_stories(w.name, since)):
            continue
        recipients = config.topic_alerts(w.name).email_to
        told = wh.mailed_surge_stories(w.name, since)
        untold = [sid for sid in new if sid not in told]
        email = None
        if recipients and untold:
            listed = wh.story_details(untold[-EVERY_STORY_LISTED:])
            email = compose_stories(w.name, listed, len(untold) - len(listed), a.email_from, recipients, now, a.zone)
        wh.record_notices(w.name, new, _outbox_row(email, now) if email else None, now)
        queued += email is not None
    return queued


def _of_topics(rows: list[dict[str, Any]], topics: frozenset[str] | None) -> list[dict[str, Any]]:
    """The rows of these topics (`watchlist`), or all of them for None."""
    return [r for r in rows if topics is None or r["watchlist"] in topics]


def digest_id(day: str, topics: frozenset[str] | None) -> str:
    """A digest's Message-ID: one a day for every topic, one a day per set of topics a desk follows."""
    if topics is None:
        return f"<digest-{day}@balkanwatch>"
    key = hashlib.sha256("\n".join(sorted(topics)).encode("utf-8")).hexdigest()[:12]
    return f"<digest-{day}-{key}@balkanwatch>"


def smtp_credentials(config: Config) -> tuple[SmtpSettings, str, str]:
    """(server settings, username, password) from the config and the environment, a Prefect Secret block, or
    a prefect-email `EmailServerCredentials` block. Never logged."""
    s = config.smtp
    if s.credentials_block:
        return credentials_from_block(s)
    username = os.environ.get(s.username_env, "") if s.username_env else ""
    password = os.environ.get(s.password_env, "") if s.password_env else ""
    if not password and s.password_block:
        from prefect.blocks.system import Secret

        try:
            # sync even under a running loop; _sync is Prefect's undeclared sync/async switch, and the
            # declared result (the block or a coroutine) cannot know that it makes the block
            password = Secret.load(s.password_block, _sync=True).get()  # type: ignore[call-arg, union-attr]
        except ValueError as exc:   # Prefect's "no block document named …"
            raise DeliveryError(f"smtp.password_block: {exc}") from exc
    return s, username, password


SMTP_TYPES = {"SSL": "ssl", "STARTTLS": "starttls", "INSECURE": "none"}   # prefect-email's SMTPType → smtp.security


def credentials_from_block(s: SmtpSettings) -> tuple[SmtpSettings, str, str]:
    """Server, security, port, user and password from an EmailServerCredentials block named in the config."""
    from prefect_email import EmailServerCredentials

    try:
        block = EmailServerCredentials.load(s.credentials_block, _sync=True)
    except ValueError as exc:
        raise DeliveryError(f"smtp.credentials_block: {exc}") from exc
    if block.verify is False:
        raise DeliveryError(f"smtp.credentials_block {s.credentials_block!r} has verify = false; balkanwatch always "
                            "verifies the server's certificate: set smtp.ca_file to the CA that signed it instead")
    host = getattr(block.smtp_server, "value", block.smtp_server)
    kind = getattr(block.smtp_type, "name", str(block.smtp_type)).upper()
    port = block.smtp_port or getattr(block.smtp_type, "value", 0)
    settings = replace(s, host=str(host), port=int(port), security=SMTP_TYPES.get(kind, "ssl"))
    return settings, block.username or "", block.password.get_secret_value()


@dataclass(frozen=True)
class Delivery:
    """What became of one outbox message: sent (to every recipient, or, with `error`, to some), or kept in
    the outbox with `error` for the next cycle."""

    message_id: str
    incident_id: str | None
    sent: bool
    error: str | None = None


def deliver(config: Config, pending: list[dict[str, Any]], now: datetime | None = None) -> list[Delivery]:
    """Send each pending message (re-dated when it waited: `emails.as_delivered`). One that some recipients
    refused has gone to the others: it is sent, saying to whom not (sent again, it would reach those who
    have it at every cycle)."""
    if not pending:
        return []
    now = now or utcnow()
    try:
        server, username, password = smtp_credentials(config)
    except DeliveryError as exc:   # a missing or unusable block: every message stays in the outbox, saying why
        return [Delivery(m["message_id"], m["incident_id"], False, str(exc)) for m in pending]
    results: list[Delivery] = []
    for m in pending:
        try:
            raw = as_delivered(m["message"], m["created_at"], now) if m.get("created_at") else m["message"]
            refused = smtp.send(raw, config.alerts.email_from, m["recipients"], server,
                                username=username, password=password)
            note = Warehouse.UNDELIVERED + "; ".join(f"{a} ({why})" for a, why in refused.items()) if refused else None
            results.append(Delivery(m["message_id"], m["incident_id"], True, note))
            save_copy(config, {**m, "message": raw})
        except DeliveryError as exc:
            results.append(Delivery(m["message_id"], m["incident_id"], False, str(exc)))
    return results


def save_copy(config: Config, m: dict[str, Any]) -> None:
    """Write a sent message to alerts.save_dir as .eml and .html (the demo's way to show e-mails)."""
    if not config.alerts.save_dir:
        return
    folder = Path(config.alerts.save_dir)
    folder = folder if folder.is_absolute() else config.base_dir / folder
    folder.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(m["message_id"].strip("<>").split("@")[0])
    (folder / f"{stem}.eml").write_bytes(m["message"])
    msg = message_from_bytes(m["message"], policy=policy.default)
    body = msg.get_body(preferencelist=("html",))
    if body is None:
        return
    page = body.get_content()
    for part in msg.walk():   # inline the charts, so the .html file shows them when opened on its own
        if part.get_content_type() == "image/png" and part["Content-ID"]:
            data = base64.b64encode(part.get_content()).decode()
            page = page.replace(f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}")
    (folder / f"{stem}.html").write_text(page, encoding="utf-8")


def queue_silent(wh: Warehouse, config: Config, now: datetime) -> int:
    """Queue one e-mail per source that went silent since it last published (alerts.email_silent_sources)."""
    a = config.alerts
    if not (a.email_silent_sources and a.email_to):
        return 0
    return sum(queue_once(wh, compose_silent(source, a.email_from, a.email_to, now, a.zone), now)
               for source in wh.rows("""SELECT name, location, silent_since, last_new_item_at, usual_gap_minutes
                                        FROM source_health WHERE in_config AND health = 'silent' ORDER BY name"""))


def queue_stalled(wh: Warehouse, config: Config, now: datetime) -> tuple[bool, int]:
    """Whether ingest has stalled (no run completed for alerts.ingest_stall_periods of the schedule), and the
    e-mails queued for it: one per stall."""
    a, period = config.alerts, config.schedule.ingest_every_minutes
    record = wh.ingest_record()
    if not ingest_stalled(record["last_completed_at"], now, period, a.ingest_stall_periods):
        return False, queue_back(wh, config, record["last_completed_at"], now)
    email = compose_stalled(record, period, a.email_from, a.email_to, now, a.zone)
    log.warning("ingest stalled: %s", email.subject)
    return True, queue_once(wh, email, now) if a.email_to else 0


BACK_WITHIN_DAYS = 7   # a stall e-mailed longer ago than this gets no "running again" e-mail any more


def queue_back(wh: Warehouse, config: Config, last_completed: datetime | None, now: datetime) -> int:
    """After a stall e-mail, one more when ingest runs read sources again (a run completed after the stall
    began): without it the desk cannot tell a quiet inbox from a blind one. The e-mails queued (0 or 1)."""
    a = config.alerts
    stalled = wh.newest_message_id("stalled", now - timedelta(days=BACK_WITHIN_DAYS))
    if not (a.email_to and stalled and last_completed):
        return 0
    since = stall_began(stalled)
    if last_completed <= since:      # still the stall it announced: nothing to say yet
        return 0
    return queue_once(wh, compose_back("ingest", since, a.email_from, a.email_to, now, a.zone), now)


def outage_variable(config: Config) -> str:
    """The Prefect Variable that remembers an outage of this warehouse (`report_unreachable`): the outbox, where
    such state would go, is in the warehouse itself."""
    w = config.warehouse
    where = f"{w.catalog}|{w.data_path}" if w.backend == "ducklake" else str(config.warehouse_path)
    return "balkanwatch-unreachable-" + hashlib.sha256(where.encode()).hexdigest()[:16]


def report_unreachable(config: Config, error: BaseException, now: datetime) -> bool:
    """A scheduled alerts cycle could not use the warehouse. The first such cycle starts an outage (a Prefect
    Variable holds its start); once it has lasted alerts.ingest_stall_periods of the ingest schedule, as a
    stall would, one e-mail says so, straight over SMTP: the outbox is in the warehouse. Whether it was sent."""
    from prefect.variables import Variable

    a, period = config.alerts, config.schedule.ingest_every_minutes
    if a.ingest_stall_periods <= 0:
        return False
    name = outage_variable(config)
    state = Variable.get(name)
    state = state if isinstance(state, dict) else {}
    since = datetime.fromisoformat(state["since"]) if "since" in state else now
    mailed = bool(state.get("mailed"))
    log.warning("the warehouse cannot be used (since %s UTC): %s", f"{since:%Y-%m-%d %H:%M}", error)
    if not mailed and a.email_to and ingest_stalled(since, now, period, a.ingest_stall_periods):
        w = config.warehouse
        where = f"lake {w.data_path}" if w.backend == "ducklake" else str(config.warehouse_path)
        email = compose_unreachable(where, since, str(error), period, a.email_from, a.email_to, now, a.zone)
        try:
            server, username, password = smtp_credentials(config)
            smtp.send(email.raw, a.email_from, email.recipients, server, username=username, password=password)
            save_copy(config, {"message_id": email.message_id, "message": email.raw})
            mailed = True
            log.warning("e-mailed: %s", email.subject)
        except DeliveryError as exc:   # tried again at the next cycle
            log.warning("the e-mail saying that the warehouse cannot be used was not sent: %s", exc)
    Variable.set(name, {"since": since.isoformat(), "mailed": mailed}, overwrite=True)
    return mailed


def outage_over(config: Config) -> datetime | None:
    """A scheduled cycle used the warehouse: any outage `report_unreachable` recorded is over. When it was
    e-mailed, when it began (the cycle then says it is over: `queue_back`'s e-mail, "warehouse")."""
    from prefect.variables import Variable

    name = outage_variable(config)
    state = Variable.get(name)
    if state is None:
        return None
    Variable.unset(name)
    log.info("the warehouse can be used again (it could not since %s)",
             state.get("since") if isinstance(state, dict) else state)
    if isinstance(state, dict) and state.get("mailed") and "since" in state:
        return datetime.fromisoformat(state["since"])
    return None


def send_outbox(config: Config, now: datetime | None = None) -> list[Delivery]:
    """Send what the outbox holds: read, send and mark under the outbox lock, so a message is read as pending
    and marked sent by one cycle (the ingest run's alerts cycle and the alerts deployment's can run together;
    without the lock both read a message before either marked it, and it went out twice). SMTP is outside the
    warehouse lock, as it may be slow. When another cycle holds the lock past `warehouse.lock_timeout`,
    nothing is sent here: it is sending, and what it leaves is the next cycle's."""
    try:
        with Warehouse.outbox_lock(config):
            with Warehouse.for_config(config) as wh:
                pending = wh.pending_messages()
            results = deliver(config, pending, now)
            if results:
                with Warehouse.for_config(config) as wh:
                    for d in results:
                        if d.sent:
                            wh.mark_sent(d.message_id, d.incident_id, utcnow(), note=d.error)
                        else:
                            wh.mark_failed(d.message_id, d.error or "", utcnow())
    except WarehouseBusyError as exc:
        log.warning("outbox not sent in this cycle: %s", exc)
        return []
    return results


def run_alerts(config: Config, now: datetime | None = None, *, artifacts: bool = False,
               scheduled: bool = False) -> AlertsSummary:
    """One alerts cycle. Raises DeliveryError (after recording everything) when an e-mail could not be sent.
    `scheduled`: a run of the alerts deployment, which also checks that ingest has not stalled (only there:
    an ingest just ran before its own cycle, and a manual `alert` may come between manual ingests)."""
    now = now or utcnow()
    try:
        summary, spikes, overview, series, rising = _cycle(config, now, artifacts, scheduled)
    except WarehouseError as exc:
        if scheduled:
            _tell_orchestrator(report_unreachable, config, exc, now)
        raise
    if scheduled and (began := _tell_orchestrator(outage_over, config)) is not None and config.alerts.email_to:
        back = compose_back("warehouse", began, config.alerts.email_from, config.alerts.email_to, now,
                            config.alerts.zone)
        with Warehouse.for_config(config) as wh:     # sent below with the rest of the outbox
            queue_once(wh, back, now)
    summary.spikes = [{"watchlist": s.watchlist, "bucket": f"{s.bucket_start:%Y-%m-%d %H:%M}", "score": round(s.score, 3),
                       "observed": s.observed, "expected": round(s.expected, 2), "stories": len(s.story_ids),
                       "about": summary.about.get(s.alert_id, ""), "alert_id": s.alert_id} for s in spikes]
    results = send_outbox(config, now)
    summary.sent = sum(d.sent for d in results)
    summary.failed = [d.error for d in results if not d.sent and d.error]
    summary.undelivered = [d.error for d in results if d.sent and d.error]
    for s in spikes:
        log.info("spike: %s %s observed %.0f expected %.2f score %.2f", s.watchlist, s.bucket_start, s.observed,
                 s.expected, s.score)
    if artifacts:
        publish(summary, spikes, topics_markdown(overview, series),
                rising_markdown(rising, config.alerts.rising_artifact) if rising is not None else None)
    if summary.failed:
        raise DeliveryError(f"{len(summary.failed)} e-mail(s) not sent, kept in the outbox for the next cycle: "
                            f"{summary.failed[0]}")
    if summary.undelivered:   # sent to the others, and not again: fix the address (alerts.email_to)
        raise DeliveryError(f"{len(summary.undelivered)} e-mail(s) {summary.undelivered[0]}")
    return summary


def _cycle(config: Config, now: datetime, artifacts: bool, scheduled: bool
           ) -> tuple[AlertsSummary, list[Spike], list[dict[str, Any]], dict[str, TopicSeries], dict[str, Any] | None]:
    """What a cycle does in the warehouse: match, detect, queue e-mails (the stall check on a schedule); with
    artifacts, read what they show (the topics' overview, the day's rising words)."""
    summary = AlertsSummary()
    with Warehouse.for_config(config) as wh:
        rising = DayRising(wh, now, refresh=True)
        summary.matched_articles = match_mentions(wh, config.watchlists)
        series = series_by_topic(wh, config, history_start(wh, config, now), now)
        summary.topics = len(series)
        spikes = new_spikes(wh, config, series, now)
        incidents = group_incidents(spikes)
        for incident in incidents:
            details = wh.story_details(incident.story_ids)     # the e-mail's stories, and how they spell the words
            about = _about(rising, incident, details)
            email, paths = queue_incident(wh, config, incident, series, now, details, about)
            summary.about |= dict.fromkeys((s.alert_id for s in incident.spikes), about_words(about or []))
            summary.queued += email is not None
            summary.charts += [str(p) for p in paths]
        if incidents:       # the alerts feed (feeds.dir) has its new surges now, not after the next settle
            _write_alerts_feed(wh, config)
        summary.queued += queue_new_stories(wh, config, now)
        summary.queued += queue_digest(wh, config, now, rising)
        summary.queued += queue_silent(wh, config, now)
        if scheduled:
            summary.ingest_checked = True
            summary.ingest_stalled, queued = queue_stalled(wh, config, now)
            summary.queued += queued
        summary.incidents = len(incidents)
        since = now - timedelta(days=RECENT_ALERT_DAYS)
        overview = topic_overview(list(series.values()), {w: wh.alert_buckets(w, since) for w in series},
                                  config.topic_budgets(), wh.alert_verdicts(since),
                                  suggested_budgets(wh, config, now), wh.last_alert_about(since)) if artifacts else []
        shown = rising.report() if artifacts and config.alerts.rising_artifact else None
    return summary, spikes, overview, series, shown


def _write_alerts_feed(wh: Warehouse, config: Config) -> None:
    """Rewrite `alerts.atom` (flows.feeds); a folder that cannot be written is logged, never the cycle's end."""
    from flows.feeds import write_alerts_feed

    try:
        write_alerts_feed(wh, config)
    except OSError as exc:
        log.warning("the alerts feed (feeds.dir) not written: %s", exc)


def _tell_orchestrator(call: Callable[..., _T], *args: Any) -> _T | None:
    """Record an outage's start or end in Prefect; a failure here is logged, never raised over the cycle's."""
    try:
        return call(*args)
    except Exception as exc:
        log.warning("could not record the warehouse's outage in Prefect: %s: %s", type(exc).__name__, exc)
        return None


def chart_markdown(title: str, png: bytes) -> str:
    """A markdown artifact's body showing a PNG inline (the Prefect UI renders data: images; file:// links
    do not open from it)."""
    from balkanwatch.escaping import markdown

    return f"### {markdown(title)}\n\n![{markdown(title)}](data:image/png;base64,{base64.b64encode(png).decode()})\n"


def topics_markdown(overview: list[dict[str, Any]], series: dict[str, TopicSeries]) -> str:
    """The cycle's `topics` artifact: small multiples of every topic's last week, then a table of them."""
    from balkanwatch.chart import render_topics
    from balkanwatch.escaping import markdown

    if not overview:
        return "# Topics\n\nNo watchlists configured.\n"
    png = render_topics([series[r["watchlist"]] for r in overview], OVERVIEW_DAYS)
    lines = [chart_markdown(f"Unique stories per topic, last {OVERVIEW_DAYS} days, against the baseline", png), "",
             f"| topic | stories, {OVERVIEW_DAYS} days | expected | usually a day (the {USUAL_DAYS} days before) "
             f"| last hours | alerts, {RECENT_ALERT_DAYS} days | rated by the desk "
             "| budget a month | last alert |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {markdown(r['watchlist'])} | {r['stories_7d']} | {r['expected_7d']} | {r['usual_per_day']} | "
              f"{r['now']} | {r['alerts_recent']} | {r['rated'] or '—'} | {r['budget']} | {r['last_alert'] or '—'}"
              + (f" (about {markdown(r['last_alert_about'])})" if r["last_alert_about"] else "") + " |"
              for r in overview]
    return "\n".join(lines) + "\n"


def rising_markdown(report: dict[str, Any], limit: int) -> str:
    """The cycle's `rising-words` artifact: the last day's rising words (`flows.maintenance.rising_words`'s
    report), the `limit` most surprising events, each with its newest stories linked."""
    from balkanwatch.escaping import markdown, markdown_link

    rows = report["words"][:limit]
    lines = [f"# Rising words, last 24 hours (to {report['end']:%Y-%m-%d %H:%M} UTC)", "",
             f"Words the day's **{report['stories']}** unique stories suddenly share, against "
             f"**{report['stories_before']}** in the {report['blocks']} days before: **{report['rising_words']}** "
             f"word{'s' if report['rising_words'] != 1 else ''} in **{report['events']}** "
             f"event{'s' if report['events'] != 1 else ''}"
             + (f", the {len(rows)} most surprising here" if report["events"] > len(rows) else "")
             + ". A new name no watchlist holds is one to consider (`balkanwatch topics try`); more: "
             "`balkanwatch rising`.", ""]
    if not rows:
        return "\n".join([*lines, "No word is rising.", ""])
    for r in rows:   # a section per event, not a table: the links fit on any screen, in both Prefect UIs
        head, *rest = r["as_written"]     # the event's words as its stories write them: "Banjska monastery"
        words = markdown(head) + (f" ({markdown(', '.join(rest))})" if rest else "")
        lines += [f"## {words}", "",
                  f"**{r['stories']}** stories from **{r['sources']}** sources; {r['stories_before']} in the "
                  f"{report['blocks']} days before (busiest day {r['busiest_before']}); surprise {r['surprise']}; "
                  f"topics: {markdown(', '.join(r['topics'])) or 'none'}", ""]
        lines += [f"- {markdown_link(title, url)}" for title, url in zip(r["examples"], r["links"], strict=True)]
        lines.append("")
    return "\n".join(lines)


def publish(summary: AlertsSummary, spikes: list[Spike], topics: str, rising: str | None = None) -> None:
    """Prefect artifacts (spike table, charts inline, the topics overview, the day's rising words) and one
    event per spike."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.events import emit_event

    from balkanwatch.escaping import cell

    create_table_artifact([{k: cell(v) for k, v in row.items()} for row in summary.spikes]
                          or [{"watchlist": "(no new spikes)", "bucket": "", "score": "",
                               "observed": "", "expected": "", "stories": "", "about": "", "alert_id": ""}],
                          key="alert-spikes", description="Spikes detected in this alerts cycle")
    create_markdown_artifact(topics, key="topics", description="Every topic's last week against its baseline")
    if rising is not None:
        create_markdown_artifact(rising, key="rising-words",
                                 description="Words the last day's stories suddenly share (balkanwatch rising)")
    for path in summary.charts:
        create_markdown_artifact(chart_markdown(Path(path).stem, Path(path).read_bytes()), key="alert-chart",
                                 description="Volume against baseline of a topic that spiked")
    for s in spikes:
        emit_event(event="balkanwatch.spike.detected",
                   resource={"prefect.resource.id": f"balkanwatch.topic.{s.watchlist}",
                             "prefect.resource.name": s.watchlist},
                   payload={"alert_id": s.alert_id, "bucket_start": s.bucket_start.isoformat(), "score": s.score,
                            "observed": s.observed, "expected": s.expected, "stories": list(s.story_ids),
                            "about": summary.about.get(s.alert_id, "")})


@flow(name="alerts", description="Detect topic spikes and e-mail them (outbox: nothing lost, nothing sent twice).")
def alerts(config_path: str) -> dict[str, Any]:
    """One alerts cycle for the config at `config_path` (a deployment's run also checks for a stalled ingest)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()     # this run's own record: a subflow (the ingest's cycle) has no deployment
    scheduled = bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id)
    return run_alerts(load_config(config_path), artifacts=True, scheduled=scheduled).as_dict()
