"""The desk's verdicts on its alerts, from the command line or from the Prefect UI.

    `balkanwatch rate ID useful|noise` / deployment balkanwatch-rate (Run → Custom run) | rate_alerts
    `balkanwatch missed TOPIC WHEN` / deployment balkanwatch-missed                       | note_missed

An analyst who reads the alerts in the Prefect UI (or on a phone, where no shell is at hand) rates one there:
the deployments take the incident id of the e-mail (its last line), a verdict picked from a list and a note,
and a run that cannot record it fails with the same message the command prints. Orchestration only: the
checks are here, the rows `Warehouse.rate_alerts` and `Warehouse.note_missed` write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from prefect import flow

from balkanwatch.config import Config, load_config
from balkanwatch.errors import BalkanwatchError, ConfigError
from warehouse import Warehouse
from warehouse.base import utc_naive

Verdict = Literal["useful", "noise"]


def rate_alerts(config: Config, alert: str, verdict: str, note: str = "", topics: Sequence[str] = (),
                now: datetime | None = None) -> list[str]:
    """Record the verdict (useful | noise) on the alerts of incident `alert` (or on alert `alert`; of
    `topics` only, when given), replacing an earlier one; the alert ids rated. BalkanwatchError when it
    names no alert."""
    if verdict not in ("useful", "noise"):
        raise ConfigError(f"verdict {verdict!r}: useful or noise")
    config.require_topics(topics)
    with Warehouse.for_config(config) as wh:
        rated = wh.rate_alerts(alert.strip(), verdict, " ".join(note.split()),
                               utc_naive(now or datetime.now(UTC)), topics=topics)
    if not rated:
        raise BalkanwatchError(f"no alert {alert!r}" + (f" of {', '.join(topics)}" if topics else "")
                               + ": give the incident id of the alert's e-mail (inc-…, its last line) or an alert "
                               "id (`balkanwatch alerts --format json`)")
    return rated


def note_missed(config: Config, topic: str, at: datetime, note: str = "", now: datetime | None = None) -> datetime:
    """Note a surge of `topic` at `at` that got no alert; the time noted (UTC). Refused for a time to come,
    and where the topic alerted within its cooldown of it (that alert is the one to rate)."""
    config.require_topics([topic])
    now = utc_naive(now or datetime.now(UTC))
    at = utc_naive(at)
    if at > now:
        raise ConfigError(f"{at:%Y-%m-%d %H:%M} UTC is in the future: a missed surge is one that happened")
    cooldown = timedelta(hours=config.alerts.cooldown_hours)
    with Warehouse.for_config(config) as wh:
        near = [b for b in wh.alert_buckets(topic, at - cooldown) if abs(b - at) <= cooldown]
        if near:
            raise BalkanwatchError(f"{topic} alerted at {min(near):%Y-%m-%d %H:%M} UTC, within the cooldown of "
                                   "that time: rate that alert (`balkanwatch rate`) instead")
        wh.note_missed(topic, at, " ".join(note.split()), now)
    return at


@flow(name="rate", description="Say whether an alert was worth it: the incident id of its e-mail (inc-…, its last "
                               "line), useful or noise, and why (kept with the alert; `spikes budgets` reads them).")
def rate(config_path: str, alert: str, verdict: Verdict, note: str = "", topic: str = "") -> str:
    """The desk's verdict on an alert, from the Prefect UI (`balkanwatch rate` on the command line).

    Args:
        config_path: The balkanwatch config file.
        alert: The incident id of the alert's e-mail (inc-…, its last line), or an alert id.
        verdict: useful (the surge was news to the desk) or noise (it should not have alerted).
        note: Why, in a few words (kept with the verdict).
        topic: Only this topic's alerts, of an incident over several (empty: every topic of it).
    """
    rated = rate_alerts(load_config(config_path), alert, verdict, note, [topic] if topic.strip() else [])
    return f"rated {verdict}: {', '.join(rated)}"


@flow(name="missed", description="Note a surge the desk wanted an alert for and got none: its topic and when "
                                 "(kept beside the rated alerts; `spikes budgets` reads them).")
def missed(config_path: str, topic: str, when: datetime, note: str = "") -> str:
    """A surge that got no alert, from the Prefect UI (`balkanwatch missed` on the command line).

    Args:
        config_path: The balkanwatch config file.
        topic: The watchlist that should have alerted.
        when: When the surge was (UTC unless it has an offset).
        note: What it was, in a few words (kept with the note).
    """
    at = note_missed(load_config(config_path), topic, when, note)
    return f"noted: {topic} should have alerted about {at:%Y-%m-%d %H:%M} UTC"
