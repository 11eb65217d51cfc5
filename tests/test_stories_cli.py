"""`balkanwatch stories`: an analyst's list of deduplicated stories, by topic and time."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.cli import _since, main
from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.test_alerts import WATCHLISTS as ALERT_WATCHLISTS
from warehouse import Warehouse

WATCHLISTS = ALERT_WATCHLISTS + "\n".join(f'[[watchlists]]\nname = "{name}"\nany = {json.dumps(terms)}\n' for name, terms in
                                         [("bosnia", ["Bosnia", "Sarajevo", "Srebrenica"]), ("nowhere", ["Atlantis"])])


def test_stories_by_topic_and_time_with_their_links(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources) + WATCHLISTS)
    asyncio.run(run_ingest(load_config(cfg)))
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        truth = {r["story_id"]: r for r in wh.rows(
            """SELECT st.story_id, st.first_seen_at, list_sort(list(DISTINCT m.watchlist)) AS topics,
                      any_value(o.url) AS url
               FROM stories st JOIN articles a USING (story_id) LEFT JOIN mentions m ON m.article_id = a.article_id
                    JOIN articles o ON o.article_id = st.origin_article_id GROUP BY ALL""")}

    def stories(*args: str) -> list[dict]:  # type: ignore[type-arg]
        assert main(["--config", str(cfg), "stories", "--format", "json", "--limit", "1000", *args]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    every = stories()
    assert {s["story_id"] for s in every} == set(truth) and len(truth) > 3
    for s in every:   # each story says which topics matched any of its articles, and links its origin
        assert s["topics"] == [t for t in truth[s["story_id"]]["topics"] if t], s
        assert s["url"] == truth[s["story_id"]]["url"]
    kfor = stories("--topic", "kfor")
    assert {s["story_id"] for s in kfor} == {k for k, r in truth.items() if "kfor" in r["topics"]}
    assert 0 < len(kfor) < len(truth)
    either = stories("--topic", "kfor", "--topic", "bosnia")
    assert {s["story_id"] for s in either} == {k for k, r in truth.items() if {"kfor", "bosnia"} & set(r["topics"])}
    assert len(either) > len(kfor)
    assert stories("--topic", "nowhere") == []
    # since a time between the stories' first sightings: the later ones, newest first
    times = sorted({r["first_seen_at"] for r in truth.values()})
    cut = times[len(times) // 2]
    later = stories("--since", cut.isoformat())
    assert {s["story_id"] for s in later} == {k for k, r in truth.items() if r["first_seen_at"] >= cut}
    assert [s["first_seen_at"] for s in later] == sorted((s["first_seen_at"] for s in later), reverse=True)
    in_kyiv_time = cut.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2))).isoformat()   # an offset counts
    assert in_kyiv_time.endswith("+02:00")
    assert {s["story_id"] for s in stories("--since", in_kyiv_time)} == {s["story_id"] for s in later}
    # a topic that is not a watchlist: a clear error, exit 2
    assert main(["--config", str(cfg), "stories", "--topic", "kfr"]) == 2
    err = capsys.readouterr().err
    assert "no watchlist named 'kfr'" in err and "kfor, north-kosovo-clash, eulex, bosnia, nowhere" in err


def test_since_takes_spans_and_times() -> None:
    now = datetime.now(UTC)
    assert abs((now - _since("24h")) - timedelta(hours=24)) < timedelta(seconds=5)
    assert abs((now - _since("90m")) - timedelta(minutes=90)) < timedelta(seconds=5)
    assert abs((now - _since("2w")) - timedelta(days=14)) < timedelta(seconds=5)
    assert _since("2026-12-06T08:00") == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert _since("2026-12-06T10:00+02:00") == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="not a span or a time"):
        _since("yesterday")


def test_search_by_story_shows_a_wire_story_once(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources))
    asyncio.run(run_ingest(load_config(cfg)))

    def search(*args: str) -> list[dict]:  # type: ignore[type-arg]
        assert main(["--config", str(cfg), "search", "--format", "json", *args]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        story_of = {r["url"]: (r["story_id"], r["copies"]) for r in wh.rows(
            "SELECT a.url, a.story_id, st.copies FROM articles a JOIN stories st USING (story_id)")}
    for indexed in (False, True):   # new articles (plain scan), then ranked by the index
        articles = search("KFOR", "--limit", "50")
        by_story = search("KFOR", "--limit", "50", "--stories")
        assert len({story_of[h["url"]][0] for h in articles}) < len(articles)   # copies among the hits
        assert [h["story_id"] for h in by_story] == list(dict.fromkeys(story_of[h["url"]][0] for h in articles))
        assert [h["url"] for h in by_story] == [next(a["url"] for a in articles if story_of[a["url"]][0] == h["story_id"])
                                                for h in by_story]   # each story's best-ranked article
        assert all(h["copies"] == story_of[h["url"]][1] for h in by_story) and any(h["copies"] for h in by_story)
        # a limit counts stories, not articles: the wire story's copies do not take the places
        assert [h["story_id"] for h in search("KFOR", "--limit", "2", "--stories")] == [
            h["story_id"] for h in by_story[:2]]
        if not indexed:
            assert main(["--config", str(cfg), "reindex"]) == 0
            capsys.readouterr()


def test_one_story_by_its_id_or_any_of_its_articles_urls(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """`balkanwatch story`: from an e-mail's link (any copy's URL, however spelt) or a story id to every
    article of the story, in the order they were seen, with how each joined."""
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources) + WATCHLISTS)
    asyncio.run(run_ingest(load_config(cfg), settle=False))   # loaded, not settled: no stories yet
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        some_url = wh.rows("SELECT url FROM articles LIMIT 1")[0]["url"]
    assert main(["--config", str(cfg), "story", some_url]) == 2
    assert "has no story yet" in capsys.readouterr().err
    assert main(["--config", str(cfg), "settle", "--no-prefect"]) == 0
    capsys.readouterr()
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        big = wh.rows("SELECT story_id, origin_article_id, articles FROM stories ORDER BY articles DESC, story_id LIMIT 1")[0]
        members = wh.rows("""SELECT a.url, a.source, s.story_time FROM articles a JOIN article_sketches s USING (article_id)
                             WHERE a.story_id = ? ORDER BY s.story_time, a.article_id""", [big["story_id"]])
        topics = sorted({r["watchlist"] for r in wh.rows(
            "SELECT m.watchlist FROM mentions m JOIN articles a USING (article_id) WHERE a.story_id = ?", [big["story_id"]])})
    assert big["articles"] >= 2

    def story(ref: str) -> dict:  # type: ignore[type-arg]
        assert main(["--config", str(cfg), "story", ref, "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    by_id = story(big["story_id"])
    assert by_id["story_id"] == big["story_id"] and by_id["article_count"] == big["articles"]
    assert [a["url"] for a in by_id["articles"]] == [m["url"] for m in members]
    assert by_id["topics"] == topics and by_id["text"]
    first, *rest = by_id["articles"]
    assert first["rule"] == "new-story" and first["matched_url"] is None
    assert all(a["rule"] != "new-story" and a["matched_url"] in {m["url"] for m in members} for a in rest)
    last_url = members[-1]["url"]
    spelt_otherwise = last_url.replace("http://", "HTTP://", 1) + "?utm_source=newsletter"
    assert story(spelt_otherwise)["story_id"] == big["story_id"]          # any copy's URL, however spelt
    assert main(["--config", str(cfg), "story", big["story_id"], "--text"]) == 0
    shown = capsys.readouterr().out
    assert f"story {big['story_id']}: {big['articles']} articles" in shown and by_id["text"][:200] in shown
    assert main(["--config", str(cfg), "story", "http://127.0.0.1:1/nowhere"]) == 2
    assert "no story 'http://127.0.0.1:1/nowhere'" in capsys.readouterr().err
