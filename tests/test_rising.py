"""Rising words (`balkanwatch rising`): the pure verdicts on counts with known truth, the grouping of one
event's words, and the warehouse's counts checked against a recount of the stories' folded words."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import poisson

from app.cli import main
from balkanwatch.config import load_config
from balkanwatch.rising import Rising, group, poisson_surprise, rising
from balkanwatch.textnorm import fold
from flows.ingest import run_ingest
from flows.maintenance import rising_words
from tests.conftest import loopback_config, served_corpus, toml_sources
from warehouse import Warehouse
from warehouse.store import utcnow


def test_poisson_surprise_is_the_tail() -> None:
    for k, lam in [(1, 0.1), (3, 0.02), (8, 0.5), (40, 10.0), (5, 5.0)]:
        direct = sum(poisson.pmf(j, lam) for j in range(k, k + 400))     # the tail summed, not 1 - the head
        assert poisson_surprise(k, lam) == pytest.approx(-np.log10(direct), rel=1e-6)
    assert poisson_surprise(0, 3.0) == 0.0


def test_a_new_name_rises_and_ordinary_words_do_not() -> None:
    blocks = [300] * 28
    baseline = {"said": [150] * 28,                       # in half of every day's stories
                "tuesday": [60 if b % 7 == 3 else 3 for b in range(28)],   # every Tuesday
                "belgrade": [10] * 28}
    window = {"banjska": (4, 3),                          # never seen before, four stories, three sources
              "solo": (9, 1),                             # one site's name: one source
              "said": (160, 12),
              "tuesday": (62, 10),                        # a Tuesday like the others
              "belgrade": (40, 9),                        # four times its every day: rising
              "brnjak": (2, 2)}                           # two stories only
    found = {r.word: r for r in rising(window, 300, baseline, blocks)}
    assert set(found) == {"banjska", "belgrade"}
    assert found["banjska"].baseline_stories == 0 and found["banjska"].surprise > 8     # 4 at 0.018 expected
    assert found["belgrade"].peak == 10 and found["belgrade"].expected == pytest.approx(300 * (280.5 / 8401))
    # a bigger window day is not measured against a block scaled up: a quiet block of 30 stories with 9
    # mentions does not become 90 at the window's 300
    quiet = rising({"belgrade": (40, 9)}, 300, {"belgrade": [9] + [10] * 27}, [30] + blocks[1:])
    assert [r.word for r in quiet] == ["belgrade"]
    # …but a block with more stories than the window is scaled down to it, and twice the busiest is the bar
    assert rising({"belgrade": (40, 9)}, 300, {"belgrade": [21] * 28}, blocks) == []
    assert rising({}, 0, {}, blocks) == []


def test_a_topic_that_triples_lifts_no_word_that_all_its_stories_hold() -> None:
    """Read within one topic's stories (a desk's digest): the day the topic has three times its usual
    stories, a word that every story of it holds ("kfor") is at its share, not rising; a name new to it is."""
    blocks = [20] * 28
    baseline = {"kfor": [20] * 28, "patrol": [6] * 28}
    window = {"kfor": (60, 9), "patrol": (19, 6), "jarinje": (5, 4)}
    assert [r.word for r in rising(window, 60, baseline, blocks)] == ["jarinje"]


def test_the_thresholds_hold_on_synthetic_days_with_known_truth() -> None:
    """bench/rising_eval.py's corpus (bursty Zipf vocabulary, weekly words) at 300 stories a day: few
    ordinary steady words listed a day, new names in three stories found."""
    from bench.rising_eval import _corpus, _run

    steady = caught = 0
    seeds = 6
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        counts, totals, bursty, _ = _corpus(rng, 300)
        listed = _run(counts, totals, np.random.default_rng(seed + 10_000), {"newname": 3}, 5.0, 2.0)
        caught += "newname" in listed
        steady += sum(w.startswith("w") and not bursty[int(w[1:])] for w in listed)
    assert caught == seeds and steady / seeds <= 0.5


def test_one_event_s_words_are_one_row() -> None:
    def r(word: str, surprise: float) -> Rising:
        return Rising(word, 5, 3, 0, 0.1, 0.0, surprise)

    found = [r("banjska", 12.0), r("monastery", 11.0), r("gunmen", 10.0), r("eurovision", 9.0)]
    stories = {"banjska": ["a", "b", "c", "d", "e"], "monastery": ["a", "b", "c", "d", "e"],
               "gunmen": ["a", "b", "c", "d", "f"], "eurovision": ["x", "y", "z"]}
    groups = group(found, stories)
    assert [(g.head.word, g.words) for g in groups] == [("banjska", ("banjska", "monastery")),
                                                         ("gunmen", ("gunmen",)), ("eurovision", ("eurovision",))]
    assert groups[0].stories == frozenset("abcde")     # gunmen's 4 of 6 shared (0.67) < SAME_STORIES


@pytest.fixture
def corpus_config(tmp_path: Path, warehouse_backend: Callable[[str], str]) -> Iterator[Path]:
    with served_corpus(tmp_path / "sites", monitoring=True) as (sources, _, _):
        path = tmp_path / "balkanwatch.toml"
        text = loopback_config(toml_sources(sources)) + '\n[[watchlists]]\nname = "kfor"\nany = ["KFOR", "КФОР"]\n'
        text += '\n[[watchlists]]\nname = "serbia"\nany = ["Serbia", "Србија"]\n'   # the routine talks
        path.write_text(warehouse_backend(text), encoding="utf-8")
        asyncio.run(run_ingest(load_config(path)))
        yield path


def _recount(wh: Warehouse, start, end, topics: list[str] | None = None) -> tuple[Counter[str], int]:
    """Stories per folded word, counted in Python from the stories' origins (the check on the SQL)."""
    rows = wh.rows("""SELECT s.story_id, a.title, a.text FROM stories s JOIN articles a ON a.article_id = s.origin_article_id
                      WHERE s.first_seen_at >= ? AND s.first_seen_at < ?""", [start, end])
    if topics is not None:
        mine = {r["story_id"] for r in wh.rows("SELECT story_id, watchlist FROM story_mentions") if r["watchlist"] in topics}
        rows = [r for r in rows if r["story_id"] in mine]
    words: Counter[str] = Counter()
    for row in rows:
        words.update(set(fold(f"{row['title'] or ''} {row['text'] or ''}").split()))
    return words, len(rows)


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_rising_words_in_the_warehouse_are_the_stories_words(corpus_config: Path, capsys) -> None:
    config = load_config(corpus_config)
    now = utcnow()
    span = timedelta(hours=24)
    with Warehouse.for_config(config, read_only=True) as wh:
        report = rising_words(wh, span=span, now=now, limit=0)
        window, n = _recount(wh, now - span, now)
        before, n_before = _recount(wh, now - span * 29, now - span)
        kfor = rising_words(wh, span=span, now=now, topics=["kfor"], limit=0)
        window_kfor, n_kfor = _recount(wh, now - span, now, topics=["kfor"])
        before_kfor, n_kfor_before = _recount(wh, now - span * 29, now - span, topics=["kfor"])
        either = rising_words(wh, span=span, now=now, topics=["kfor", "serbia"], limit=0)
        window_either, n_either = _recount(wh, now - span, now, topics=["kfor", "serbia"])
        before_either, n_either_before = _recount(wh, now - span * 29, now - span, topics=["kfor", "serbia"])
    assert report["stories"] == n and report["stories_before"] == n_before and n_before > 5 * n > 0
    assert report["words"], "the corpus's surge brings words never seen in its month of routine coverage"
    for row in report["words"]:
        for word in [row["word"], *row["with"]]:
            assert window[word] >= 3
        assert row["stories"] == window[row["word"]] and row["stories_before"] == before[row["word"]]
        assert row["stories"] >= 2 * row["busiest_before"] and row["surprise"] >= 5.0 and row["sources"] >= 2
        assert row["examples"] and "kfor" in row["topics"]
        # shown as written: the same words, a phrase's as one item ("North Mitrovica"), in the row's order
        shown = [fold(w).split() for w in row["as_written"]]
        assert sorted(w for ws in shown for w in ws) == sorted([row["word"], *row["with"]])
        assert row["word"] in shown[0]
    listed = {w for row in report["words"] for w in [row["word"], *row["with"]]}
    assert "said" not in listed and "kosovo" not in listed          # in the month's routine coverage too
    # within topics: their stories counted, against their own weeks before (a desk's digest reads its topics' so)
    assert kfor["stories"] == n_kfor and kfor["stories_before"] == n_kfor_before and kfor["words"]
    assert all(r["stories"] == window_kfor[r["word"]] and r["stories_before"] == before_kfor[r["word"]]
               for r in kfor["words"])
    assert (either["stories"], either["stories_before"]) == (n_either, n_either_before)     # any of the two topics
    assert n_either_before > n_kfor_before and either["words"]
    assert all(r["stories"] == window_either[r["word"]] and r["stories_before"] == before_either[r["word"]]
               for r in either["words"])

    assert main(["--config", str(corpus_config), "rising", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["word"] for r in shown["words"]] == [r["word"] for r in report["words"]][:20]
    assert main(["--config", str(corpus_config), "rising", "--topic", "nope"]) == 2
    assert "no watchlist named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_stored_words_read_as_the_stories_words(corpus_config: Path) -> None:
    """The alerts cycle stores each recent story's words once (`refresh_story_words`); a reading with them
    stored is the reading without, a story whose origin changed after the split is read from its new text
    (before the next refresh splits it again), and a refresh drops the stories older than it keeps."""
    config = load_config(corpus_config)
    now = utcnow()
    span = timedelta(hours=24)
    with Warehouse.for_config(config) as wh:
        # the ingest's alerts cycle stored them already (its alert e-mail says what the surge is about)
        assert wh.rows("SELECT count(*) AS n FROM story_words")[0]["n"] > 0
        wh.con.execute("DELETE FROM story_words")
        cold = rising_words(wh, span=span, now=now, limit=0)
        split = wh.refresh_story_words(now - span * 29)
        assert split == wh.rows("SELECT count(*) AS n FROM stories WHERE first_seen_at >= ?", [now - span * 29])[0]["n"] > 0
        assert wh.refresh_story_words(now - span * 29) == 0                    # nothing new: nothing split
        assert rising_words(wh, span=span, now=now, limit=0) == cold
        # three of the day's stories from three sources are revised: a new word in each
        revised = wh.rows("""SELECT s.story_id, s.origin_article_id FROM stories s WHERE s.first_seen_at >= ?
                             QUALIFY row_number() OVER (PARTITION BY s.origin_source ORDER BY s.story_id) = 1
                             ORDER BY s.story_id LIMIT 3""", [now - span])
        assert len(revised) == 3
        wh.con.execute("""UPDATE articles SET text = text || ' Zzyzxgrad.', content_hash = content_hash || '-revised'
                          WHERE list_contains(?, article_id)""", [[r["origin_article_id"] for r in revised]])
        fresh = rising_words(wh, span=span, now=now, limit=0)
        counts = wh.word_counts(now - span, now, 28)
        assert counts["window"]["zzyzxgrad"] == (3, 3) and counts["baseline"]["zzyzxgrad"] == [0] * 28
        assert [revised_row["story_id"] for revised_row in revised] == \
            wh.word_stories(now - span, now, ["zzyzxgrad"])["zzyzxgrad"]
        assert wh.refresh_story_words(now - span * 29) == 3                     # the three split again
        assert rising_words(wh, span=span, now=now, limit=0) == fresh and wh.word_counts(now - span, now, 28) == counts
        stored = wh.rows("SELECT count(*) AS n FROM story_words WHERE list_contains(words, 'zzyzxgrad')")
        assert stored == [{"n": 3}]
        kept = wh.refresh_story_words(now - span)                              # only the last day's kept
        assert kept == 0 and wh.rows("SELECT count(*) AS n FROM story_words")[0]["n"] == \
            wh.rows("SELECT count(*) AS n FROM stories WHERE first_seen_at >= ?", [now - span])[0]["n"]
        assert rising_words(wh, span=span, now=now, limit=0) == fresh          # the rest read from their texts


def test_the_rising_words_artifact_lists_the_most_surprising_events_linked() -> None:
    from datetime import datetime

    from flows.alerts import rising_markdown

    def row(word: str, n: int) -> dict:  # type: ignore[type-arg]
        return {"word": word, "with": ["x_y"], "as_written": [word, "x_y"], "stories": n, "sources": 2, "stories_before": 0, "usual": 0.1,
                "busiest_before": 0.0, "surprise": 9.5, "topics": [], "examples": [f"[{word}](javascript:x)"],
                "links": [f"https://a.example/{word}?q=(1)"]}

    report = {"end": datetime(2026, 12, 7, 9, 0), "stories": 300, "stories_before": 8000, "blocks": 28,
              "rising_words": 4, "events": 3, "words": [row("banjska", 8), row("jarinje", 5), row("brnjak", 3)]}
    page = rising_markdown(report, 2)
    assert "**4** words in **3** events, the 2 most surprising here" in page
    section = page.split("\n## banjska (x\\_y)\n\n", 1)[1].split("\n## ", 1)[0]
    assert section.startswith("**8** stories from **2** sources; 0 in the 28 days before (busiest day 0.0); "
                              "surprise 9.5; topics: none\n")
    assert "\n- [(banjska)(javascript:x)](https://a.example/banjska?q=%281%29)\n" in section
    assert "\n## jarinje (x\\_y)\n" in page and "brnjak" not in page
    quiet = rising_markdown({**report, "rising_words": 0, "events": 0, "words": []}, 10)
    assert "**0** words in **0** events." in quiet and quiet.endswith("No word is rising.\n") and "## " not in quiet
    one = rising_markdown({**report, "rising_words": 1, "events": 1, "words": [row("banjska", 8)]}, 10)
    assert "**1** word in **1** event." in one
