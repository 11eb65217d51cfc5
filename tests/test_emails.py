"""Alert e-mail composition (pure) and SMTP delivery details: header safety, structure, secrets."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from app.devserver import free_port
from balkanwatch.alerting import (
    Incident,
    Spike,
    budget_cell,
    group_incidents,
    right_now,
    spikes_of,
    topic_overview,
    topic_series,
    usual_per_day,
)
from balkanwatch.config import AlertsSettings, SmtpSettings
from balkanwatch.emails import EXCERPT_CHARS, compose_incident, excerpt, one_line, subject_words
from balkanwatch.errors import DeliveryError
from connectors import smtp
from tests.test_alerts import Inbox

NOW = datetime(2026, 11, 22, 9, 30)


def spike(watchlist: str, stories: tuple[str, ...]) -> Spike:
    start = NOW - timedelta(hours=2)
    return Spike(watchlist, NOW - timedelta(hours=1), start, NOW, 0.71, float(len(stories)), 0.4, stories, 1.5)


def story(i: int, title: str) -> dict:
    return {"story_id": f"s{i}", "first_seen_at": NOW - timedelta(minutes=90 - i), "title": title,
            "url": f"https://example.org/{i}", "sources": ["Kosovo Herald", "Balkan Wire"], "articles": 2,
            "excerpt": "KFOR troops were deployed.\nSecond line."}


def test_a_scraped_title_cannot_inject_headers():
    evil = "Clash in Zvečan\r\nBcc: attacker@evil.example\r\n\r\n<script>alert(1)</script>"
    inc = Incident((spike("kfor\r\nX-Injected: yes", ("s1",)),))
    email = compose_incident(inc, [story(1, evil)], {}, "bw@example.org", ["analyst@example.org"], NOW)
    msg = message_from_bytes(email.raw, policy=policy.default)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert "\n" not in str(msg["Subject"]) and "\r" not in email.subject
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Bcc: attacker@evil.example" in text.replace("\n", " ")   # shown as text, never as a header


def test_the_subject_and_first_lines_say_what_the_surge_is_about():
    """`about` (alerting.surge_about): the first event's first two words in the subject, every event's first
    five words and counts under the surge's lines; nothing from it becomes a header."""
    inc = Incident((spike("kfor", tuple(f"s{i}" for i in range(8))),))
    about = [(["banjska", "monastery", "gunmen", "police", "zvecan", "leposavic"], 6), (["brnjak\r\nBcc: x@evil.example"], 3)]
    email = compose_incident(inc, [story(1, "Clash")], {}, "bw@example.org", ["a@example.org"], NOW, about=about)
    msg = message_from_bytes(email.raw, policy=policy.default)
    assert msg["Subject"] == ("[balkanwatch] kfor: 8 new stories in 2 h about banjska, monastery "
                              "(expected 0.4, usually 1.5 a day)") and msg["Bcc"] is None
    text = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert ("\nAbout: banjska, monastery, gunmen, police, zvecan (6 of the 8 stories); brnjak Bcc: x@evil.example (3) — "
            "words these stories share that the topics' weeks before did not\n") in text
    plain = compose_incident(inc, [story(1, "Clash")], {}, "bw@example.org", ["a@example.org"], NOW)
    assert "About:" not in plain.html and " about " not in plain.subject
    # a phrase counts its words in the subject's two; the first is shown whole however long
    phrased = compose_incident(inc, [story(1, "Clash")], {}, "bw@example.org", ["a@example.org"], NOW,
                               about=[(["Ibar valley", "sent", "early"], 8)])
    assert " about Ibar valley (expected " in phrased.subject
    assert subject_words(["North Mitrovica municipal building", "gunmen"]) == ["North Mitrovica municipal building"]
    assert subject_words(["Banjska", "monastery", "gunmen"]) == ["Banjska", "monastery"] and subject_words([]) == []


def test_incident_email_is_multipart_with_inline_charts_and_a_stable_message_id():
    inc = group_incidents([spike("kfor", ("s1", "s2")), spike("north-kosovo-clash", ("s2", "s3"))])
    assert len(inc) == 1
    png = b"\x89PNG\r\n\x1a\nfake"
    args = (inc[0], [story(i, f"Story {i}") for i in (1, 2, 3)], {"kfor": png, "north-kosovo-clash": png},
            "bw@example.org", ["a@example.org", "b@example.org"], NOW)
    first, again = compose_incident(*args), compose_incident(*args)
    assert first.message_id == again.message_id   # (the outbox stores the bytes, so retries resend them as is)
    msg = message_from_bytes(first.raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == ("[balkanwatch] kfor + north-kosovo-clash: 3 new stories in 2 h "
                              "(expected 0.4, usually 1.5 a day)")
    assert msg["To"] == "a@example.org, b@example.org" and msg["Message-ID"] == first.message_id
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in images] == ["<chart-0>", "<chart-1>"]
    assert all(p.get_content() == png for p in images)
    page = msg.get_body(preferencelist=("html",)).get_content()   # the stories before the charts that explain them
    assert page.index("Story 3") < page.index("<h3>Volume against baseline</h3>") < page.index("cid:chart-0")
    assert "Volume against baseline" not in compose_incident(inc[0], [story(1, "Story 1")], {}, *args[3:]).html


@pytest.mark.parametrize(("when", "local"), [(NOW, "10:30 CET"), (datetime(2026, 7, 22, 9, 30), "11:30 CEST")])
def test_times_in_an_email_are_given_in_the_desk_s_time_zone(when: datetime, local: str) -> None:
    """alerts.timezone = "Europe/Belgrade": the surge's window, each story's first sighting and a late
    surge's end are in CET, CEST in summer, named; the Date header and the Message-ID stay as they were."""
    from zoneinfo import ZoneInfo

    belgrade = ZoneInfo(AlertsSettings(timezone="Europe/Belgrade").timezone)
    s = Spike("kfor", when - timedelta(hours=1), when - timedelta(hours=2), when, 0.71, 3.0, 0.4, ("s1",), 1.5)
    first_seen = {**story(1, "Clash in Zvečan"), "first_seen_at": when - timedelta(minutes=30)}
    late = when + timedelta(hours=9)
    utc_mail = compose_incident(Incident((s,)), [first_seen], {}, "bw@example.org", ["a@example.org"], late)
    mail = compose_incident(Incident((s,)), [first_seen], {}, "bw@example.org", ["a@example.org"], late, belgrade)
    text = message_from_bytes(mail.raw, policy=policy.default).get_body(preferencelist=("plain",)).get_content()
    hour = int(local[:2])
    assert f"between {when:%Y-%m-%d} {hour - 2:02d}:30 and {local}" in text
    assert f"first seen {when:%Y-%m-%d} {hour:02d}:00 {local.split()[1]}" in text
    assert f"the surge ended at {when:%Y-%m-%d} {local}" in text and " UTC" not in text
    assert mail.message_id == utc_mail.message_id
    assert message_from_bytes(mail.raw)["Date"] == message_from_bytes(utc_mail.raw)["Date"]


def test_a_surge_still_running_is_told_up_to_the_time_of_the_email_not_its_bucket_s_end() -> None:
    """An alert at 00:41 on the three hours 22:00-01:00 (the hourly bucket that fired is still running) says
    "between 22:00 and 00:41", not an end that has not come; a surge whose window has ended keeps its end."""
    end = datetime(2026, 12, 7, 1, 0)
    s = Spike("kfor", end - timedelta(hours=1), end - timedelta(hours=3), end, 0.59, 8.0, 0.3, ("s1",), 0.4)
    sent = datetime(2026, 12, 7, 0, 41)
    for now, shown, span in ((sent, "00:41", "3 h"), (sent.replace(tzinfo=UTC), "00:41", "3 h"),
                             (datetime(2026, 12, 6, 23, 20), "23:20", "1 h"), (end + timedelta(minutes=5), "01:00", "3 h")):
        mail = compose_incident(Incident((s,)), [story(1, "Clash in Zvečan")], {}, "bw@example.org", ["a@example.org"], now)
        text = message_from_bytes(mail.raw, policy=policy.default).get_body(preferencelist=("plain",)).get_content()
        assert f"8 unique stories between 2026-12-06 22:00 and {shown} UTC" in text, (now, text)
        assert f"kfor: 1 new story in {span} (" in mail.subject, (now, mail.subject)


def test_a_time_zone_that_does_not_exist_is_a_config_error(tmp_path) -> None:
    from balkanwatch.config import ConfigError, load_config

    for name in ("Europe/Belgrad", "../etc/passwd", ""):
        (tmp_path / "b.toml").write_text(f'[alerts]\ntimezone = "{name}"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match="alerts.timezone"):
            load_config(tmp_path / "b.toml")


def test_the_usual_volume_quoted_is_the_mean_daily_count_before_the_surge():
    # one story a day at noon for 40 days, then 8 in the two hours before now: the hourly baseline
    # expects ~0, the e-mail also says what the topic usually gets (the 28 days before the surge: 28 stories)
    now = datetime(2026, 11, 22, 20, 30)
    rows = [(f"d{d}", datetime(2026, 11, 22, 12) - timedelta(days=d)) for d in range(40)]
    rows += [(f"s{i}", now - timedelta(minutes=100 - 12 * i)) for i in range(8)]
    series = topic_series("kfor", rows, now - timedelta(days=40), now, AlertsSettings())
    spikes = spikes_of(series)
    assert len(spikes) == 1 and spikes[0].observed == 8
    assert spikes[0].usual_per_day == 1.0 and spikes[0].usual == "usually 1.0 a day"
    assert spikes[0].expected < 0.5
    # a day of history is needed before a usual volume is quoted
    short = topic_series("kfor", rows, now - timedelta(hours=30), now, AlertsSettings())
    assert usual_per_day(short, 23) is None and usual_per_day(short, 24) == 1.0
    page = compose_incident(Incident(tuple(spikes)), [], {}, "bw@example.org", ["a@example.org"], now).html
    said = (f"expected {spikes[0].expected:.1f}, usually 1.0 a day; an ordinary day&#x27;s busiest "
            f"{spikes[0].span.total_seconds() / 3600:g} hour")
    assert said in page and html.escape(spikes[0].rarity) in page
    assert spikes[0].months >= 12      # eight in two hours on a topic with one a day: rarer than once a year


def spike_index(series, when: datetime) -> int:
    return series.starts.index(when)


def test_the_surge_window_starts_at_its_first_story_not_at_the_span_that_fired():
    # 8 stories between 19:30 and 20:26 on a topic with one a day: the evidence crosses the line in the 19:00
    # hour (4 stories), the surge runs on into 20:00, and no empty hour before it is part of it
    now = datetime(2026, 11, 22, 20, 30)
    rows = [(f"d{d}", datetime(2026, 11, 22, 12) - timedelta(days=d)) for d in range(40)]
    rows += [(f"s{i}", now - timedelta(minutes=60 - 8 * i)) for i in range(8)]
    series = topic_series("kfor", rows, now - timedelta(days=40), now, AlertsSettings())
    [fired] = [s for s in series.scored if s.alert]
    [spike] = spikes_of(series)
    assert fired.index == spike_index(series, datetime(2026, 11, 22, 19))
    assert spike.bucket_start == datetime(2026, 11, 22, 19)
    assert spike.window_start == datetime(2026, 11, 22, 19) and spike.observed == 8
    assert spike.window_end == datetime(2026, 11, 22, 21)


def test_separate_stories_make_separate_incidents():
    assert len(group_incidents([spike("kfor", ("s1",)), spike("eulex", ("s9",))])) == 2


def test_one_line_folds_every_kind_of_line_break():
    assert one_line("a\r\nb\u2028c\x00d\u0085e") == "a b c d e"
    assert len(one_line("x" * 500)) == 160


def test_smtp_login_failure_is_clear_and_never_shows_the_password(caplog):
    from aiosmtpd.smtp import AuthResult

    def refuse(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        return AuthResult(success=False, handled=False)

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port, authenticator=refuse,
                            auth_require_tls=False)
    controller.start()
    secret = "s3cr3t-Pa55word"
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as err:
            smtp.send(b"Subject: x\r\n\r\nbody\r\n", "bw@example.org", ["a@example.org"],
                      SmtpSettings(host="127.0.0.1", port=port, timeout=5), username="bw", password=secret)
    finally:
        controller.stop()
    assert "login refused" in str(err.value) and secret not in str(err.value)
    assert secret not in caplog.text


def test_smtp_server_down_is_a_delivery_error():
    with pytest.raises(DeliveryError, match="127.0.0.1"):
        smtp.send(b"Subject: x\r\n\r\nbody\r\n", "bw@example.org", ["a@example.org"],
                  SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2))


class QuitsBadly(Inbox):
    """An SMTP server that takes the message, then answers QUIT with 421 (as one timing out does)."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        return "421 closing the connection"


def test_a_message_the_server_took_is_delivered_however_it_answers_quit():
    """Once DATA is answered 250 the message is delivered: a bad answer to QUIT must not make it a failure,
    which the outbox would send again (the server got every message twice)."""
    box = QuitsBadly()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        refused = smtp.send(b"Subject: x\r\n\r\nbody\r\n", "bw@example.org", ["a@example.org"],
                            SmtpSettings(host="127.0.0.1", port=port, timeout=5))
    finally:
        controller.stop()
    assert refused == {} and len(box.messages) == 1


def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1 (the test is its own CA)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_ssl_with_login_deliver_and_verify_the_certificate(tmp_path, security: str):
    import ssl

    from aiosmtpd.smtp import AuthResult

    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    logins = []

    def check(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"right-password")

    port, box = free_port(), Inbox()
    tls = {"tls_context": server_ctx, "require_starttls": True} if security == "starttls" else {"ssl_context": server_ctx}
    # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the whole session is encrypted anyway
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=check,
                            auth_require_tls=security == "starttls", **tls)
    controller.start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, security=security, timeout=5, ca_file=cert)
        smtp.send(b"Subject: over TLS\r\n\r\nbody\r\n", "bw@example.org", ["a@example.org"], settings,
                  username="bw", password="right-password")
        assert len(box.messages) == 1 and logins == [(b"bw", b"right-password")]
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            smtp.send(b"Subject: x\r\n\r\nbody\r\n", "bw@example.org", ["a@example.org"],
                      SmtpSettings(host="127.0.0.1", port=port, security=security, timeout=5),   # system CAs
                      username="bw", password="right-password")
    finally:
        controller.stop()
    assert len(box.messages) == 1


def test_excerpt_skips_a_leading_headline_and_articles_are_counted_in_words():
    text = "Clash in Zvečan: KFOR deploys\nKFOR troops were deployed to Zvečan.\nSecond paragraph."
    assert excerpt(text, "Clash in Zvečan: KFOR deploys") == "KFOR troops were deployed to Zvečan. Second paragraph."
    assert excerpt(text, "CLASH IN ZVEČAN: KFOR DEPLOYS.").startswith("KFOR troops")   # case, final stop
    assert excerpt(text, "Another title").startswith("Clash in Zvečan")   # a different first line stays
    assert excerpt("Only a headline", "Only a headline") == "Only a headline"   # never an empty excerpt
    assert len(excerpt("word " * 200, None)) == EXCERPT_CHARS
    one = {**story(1, "Clash in Zvečan: KFOR deploys"), "articles": 1, "excerpt": text}
    email = compose_incident(Incident((spike("kfor", ("s1",)),)), [one], {}, "bw@example.org", ["a@example.org"], NOW)
    msg = message_from_bytes(email.raw, policy=policy.default)
    for part in ("plain", "html"):
        body = msg.get_body(preferencelist=(part,)).get_content()
        assert "· 1 article ·" in body and "1 articles" not in body
        assert body.count("Clash in Zvečan: KFOR deploys") == 1 and "KFOR troops were deployed to Zvečan." in body


def test_the_topics_overview_lists_every_topic_busiest_first_with_its_last_alert():
    now = datetime(2026, 11, 22, 20, 30)
    quiet = [(f"d{d}", datetime(2026, 11, 22, 12) - timedelta(days=d)) for d in range(40)]
    busy = quiet + [(f"s{i}", now - timedelta(minutes=100 - 12 * i)) for i in range(8)]
    a = AlertsSettings()
    series = [topic_series("quiet", quiet, now - timedelta(days=40), now, a),
              topic_series("busy", busy, now - timedelta(days=40), now, a)]
    rows = topic_overview(series, {"busy": [datetime(2026, 11, 2, 9), datetime(2026, 11, 22, 19)], "quiet": []},
                          {"busy": 8.0, "quiet": 0.5}, {"busy": {"noise": 1, "useful": 1}}, None,
                          {"busy": "Banjska monastery", "quiet": "an old one"})
    assert (rows[0]["last_alert_about"], rows[1]["last_alert_about"]) == ("Banjska monastery", "")  # none recent
    assert (rows[0]["rated"], rows[1]["rated"]) == ("1 useful, 1 noise", "")     # what the desk said of them
    assert [r["watchlist"] for r in rows] == ["busy", "quiet"]
    assert rows[0]["stories_7d"] == 8 + 7 and rows[1]["stories_7d"] == 7      # one a day for the last week
    assert rows[0]["last_alert"] == "2026-11-22 19:00" and rows[1]["last_alert"] == ""
    assert (rows[0]["alerts_recent"], rows[0]["budget"]) == (2, "8") and (rows[1]["alerts_recent"], rows[1]["budget"]) == (0, "0.5")
    assert rows[1]["usual_per_day"] == 1.0 and 0 < rows[1]["expected_7d"] < 15
    # the last hours: eight stories on a one-a-day topic are over its line; the quiet one's day is ordinary
    assert rows[0]["now"].endswith(", alert level") and rows[1]["now"] == "ordinary"
    # with what the desk's labels suggest (`spikes budgets`), where they suggest anything
    rows = topic_overview(series, {}, {"busy": 8.0, "quiet": 0.5}, {}, {"busy": 4.0, "quiet": 0.5})
    assert {r["watchlist"]: r["budget"] for r in rows} == {"busy": "8 (labels suggest 4)", "quiet": "0.5 (labels agree)"}
    assert budget_cell(None, 4.0) == "" and budget_cell(2.0, None) == "2"
    assert right_now(0.25, 4.0) == "about once in 8 days, alert level" and right_now(0.2, 4.0) == "about once in 6 days"
    assert right_now(2 / 30, 4.0) == "ordinary" and right_now(3 / 30, 4.0) == "about once in 3 days"   # calm < 2.5 days
    assert right_now(5.0, 0.1) == "about once in 5.0 months" and right_now(5.0, None) == "about once in 5.0 months, alert level"


def test_each_stall_of_ingest_has_its_own_message_id() -> None:
    """The stalled-ingest e-mail is sent once per stall: its Message-ID is the last completed run's end, to
    the microsecond (two runs ending within one second had shared an id, and the second stall went unmailed)."""

    from balkanwatch.emails import compose_stalled

    last = datetime(2026, 12, 6, 10, 1, 42, 97842)
    now = last + timedelta(hours=2)
    first = compose_stalled({"last_completed_at": last, "latest_started_at": None}, 10, "bw@localhost", ["a@example.org"], now)
    again = compose_stalled({"last_completed_at": last, "latest_started_at": None}, 10, "bw@localhost", ["a@example.org"],
                            now + timedelta(minutes=10))
    later = compose_stalled({"last_completed_at": last + timedelta(milliseconds=300), "latest_started_at": None}, 10,
                            "bw@localhost", ["a@example.org"], now)
    assert first.message_id == again.message_id != later.message_id
    assert "no ingest has completed for 2 h" in first.subject and first.kind == "stalled"


def test_a_replay_is_judged_on_the_desk_s_verdicts() -> None:
    """replay_verdicts: a rated alert is kept when the replay alerts on its topic within the cooldown."""
    from balkanwatch.alerting import replay_verdicts

    day = timedelta(hours=24)
    t0 = datetime(2026, 11, 1, 12)
    rated = [("kfor", t0, "useful"), ("kfor", t0 + 5 * day, "noise"), ("kfor", t0 + 9 * day, "useful"),
             ("eulex", t0, "noise")]
    replayed = [("kfor", t0 + timedelta(hours=3)), ("kfor", t0 + 7 * day), ("eulex", t0 + 2 * day)]
    matched, per_topic = replay_verdicts(replayed, rated, day)
    assert matched == ["useful", None, None]          # 3 h from a useful one; 2 days from anything rated
    assert per_topic == {"kfor": {"useful": 2, "useful_kept": 1, "noise": 1, "noise_kept": 0, "missed": 0, "missed_kept": 0},
                         "eulex": {"useful": 0, "useful_kept": 0, "noise": 1, "noise_kept": 0, "missed": 0,
                                   "missed_kept": 0}}
    assert replay_verdicts([], [], day) == ([], {})
    # surges the desk noted as missed: caught when the replay alerts near them, and so matched
    matched, per_topic = replay_verdicts(replayed, rated, day, missed=[("kfor", t0 + 7 * day - timedelta(hours=5)),
                                                                        ("eulex", t0 + 10 * day)])
    assert matched == ["useful", "missed", None]
    assert (per_topic["kfor"]["missed"], per_topic["kfor"]["missed_kept"]) == (1, 1)
    assert (per_topic["eulex"]["missed"], per_topic["eulex"]["missed_kept"]) == (1, 0)
