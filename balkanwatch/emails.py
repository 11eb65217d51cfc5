"""Alert and digest e-mails: pure composition (multipart text + HTML with the chart inline). No sending here.

Everything scraped (titles, excerpts, source names) reaches headers only through `one_line`, which folds
line breaks and control characters into spaces, so a title cannot add a header; in the HTML it is escaped.
"""

from __future__ import annotations

import html
import shlex
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from balkanwatch import escaping
from balkanwatch.alerting import Incident, Spike, as_utc
from balkanwatch.models import TEASERS
from balkanwatch.textclean import paragraph_key, paragraphs

SUBJECT_MAX = 160
# RFC 5322 allows 998-character lines; the default 78 folds a long Subject right after "Subject:", which
# some clients show with a leading space.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """Text safe for a header: control characters and line breaks become one space; at most `limit` chars."""
    return escaping.one_line(text, limit)


# The time in the Message-ID of an e-mail sent once per event (a stall, an outage), to the microsecond.
STAMP = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class AlertEmail:
    message_id: str
    kind: str                 # one of models.EMAIL_KINDS
    incident_id: str | None
    subject: str
    recipients: tuple[str, ...]
    raw: bytes                # the RFC 5322 message, as sent
    html: str                 # the HTML part (the demo writes it out)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def at(when: datetime, tz: tzinfo = UTC, fmt: str = "%Y-%m-%d %H:%M", *, zone: bool = True) -> str:
    """A stored time (naive UTC) as the desk reads it: in `tz` (alerts.timezone), with the zone's name as
    the time then had it ("2026-12-06 17:00 CET", "… 18:00 CEST", "… 16:00 UTC")."""
    local = as_utc(when).astimezone(tz)
    return f"{local:{fmt}}" + (f" {local.tzname()}" if zone else "")


def _until(spike: Spike, now: datetime | None) -> datetime:
    """Where a surge's window ends as the e-mail can say it: the end of its last bucket, or the time the
    e-mail is written while that bucket is still running (an alert at 00:41 on the 22:00-01:00 window is
    about 22:00-00:41; "until 01:00" would be a time that has not come)."""
    if now is None:
        return spike.window_end
    return min(spike.window_end, as_utc(now).astimezone(UTC).replace(tzinfo=None))


ABOUT_SUBJECT_WORDS = 2   # words of what a surge is about in its e-mail's subject (the first event's, head first;
                          # a phrase counts its words, and the first is shown whole: "about Ibar valley")


def subject_words(items: Sequence[str], budget: int = ABOUT_SUBJECT_WORDS) -> list[str]:
    """The first of an event's words and phrases (`textnorm.phrases`) that fit `budget` words, at least one."""
    out: list[str] = []
    for item in items:
        if out and sum(len(w.split()) for w in [*out, item]) > budget:
            break
        out.append(item)
    return out


def incident_subject(incident: Incident, now: datetime | None = None,
                     about: Sequence[tuple[Sequence[str], int]] = ()) -> str:
    """'[balkanwatch] kfor + north-kosovo-clash: 8 new stories in 2 h about Banjska monastery (expected 0.2,
    usually 0.4 a day)': the topics, the surge, what it is about (`alerting.surge_about`'s first event, when
    any: `subject_words`), and what the topic usually brings. The words are letters and digits of the stories'
    text, as they write them."""
    lead = max(incident.spikes, key=lambda s: s.observed)
    span = _hours((_until(lead, now) - lead.window_start).total_seconds())
    topics = " + ".join(incident.watchlists)
    n = len(incident.story_ids)
    what = f" about {', '.join(subject_words(about[0][0]))}" if about else ""
    return one_line(f"[balkanwatch] {topics}: {n} new stor{'y' if n == 1 else 'ies'} in {span}{what} "
                    f"(expected {lead.expected:.1f}, {lead.usual})")


EXCERPT_CHARS = 280


def excerpt(text: str | None, title: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of a story's text for an e-mail, on one line: without a leading paragraph that only repeats
    the headline (extracted texts usually begin with it, and the e-mail shows the title just above)."""
    paras = paragraphs(text or "")
    if len(paras) > 1 and title and paragraph_key(paras[0]).rstrip(" .") == paragraph_key(title).rstrip(" ."):
        paras = paras[1:]
    return one_line(" ".join(paras), limit)


TEASER_NOTE = "(teaser: the page gave us no article text, paywalled or closed to us) "


def _excerpt(s: dict[str, Any]) -> str:
    """The story's excerpt, said to be a teaser when the page gave no article (the listing's summary)."""
    return (TEASER_NOTE if s.get("text_from") in TEASERS else "") + excerpt(s["excerpt"], s["title"])


def _articles(n: int) -> str:
    """How many articles carry the story (origin included; `balkanwatch stories` counts copies beside it)."""
    return f"{n} article{'s' * (n != 1)}"


def _origin(s: dict[str, Any]) -> str:
    """Who has the story: the origin's publisher (the name its page gives, else its host) with the origin
    source's country and type when configured, then the sources carrying it
    ("Koha Ditore (XK, aggregator) · sources: Bing KFOR, RTS")."""
    about = ", ".join(x for x in (s.get("country"), s.get("source_type")) if x)
    publisher = s.get("site_name") or s.get("publisher") or ""
    sources = ", ".join(s.get("sources") or [])
    return " · ".join(x for x in (f"{publisher} ({about})" if about else publisher,
                                  f"sources: {sources}" if sources else "") if x.strip())


def _story_text(s: dict[str, Any], tz: tzinfo = UTC, *, excerpt: bool = True) -> str:
    return (f"- {one_line(s['title'] or '(untitled)', 300)}\n  {s['url']}\n  first seen {at(s['first_seen_at'], tz)}"
            f" · {_articles(s['articles'])} · {one_line(_origin(s), 300)}\n"
            + (f"  {_excerpt(s)}\n" if excerpt else ""))


def _story_html(s: dict[str, Any], tz: tzinfo = UTC, *, excerpt: bool = True) -> str:
    e = html.escape
    return (f"<li><a href=\"{e(s['url'], quote=True)}\">{e(one_line(s['title'] or '(untitled)', 300))}</a><br>"
            f"<small>first seen {at(s['first_seen_at'], tz)} · {_articles(s['articles'])} · "
            f"{e(one_line(_origin(s), 300))}</small>" + (f"<br>{e(_excerpt(s))}" if excerpt else "") + "</li>")


def _spike_lines(incident: Incident, now: datetime, tz: tzinfo = UTC) -> list[str]:
    return [f"{s.watchlist}: {s.observed:.0f} unique stories between {at(s.window_start, tz, zone=False)} and "
            f"{at(_until(s, now), tz, '%H:%M')}, expected {s.expected:.1f}, {s.usual}; {s.against_peak}: {s.rarity}"
            for s in incident.spikes]


# A surge that ended this long before its e-mail is said to be found late (its stories came in after a gap in
# ingest: flows.alerts.new_spikes); an ordinary alert goes out while its surge is still on.
LATE_NOTE_HOURS = 2.0


def late_note(incident: Incident, now: datetime, tz: tzinfo = UTC) -> tuple[str, str]:
    """("", "") for an ordinary alert; for one found late, a subject suffix and a first line saying when its
    surge ended and how long before this e-mail."""
    ended = max(s.window_end for s in incident.spikes)
    late = (now.replace(tzinfo=None) - ended).total_seconds()
    if late < LATE_NOTE_HOURS * 3600:
        return "", ""
    return (f" [found {_hours(late)} late]",
            f"Found late: the surge ended at {at(ended, tz)}, {_hours(late)} before this e-mail; its "
            "stories reached balkanwatch only now (ingest was not running, or their sources were late).")


ABOUT_WORDS = 5   # words of one event shown in an alert's "About:" line (its head and four more)


def _about_line(about: Sequence[tuple[Sequence[str], int]], stories: int) -> str:
    """'About: Banjska monastery (6 of the 8 stories); gunmen (4)' (`alerting.surge_about`), "" for none."""
    if not about:
        return ""
    parts = [", ".join(words[:ABOUT_WORDS]) + (f" ({n} of the {stories} stories)" if i == 0 else f" ({n})")
             for i, (words, n) in enumerate(about)]
    return one_line("About: " + "; ".join(parts), 400) + " — words these stories share that the topics' weeks before did not"


def about_words(about: Sequence[tuple[Sequence[str], int]]) -> str:
    """What a surge is about, for a table cell: 'banjska, monastery; gunmen' (the e-mail's words, no counts)."""
    return one_line("; ".join(", ".join(words[:ABOUT_WORDS]) for words, _ in about), 200)


def compose_incident(incident: Incident, stories: Sequence[dict[str, Any]], charts: dict[str, bytes],
                     sender: str, recipients: Sequence[str], now: datetime, tz: tzinfo = UTC, *,
                     about: Sequence[tuple[Sequence[str], int]] = ()) -> AlertEmail:
    """One e-mail for one incident: which topics surged, by how much, what the surge is about (`about`: the
    words most of its stories share that the topics' weeks before did not, `alerting.surge_about`) and the
    stories that drove it; one found late says so in its subject and first line. Times in `tz`
    (alerts.timezone)."""
    suffix, late = late_note(incident, now, tz)
    what = _about_line(about, len(incident.story_ids))
    subject = one_line(incident_subject(incident, now, about) + suffix)
    message_id = f"<{incident.incident_id}@balkanwatch>"
    text = "\n".join([*([late, ""] if late else []), "Coverage surged:", *(f"  {line}" for line in _spike_lines(incident, now, tz)),
                      *([what] if what else []), "",
                      "Stories (each counted once, however many sites carried it):", "",
                      *(_story_text(s, tz) for s in stories), "", _rate_line(incident.incident_id)])
    body = ["<html><body style=\"font-family:sans-serif\">",
            *([f"<p><strong>{html.escape(late)}</strong></p>"] if late else []), "<h2>Coverage surged</h2><ul>",
            *(f"<li>{html.escape(line)}</li>" for line in _spike_lines(incident, now, tz)), "</ul>",
            *([f"<p>{html.escape(what)}</p>"] if what else [])]
    # what happened first, then why it counts as a surge: an incident over four topics has four charts, and
    # on a phone the stories sat three screens down below them (session 37)
    body += ["<h3>Stories</h3><ol>", *(_story_html(s, tz) for s in stories), "</ol>"]
    if charts:
        body += ["<h3>Volume against baseline</h3>"]
        body += [f"<p><img src=\"cid:chart-{i}\" alt=\"{html.escape(name)} volume against baseline\"></p>"
                 for i, name in enumerate(sorted(charts))]
    body += [f"<p><small>{html.escape(_rate_line(incident.incident_id))}</small></p>",
             "<p><small>Sent by balkanwatch. Stories are counted once across syndicated copies.</small></p>",
             "</body></html>"]
    page = "\n".join(body)
    msg = _message(subject, sender, recipients, message_id, now, text, page, charts)
    return AlertEmail(message_id, "spike", incident.incident_id, subject, tuple(recipients), msg, page)


def _rate_line(incident_id: str) -> str:
    """How to tell balkanwatch whether this alert was worth it (the verdicts a detector can be judged on)."""
    return (f"Worth an alert? balkanwatch rate {incident_id} useful (or: noise --note \"why\"), or in the Prefect UI "
            "the deployment balkanwatch-rate (Run, Custom run) with this id: your verdicts are kept with the alert, to "
            "judge the detector on this desk's own alerts.")


def compose_stories(topic: str, stories: Sequence[dict[str, Any]], more: int, sender: str,
                    recipients: Sequence[str], now: datetime, tz: tzinfo = UTC) -> AlertEmail:
    """New stories of a topic that asks for every one (watchlists[].every_story), as they came: each with
    its link, first-seen time, origin and excerpt, as in a surge's e-mail; `more` stories beyond these were
    new too (a burst larger than one e-mail lists)."""
    import hashlib

    n = len(stories) + more
    what = f"new story: {stories[0]['title'] or '(untitled)'}" if n == 1 and stories else f"{n} new stories"
    subject = one_line(f"[balkanwatch] {topic}: {what}")
    tail = [f"and {more} more: {_all_of(topic)}"] if more else []
    text = "\n".join([f"New stories of {topic} (each counted once, however many sites carried it):", "",
                      *(_story_text(s, tz) for s in stories), *tail]) + "\n"
    page = "\n".join(["<html><body style=\"font-family:sans-serif\">",
                      f"<h2>New stories of {html.escape(topic)}</h2><ol>", *(_story_html(s, tz) for s in stories),
                      "</ol>", *(f"<p><small>{html.escape(t)}</small></p>" for t in tail),
                      "<p><small>Sent by balkanwatch because this topic asks for every story "
                      "(watchlists[].every_story).</small></p></body></html>"])
    key = hashlib.sha256(topic.encode("utf-8")).hexdigest()[:12]
    message_id = f"<stories-{key}-{now:{STAMP}}@balkanwatch>"
    return AlertEmail(message_id, "story", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, page, {}), page)


def compose_digest(day: str, alerts: Sequence[dict[str, Any]], topics: Sequence[dict[str, Any]], sender: str,
                   recipients: Sequence[str], now: datetime, tz: tzinfo = UTC,
                   stories: Mapping[str, Sequence[dict[str, Any]]] | None = None, *, per_topic: int = 5,
                   followed: Sequence[str] | None = None, message_id: str = "",
                   rising: Sequence[dict[str, Any]] = ()) -> AlertEmail:
    """The daily digest: the last day's alerts, then every topic with unique stories in the last day (busiest
    first) with its `per_topic` most carried stories (`stories`: per topic, most carried first, as
    `story_details` gives them), each with its link: what an analyst reads over coffee without opening anything
    else. A story is listed once, under the first topic that lists it; a later topic lists its next most
    carried instead and says how many of its stories stand above. `followed`: the topics of a desk's digest
    (named in its subject; the caller passes only their rows), None for every topic. `rising`: the day's
    rising words (`flows.maintenance.rising_words` rows; a desk's, rising within its topics' stories), listed
    last with their newest stories, linked."""
    stories = stories or {}
    shown: set[str] = set()
    about = f" ({', '.join(followed)})" if followed is not None else ""
    subject = one_line(f"[balkanwatch] daily digest {day}{about}: {len(alerts)} alert{'s' * (len(alerts) != 1)}")
    alert_lines = [f"{a['watchlist']}: {a['observed']:.0f} stories at {at(a['bucket_start'], tz)} "
                   f"(expected {a['expected']:.1f})" for a in alerts]
    lines = [f"Alerts in the last 24 hours: {len(alerts)}", *(f"  {line}" for line in alert_lines), "",
             "Unique stories per topic in the last 24 hours:"]
    page = ["<html><body style=\"font-family:sans-serif\">", f"<h2>Alerts in the last 24 hours: {len(alerts)}</h2>"]
    page += ["<ul>", *(f"<li>{html.escape(line)}</li>" for line in alert_lines), "</ul>"] if alerts else []
    page += ["<h2>Unique stories per topic in the last 24 hours</h2>"]
    for t in topics:
        candidates = stories.get(t["watchlist"], [])
        above = sum(1 for s in candidates if s["story_id"] in shown)
        listed = [s for s in candidates if s["story_id"] not in shown][:per_topic]
        shown.update(s["story_id"] for s in listed)
        more = t["stories"] - len(listed) - above
        also = f" ({above} listed above)" if above else ""
        lines.append(f"  {t['watchlist']}: {t['stories']}{also}" + (" — the most carried:" if listed else ""))
        lines += [textwrap.indent(_story_text(s, tz, excerpt=False), "    ").rstrip("\n") for s in listed]
        page.append(f"<h3>{html.escape(t['watchlist'])}: {t['stories']}</h3>")
        if above:
            page.append(f"<p><small>{above} of them listed above</small></p>")
        if listed:
            page += ["<ol>", *(_story_html(s, tz, excerpt=False) for s in listed), "</ol>"]
            if more > 0:
                page.append(f"<p><small>and {more} more: <code>{html.escape(_all_of(t['watchlist']))}</code>"
                            "</small></p>")
        if listed and more > 0:
            lines.append(f"    and {more} more: {_all_of(t['watchlist'])}")
    if rising:
        more = "balkanwatch rising" + "".join(f" --topic {shlex.quote(t)}" for t in followed or ())
        what = ("what the day's stories suddenly share" if followed is None else
                "what these topics' stories suddenly share, against their own weeks before")
        lines += ["", f"Rising words in the last 24 hours ({what}; more: {more}):"]
        page += ["<h2>Rising words in the last 24 hours</h2>",
                 f"<p><small>{html.escape(what[0].upper() + what[1:])}; more: <code>{html.escape(more)}</code></small></p>",
                 "<ul>"]
        for r in rising:
            first, *rest = r["as_written"]   # as its stories write them: "Banjska monastery", not "banjska"
            head = one_line(first + (f" ({', '.join(rest)})" if rest else ""), 200)
            said = (f"{r['stories']} stories from {r['sources']} sources, {r['stories_before']} in the weeks before; "
                    + (f"topics: {', '.join(r['topics'])}" if r["topics"] else "in no topic"))
            lines.append(f"  {head}: {said}")
            lines += [f"    - {one_line(title, 300)}\n      {url}" for title, url in zip(r["examples"], r["links"], strict=True)]
            page.append(f"<li><b>{html.escape(head)}</b>: {html.escape(said)}<ul>"
                        + "".join(f"<li><a href=\"{html.escape(url, quote=True)}\">{html.escape(one_line(title, 300))}</a></li>"
                                  for title, url in zip(r["examples"], r["links"], strict=True) if escaping.safe_url(url))
                        + "</ul></li>")
        page.append("</ul>")
    page += ["<p><small>Sent by balkanwatch. Stories are counted once across syndicated copies.</small></p>",
             "</body></html>"]
    text = "\n".join(lines) + "\n"
    body = "\n".join(page)
    message_id = message_id or f"<digest-{day}@balkanwatch>"
    return AlertEmail(message_id, "digest", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, body, {}), body)


def _all_of(topic: str) -> str:
    """The command that lists all of a topic's stories of the day (topic names are config keys, but quoted)."""
    return f"balkanwatch stories --topic {shlex.quote(topic)} --since 24h"


def compose_silent(source: dict[str, Any], sender: str, recipients: Sequence[str], now: datetime,
                   tz: tzinfo = UTC) -> AlertEmail:
    """One e-mail when a source goes silent (it answers but has published nothing for several of its usual
    gaps); its Message-ID names the source and when the silence began, so each silence is mailed once."""
    import hashlib

    name = one_line(str(source["name"]), 120)
    since = source["silent_since"]
    gap = source.get("usual_gap_minutes")
    subject = one_line(f"[balkanwatch] source silent: {name}")
    newest = source["last_new_item_at"]
    text = (f"The source {name} still answers but has published nothing new since "
            f"{at(newest, tz) if newest else 'its first poll'}"
            + (f"; it usually publishes every {gap / 60:.1f} h" if gap else "") + ".\n"
            f"Its feed or page may have moved or broken: {escaping.one_line(str(source['location']))}\n"
            f"Silent since {at(since, tz)}. `balkanwatch sources` shows its health.\n")
    page = "<html><body><pre>" + html.escape(text) + "</pre></body></html>"
    key = hashlib.sha256(str(source["name"]).encode("utf-8")).hexdigest()[:16]
    message_id = f"<silent-{key}-{since:%Y%m%dT%H%M%S}@balkanwatch>"
    return AlertEmail(message_id, "silent", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, page, {}), page)


def compose_stalled(record: dict[str, Any], period_minutes: float, sender: str, recipients: Sequence[str],
                    now: datetime, tz: tzinfo = UTC) -> AlertEmail:
    """One e-mail when ingest has stalled (`health.ingest_stalled`); its Message-ID names the last completed
    run's end, so each stall is mailed once, and the next stall (after runs completed again) once more."""
    last = record["last_completed_at"]
    quiet = _hours((now - last).total_seconds())
    polled, failed = record.get("latest_polled") or 0, record.get("latest_failed") or 0
    blind = record.get("latest_status") == "completed" and polled > 0 and failed == polled
    if blind:   # runs complete, but read nothing: every source fails
        subject = one_line(f"[balkanwatch] every source has failed for {quiet}: ingest sees nothing")
        text = (f"Ingest runs complete, but no source has been read since {at(last, tz)} ({quiet}): the "
                f"newest run, started {at(record['latest_started_at'], tz)}, polled {polled} "
                f"source{'s' * (polled != 1)} and every one failed"
                + (f", e.g. {one_line(str(record['latest_error']), 300)}" if record.get("latest_error") else "")
                + ". Until one is read, nothing new reaches the warehouse and no alert can fire. All failing at "
                "once usually means this machine's network, DNS or proxy, not the sites: `balkanwatch sources` "
                "shows each one's error.\n")
    else:
        subject = one_line(f"[balkanwatch] no ingest has completed for {quiet}")
        latest = (f"The newest run started {at(record['latest_started_at'], tz)} and is "
                  f"{record['latest_status']}." if record.get("latest_started_at") else "")
        text = (f"No ingest run has completed since {at(last, tz)} ({quiet}; the schedule runs one every "
                f"{period_minutes:g} min). Until one does, nothing new reaches the warehouse and no alert can "
                f"fire.\n{latest}\n"
                "Look at `balkanwatch serve`'s log and the ingest deployment's runs in the Prefect UI: runs "
                "failing (the reason is in their logs), skipped for the run lock (a run still holding it), or "
                "waiting as Pending or AwaitingConcurrencySlot (README, \"The Prefect UI\": a slot a restarted "
                "server never freed).\n")
    page = "<html><body><pre>" + html.escape(text) + "</pre></body></html>"
    message_id = f"<stalled-{last:{STAMP}}@balkanwatch>"
    return AlertEmail(message_id, "stalled", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, page, {}), page)


def compose_unreachable(where: str, since: datetime, error: str, period_minutes: float, sender: str,
                        recipients: Sequence[str], now: datetime, tz: tzinfo = UTC) -> AlertEmail:
    """One e-mail when the scheduled alerts cycles have not been able to use the warehouse since `since` (a
    program holding the file, a full disk, a lake's catalog down): sent straight over SMTP, since the outbox is
    in the warehouse; its Message-ID names the outage's start, so each outage is mailed once."""
    down = _hours((now - since).total_seconds())
    subject = one_line(f"[balkanwatch] the warehouse cannot be used (for {down}): no ingest, no alerts")
    text = (f"Since {at(since, tz)} ({down}) every scheduled alerts cycle has failed to use the "
            f"warehouse ({where}). Until one can, no ingest run stores anything and no alert can fire. This is "
            "the one message about it; e-mails queued before it wait in the warehouse's outbox.\n"
            f"The last error:\n\n    {one_line(error, 2000)}\n\n"
            f"The schedule runs an ingest every {period_minutes:g} min. Look at `balkanwatch serve`'s log and the "
            "failed runs in the Prefect UI. Alerts resume by themselves once the warehouse can be used again.\n")
    page = "<html><body><pre>" + html.escape(text) + "</pre></body></html>"
    message_id = f"<unreachable-{since:{STAMP}}@balkanwatch>"
    return AlertEmail(message_id, "unreachable", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, page, {}), page)


# A message sent this long after it was queued (the SMTP server was down) is re-dated and says so.
DELAY_NOTE_MINUTES = 15.0


def as_delivered(raw: bytes, queued_at: datetime, now: datetime) -> bytes:
    """The message as it goes out `now`. Sent soon after it was queued: unchanged. Sent later (the SMTP
    server was down for hours): dated now, so that mail clients, which sort by Date, show it on top instead of
    hours down the inbox, with "[delayed 3 h]" before its subject and the time it was written in a
    `X-Balkanwatch-Queued` header. Its Message-ID stays: a resend is still recognised as the same message."""
    delay = (now.replace(tzinfo=None) - queued_at.replace(tzinfo=None)).total_seconds()
    if delay < DELAY_NOTE_MINUTES * 60:
        return raw
    msg = message_from_bytes(raw, policy=MAIL_POLICY)
    subject = str(msg["Subject"] or "")
    del msg["Date"], msg["Subject"]
    msg["Date"] = format_datetime(as_utc(now))
    msg["Subject"] = one_line(f"[delayed {_hours(delay)}] {subject}")
    msg["X-Balkanwatch-Queued"] = format_datetime(as_utc(queued_at))
    return msg.as_bytes()


def stall_began(message_id: str) -> datetime:
    """When the stall a `compose_stalled` e-mail announced began (its last completed run's end), from its
    Message-ID."""
    return datetime.strptime(message_id.removeprefix("<stalled-").removesuffix("@balkanwatch>"), STAMP)


def compose_back(what: str, since: datetime, sender: str, recipients: Sequence[str], now: datetime,
                 tz: tzinfo = UTC) -> AlertEmail:
    """One e-mail when what a stall or outage e-mail announced is over: `what` is "ingest" (runs read sources
    again) or "warehouse" (it can be used again), `since` when it began (the announcing e-mail's stamp: each
    is answered once)."""
    gap = _hours((now - since).total_seconds())
    if what == "ingest":
        subject = one_line(f"[balkanwatch] ingest is running again (after {gap})")
        first = f"Ingest runs read sources again: nothing new had come in since {at(since, tz)} ({gap})."
    else:
        subject = one_line(f"[balkanwatch] the warehouse can be used again (after {gap})")
        first = (f"The warehouse can be used again: the scheduled alerts cycles could not use it since "
                 f"{at(since, tz)} ({gap}).")
    text = (f"{first}\nStories published meanwhile are fetched by the next runs, and a surge among them is "
            "still mailed, marked as found late (alerts.catch_up_hours).\n")
    page = "<html><body><pre>" + html.escape(text) + "</pre></body></html>"
    message_id = f"<back-{what}-{since:{STAMP}}@balkanwatch>"
    return AlertEmail(message_id, "back", None, subject, tuple(recipients),
                      _message(subject, sender, recipients, message_id, now, text, page, {}), page)


def _message(subject: str, sender: str, recipients: Sequence[str], message_id: str, now: datetime, text: str,
             page: str, charts: dict[str, bytes]) -> bytes:
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(as_utc(now))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(page, subtype="html")
    html_part = list(msg.iter_parts())[1]      # the text/html alternative, typed as a MIMEPart
    for i, name in enumerate(sorted(charts)):
        html_part.add_related(charts[name], maintype="image", subtype="png", cid=f"<chart-{i}>",
                              filename=f"{name}.png", disposition="inline")
    return msg.as_bytes()
