"""From topic stories to incidents: pure decisions of the alerts flow (no I/O).

    story_mentions rows | count_series (unique stories per bucket) | spikes.score_series
        | spikes inside the alert window, not repeating a recorded surge | group_incidents → one e-mail each
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from balkanwatch.config import AlertsSettings, Config
from balkanwatch.spikes import Scored, SpikeSettings, decide, rarity, span_seconds, surprise


def as_utc(when: datetime) -> datetime:
    """A stored time (naive, UTC as the warehouse keeps it) as an aware one; an aware time as it is."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def spike_settings(a: AlertsSettings) -> SpikeSettings:
    return SpikeSettings(bucket_seconds=a.bucket_minutes * 60, alerts_per_month=a.alerts_per_month,
                         cooldown_seconds=int(a.cooldown_hours * 3600), min_count=a.min_stories,
                         scale_seconds=span_seconds(a.surge_hours))


def bucket_floor(when: datetime, minutes: int) -> datetime:
    """The start of the bucket holding `when` (buckets are aligned on the epoch, so on the hour for ≤ 60 min)."""
    epoch = datetime(1970, 1, 1, tzinfo=when.tzinfo)
    step = minutes * 60
    return epoch + timedelta(seconds=(int((when - epoch).total_seconds()) // step) * step)


@dataclass(frozen=True)
class TopicSeries:
    """Unique stories of one topic per bucket, with the detector's view of each bucket."""

    watchlist: str
    starts: list[datetime]
    stories: list[list[str]]          # story ids first seen in each bucket
    scored: list[Scored]
    bucket: timedelta

    @property
    def counts(self) -> list[int]:
        return [len(s) for s in self.stories]


def topic_series(watchlist: str, rows: Sequence[tuple[str, datetime]], start: datetime, now: datetime,
                 a: AlertsSettings) -> TopicSeries:
    """Bucket a topic's (story_id, first_seen_at) rows from `start` to the bucket holding `now`, and score it."""
    return budget_series(watchlist, rows, start, now, a, [a.alerts_per_month])[0]


def budget_series(watchlist: str, rows: Sequence[tuple[str, datetime]], start: datetime, now: datetime,
                  a: AlertsSettings, budgets: Sequence[float]) -> list[TopicSeries]:
    """`topic_series` at each of `budgets` (alerts a month) in turn: the evidence is read once (it does not
    depend on the budget), the alerts decided for each (`spikes decide`)."""
    step = timedelta(minutes=a.bucket_minutes)
    first = bucket_floor(start, a.bucket_minutes)
    n = int((bucket_floor(now, a.bucket_minutes) - first) / step) + 1
    stories: list[list[str]] = [[] for _ in range(max(n, 0))]
    for story_id, when in rows:
        i = int((when - first) / step)
        if 0 <= i < n:
            stories[i].append(story_id)
    settings = spike_settings(a)
    evidence = surprise([len(s) for s in stories], settings)
    starts = [first + i * step for i in range(n)]
    return [TopicSeries(watchlist, starts, stories, decide(evidence, replace(settings, alerts_per_month=b)), step)
            for b in budgets]


@dataclass(frozen=True)
class Spike:
    """A detector alert on one topic, with what explains it."""

    watchlist: str
    bucket_start: datetime
    window_start: datetime          # the surge: from its first bucket above the baseline …
    window_end: datetime            # … to the end of its last one (exclusive)
    score: float                    # the detector's score where it fired: months / (1 + months)
    observed: float                 # unique stories in the surge
    expected: float                 # the baseline's expectation over the same buckets
    story_ids: tuple[str, ...]
    usual_per_day: float | None = None   # the topic's mean unique stories a day before the surge (up to
                                         # USUAL_DAYS); None with less than a day of history
    months: float = 0.0                  # days with a surge this big come about once in this many months (the
                                         # surge at its most outstanding, from the alert to its last bucket)
    peak: float = 0.0                    # an ordinary day's busiest window of the span judged there…
    span: timedelta = timedelta(hours=1)  # …and that span

    @property
    def usual(self) -> str:
        """'usually 1.3 a day' for the e-mail: a sparse topic's expected count per bucket is often 0 (a
        median of mostly empty hours), which alone tells the reader little."""
        if self.usual_per_day is None:
            return "no history yet"
        return f"usually {self.usual_per_day:.1f} a day"

    @property
    def rarity(self) -> str:
        """'about once in 9 days on this topic's record' (spikes.rarity)."""
        return rarity(self.months)

    @property
    def against_peak(self) -> str:
        """'an ordinary day's busiest 3 hours bring 4' for the e-mail: what the surge was judged against."""
        hours = self.span.total_seconds() / 3600
        span = "hour" if hours == 1 else f"{hours:g} hours"
        return f"an ordinary day's busiest {span} {'brings' if hours == 1 else 'bring'} {self.peak:.0f}"

    @property
    def alert_id(self) -> str:
        return f"{self.watchlist}@{self.bucket_start:%Y-%m-%dT%H:%M}"


USUAL_DAYS = 28   # days before a surge whose mean daily volume the e-mail quotes as "usually N a day"


def usual_per_day(series: TopicSeries, first: int) -> float | None:
    """Mean unique stories a day in the (up to) USUAL_DAYS before bucket `first`; None under a day of history."""
    per_day = timedelta(days=1) / series.bucket
    counts = series.counts[max(0, first - int(USUAL_DAYS * per_day)): first]
    days = len(counts) / per_day
    return sum(counts) / days if days >= 1 else None


def surge_span(series: TopicSeries, fired: Scored) -> tuple[int, int]:
    """Buckets [first, last] of the surge an alert belongs to: from the first bucket above its baseline in the
    aggregate that fired (a 3-hour span may start with an empty hour), back over buckets that were above
    their baseline, forward to the newest bucket while they stay above it."""
    above = [len(b) > sc.expected for b, sc in zip(series.stories, series.scored, strict=True)]
    first = fired.index - fired.scale + 1
    while first < fired.index and not above[first]:
        first += 1
    while first > 0 and above[first - 1]:
        first -= 1
    last = fired.index
    while last + 1 < len(above) and above[last + 1]:
        last += 1
    return first, last


def spikes_of(series: TopicSeries, since: datetime | None = None) -> list[Spike]:
    """The detector's alerts on a series (optionally only in buckets starting at or after `since`), each
    with the whole surge it belongs to: its buckets, unique stories and the baseline's expectation."""
    out = []
    for s in series.scored:
        if not s.alert or (since is not None and series.starts[s.index] < since):
            continue
        lo, hi = surge_span(series, s)
        ids = tuple(sorted({sid for bucket in series.stories[lo: hi + 1] for sid in bucket}))
        expected = sum(sc.expected for sc in series.scored[lo: hi + 1])
        top = max(series.scored[s.index: hi + 1], key=lambda sc: sc.months)   # the surge at its most outstanding
        out.append(Spike(series.watchlist, series.starts[s.index], series.starts[lo],
                         series.starts[hi] + series.bucket, s.score, float(len(ids)), expected, ids,
                         usual_per_day(series, lo), top.months, top.baseline, top.scale * series.bucket))
    return out


def is_repeat(spike: Spike, recorded: Sequence[datetime], cooldown: timedelta) -> bool:
    """True when an alert of the same topic was already recorded within the cooldown (the same surge,
    seen again after late stories moved the detector's first alert bucket)."""
    return any(abs(spike.bucket_start - b) < cooldown for b in recorded)


@dataclass(frozen=True)
class Incident:
    """Spikes of one cycle that share stories: one e-mail."""

    spikes: tuple[Spike, ...]

    @property
    def incident_id(self) -> str:
        key = "|".join(sorted(s.alert_id for s in self.spikes))
        return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def story_ids(self) -> list[str]:
        return sorted({sid for s in self.spikes for sid in s.story_ids})

    @property
    def watchlists(self) -> list[str]:
        return sorted({s.watchlist for s in self.spikes})


def group_incidents(spikes: Sequence[Spike]) -> list[Incident]:
    """Group spikes that share at least one story (transitively); the rest are incidents of their own."""
    groups: list[list[Spike]] = []
    for spike in sorted(spikes, key=lambda s: (s.bucket_start, s.watchlist)):
        touching = [g for g in groups if any(set(spike.story_ids) & set(o.story_ids) for o in g)]
        merged = [spike] + [s for g in touching for s in g]
        groups = [g for g in groups if g not in touching] + [merged]
    return [Incident(tuple(sorted(g, key=lambda s: (s.bucket_start, s.watchlist)))) for g in groups]


RECENT_ALERT_DAYS = 28   # the topics artifact counts each topic's alerts over the last four weeks
OVERVIEW_DAYS = 7   # the topics overview shows each topic's last week


def right_now(months: float, budget: float | None) -> str:
    """How outstanding a topic's last hours are, in words, for the `topics` artifact: "ordinary" where the
    detector counts a topic as calm again after an alert (`SpikeSettings.calm_months`: a third of the alert
    line, and at least what every other ordinary day reaches), else how rare, and "alert level" from the
    budget's line (an alert, unless the cooldown after an earlier one holds it back)."""
    s = SpikeSettings() if budget is None else SpikeSettings(alerts_per_month=budget)
    if months < s.calm_months:
        return "ordinary"
    words = rarity(months).removesuffix(" on this topic's record")
    return f"{words}, alert level" if months >= s.months_needed else words


def rated(verdicts: Mapping[str, int]) -> str:
    """What the desk said of a topic's recent alerts (`balkanwatch rate`): "2 useful, 1 noise", "" for none."""
    return ", ".join(f"{verdicts[v]} {v}" for v in ("useful", "noise") if verdicts.get(v))


def budget_cell(budget: float | None, suggested: float | None) -> str:
    """A topic's budget a month as the `topics` table shows it, with what the desk's labels suggest
    (`suggest_budget`, `balkanwatch spikes budgets`): "4", "4 (labels suggest 8)", "4 (labels agree)"."""
    if budget is None:
        return ""
    if suggested is None:
        return f"{budget:g}"
    return f"{budget:g} (labels agree)" if suggested == budget else f"{budget:g} (labels suggest {suggested:g})"


def topic_overview(series: Sequence[TopicSeries], recent_alerts: dict[str, list[datetime]],
                   budgets: dict[str, float], verdicts: Mapping[str, Mapping[str, int]] | None = None,
                   suggested: Mapping[str, float] | None = None,
                   abouts: Mapping[str, str] | None = None) -> list[dict[str, object]]:
    """One row per topic for the cycle's `topics` artifact, busiest last week first: unique stories in the
    last OVERVIEW_DAYS, what the detector expected over them, the usual volume, how outstanding its last
    hours are (`right_now`), the topic's alerts in the last RECENT_ALERT_DAYS (`recent_alerts`: their
    buckets) against its budget a month, what the desk said of them (`verdicts`: per topic, how many were
    rated useful and noise) and the budget their labels suggest (`suggested`: `budget_cell`), and the last
    alert with what its surge was about (`abouts`: `Warehouse.last_alert_about`)."""
    rows = []
    for ts in series:
        per_day = timedelta(days=1) / ts.bucket
        lo = max(0, len(ts.counts) - int(OVERVIEW_DAYS * per_day))
        usual = usual_per_day(ts, lo)
        recent = recent_alerts.get(ts.watchlist, [])
        budget = budgets.get(ts.watchlist)
        rows.append({"watchlist": ts.watchlist, "stories_7d": sum(ts.counts[lo:]),
                     "expected_7d": round(sum(s.expected for s in ts.scored[lo:]), 1),
                     "usual_per_day": "" if usual is None else round(usual, 1),
                     "now": right_now(ts.scored[-1].months if ts.scored else 0.0, budget),
                     "alerts_recent": len(recent), "rated": rated((verdicts or {}).get(ts.watchlist, {})),
                     "budget": budget_cell(budget, (suggested or {}).get(ts.watchlist)),
                     "last_alert": f"{max(recent):%Y-%m-%d %H:%M}" if recent else "",
                     "last_alert_about": (abouts or {}).get(ts.watchlist, "") if recent else ""})
    # stories_7d is the int sum above; the rows are typed as the artifact's dict[str, object]
    return sorted(rows, key=lambda r: -int(r["stories_7d"]))    # type: ignore[call-overload]


def incident_recipients(config: Config, incident: Incident) -> list[str]:
    """Everyone who follows one of the incident's topics (each topic's email_to, or alerts.email_to), once each."""
    out: list[str] = []
    for spike in incident.spikes:
        out += [r for r in config.topic_alerts(spike.watchlist).email_to if r not in out]
    return out


def digest_desks(config: Config) -> list[tuple[frozenset[str] | None, list[str]]]:
    """Who gets which daily digest: alerts.email_to every topic (None), and every other recipient of a
    topic's own alerts (`watchlists[].email_to`) the topics it follows, recipients with the same topics in
    one message; alerts.email_to first, then the desks in config order."""
    everyone = list(config.alerts.email_to)
    follows: dict[str, set[str]] = {}
    for w in config.watchlists:
        for r in w.email_to:
            if r not in everyone:
                follows.setdefault(r, set()).add(w.name)
    desks: dict[frozenset[str], list[str]] = {}
    for r, names in follows.items():
        desks.setdefault(frozenset(names), []).append(r)
    return ([(None, everyone)] if everyone else []) + list(desks.items())


SURGE_ABOUT_EVENTS = 3   # events of rising words an alert e-mail says its surge is about (a count shown, not a
                         # threshold: which words rise is `balkanwatch.rising`'s, set on bench/rising_eval.py)


def surge_about(events: Sequence[Mapping[str, Any]], story_ids: Sequence[str], *, titles: Sequence[str] = (),
                limit: int = SURGE_ABOUT_EVENTS) -> list[tuple[list[str], int]]:
    """What a surge is about, in words: of the events of rising words (`flows.maintenance.rising_words` rows
    of the surging topics' stories, most surprising first), those holding at least MIN_STORIES of the
    surge's `story_ids` (words that the rest of the day's stories share do not describe it), most of them
    first (then the more surprising); each as (its words, those in more of the surge's `titles` first, then
    head first; how many of the surge's stories hold them). At most `limit`. An event's words often rise
    alike (all in the same new stories), so its head is the first of them alphabetically; the headlines
    say which of them the news is about ("Banjska", not "armed")."""
    from balkanwatch.rising import MIN_STORIES
    from balkanwatch.textnorm import fold

    mine = set(story_ids)
    headlines = [set(fold(t).split()) for t in titles]

    def in_titles(word: str) -> int:
        return sum(word in h for h in headlines)

    found = [(sorted([str(e["word"]), *map(str, e["with"])], key=lambda w: -in_titles(w)),
              len(mine.intersection(e["story_ids"]))) for e in events]
    ranked = sorted(((words, n, rank) for rank, (words, n) in enumerate(found) if n >= MIN_STORIES),
                    key=lambda t: (-t[1], t[2]))
    return [(words, n) for words, n, _ in ranked[:limit]]


BUDGETS = (1.0, 2.0, 4.0, 8.0, 16.0)   # alerts a month `spikes budgets` replays each topic at (default 4 in the
                                      # middle; 30 is the most a one-day cooldown allows)


def suggest_budget(replays: Sequence[Mapping[str, Any]], current: float) -> float | None:
    """The budget to suggest for one topic from replays of its history at several budgets (`replay_verdicts`'
    per-topic counts, with "budget"; the topic's `current` budget among them): the one whose alerts raise the
    most of what the desk asked for (alerts it rated useful, surges it noted as missed), then the fewest it
    rated noise, then the one nearest the current budget (by ratio; the lower of two as near): a budget
    changes only as far as the labels ask, since the alerts nobody rated count for nothing either way. None
    when the desk has rated nothing on the topic and noted no miss (no labels, no suggestion), and when it
    asked for alerts that no budget raises (the watchlist's terms or alerts.min_stories are what to change,
    not the budget)."""
    labelled = [r for r in replays if r.get("useful", 0) or r.get("noise", 0) or r.get("missed", 0)]
    if not labelled:
        return None
    asked = any(r.get("useful", 0) or r.get("missed", 0) for r in labelled)
    if asked and not any(r.get("useful_kept", 0) or r.get("missed_kept", 0) for r in labelled):
        return None
    best = min(labelled, key=lambda r: (-(r.get("useful_kept", 0) + r.get("missed_kept", 0)), r.get("noise_kept", 0),
                                        abs(math.log(r["budget"] / current)), r["budget"]))
    return float(best["budget"])


def budget_check(alerts: Sequence[str], budgets: dict[str, float], months: float) -> list[dict[str, object]]:
    """Per topic, what a replay of the history (`alerts`: the topic of each alert it would have sent, over
    `months`) gives against the topic's budget: how a desk sees whether a topic's alerts_per_month fits."""
    sent_by_topic = Counter(alerts)
    out = []
    for topic, budget in budgets.items():
        sent = sent_by_topic[topic]
        out.append({"watchlist": topic, "budget_a_month": budget, "alerts": sent, "months": round(months, 2),
                    "alerts_a_month": round(sent / months, 2) if months > 0 else None})
    return out


def kept_of(counts: Mapping[str, float], verdict: str) -> str:
    """'2 of 3': of the desk's `verdict` labels (useful, noise, missed) on a topic, how many a replay keeps,
    from `replay_verdicts`' per-topic counts ('' when the desk gave none)."""
    return f"{counts[verdict + '_kept']} of {counts[verdict]}" if counts.get(verdict) else ""


def replay_verdicts(replayed: Sequence[tuple[str, datetime]], rated: Sequence[tuple[str, datetime, str]],
                    cooldown: timedelta, missed: Sequence[tuple[str, datetime]] = ()
                    ) -> tuple[list[str | None], dict[str, dict[str, int]]]:
    """The desk's verdicts (`balkanwatch rate`) against a replay of the detector: a rated alert is *kept* when
    the replay alerts on the same topic within `cooldown` of its bucket (the same surge). Returns, for each
    replayed alert (topic, bucket), the verdict of the rated alert it matches (None: none rated there), and per
    topic how many useful and noise alerts were rated and how many of each the replay keeps: after a change
    to the detector or a budget, "keeps 9 of 10 useful, 2 of 6 noise" is the verdict of the desk's own labels.
    `missed`: (topic, time) of surges the desk wanted an alert for and got none (`balkanwatch missed`); the
    per-topic counts say how many of them the replay catches (an alert within `cooldown` of the time).
    A replayed alert near a missed surge is matched as "missed"."""
    labelled = [*rated, *((t, b, "missed") for t, b in missed)]
    matched: list[str | None] = []
    for topic, bucket in replayed:
        near = [(abs(b - bucket), v) for t, b, v in labelled if t == topic and abs(b - bucket) <= cooldown]
        matched.append(min(near)[1] if near else None)
    per_topic: dict[str, dict[str, int]] = {}
    for topic, bucket, verdict in labelled:
        row = per_topic.setdefault(topic, {"useful": 0, "useful_kept": 0, "noise": 0, "noise_kept": 0,
                                           "missed": 0, "missed_kept": 0})
        row[verdict] += 1
        if any(t == topic and abs(b - bucket) <= cooldown for t, b in replayed):
            row[f"{verdict}_kept"] += 1
    return matched, per_topic
