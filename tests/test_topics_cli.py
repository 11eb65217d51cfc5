"""`balkanwatch topics` and `topics try`: a desk's view of its topics, and a watchlist tried on the stored
articles before it goes into the config."""

from __future__ import annotations

import asyncio
import json
import shlex
import tomllib
from datetime import timedelta

from app.cli import main
from balkanwatch.alerting import OVERVIEW_DAYS, bucket_floor
from balkanwatch.config import load_config
from balkanwatch.trial import TopicTrial
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.test_alerts import WATCHLISTS
from warehouse import Warehouse
from warehouse.store import utcnow


def test_a_trial_counts_stories_terms_and_what_none_terms_keep_out() -> None:
    trial = TopicTrial.of("border", ["Jarinj*", "Јарињ*", "Brnjak"], [["border", "granic*"]], ["football", "fudbal*"])
    assert trial.add("s1", "Clash at Jarinje", "Police closed the border crossing at Jarinje.")
    assert trial.add("s1", "Јариње", "Граница је затворена.")            # a copy in Cyrillic: the same story
    assert not trial.add("s2", "Jarinje", "A quiet day at the crossing.")    # no term of the group
    assert not trial.add("s3", "Jarinje derby", "Football at the border town of Jarinje.")   # kept out
    assert trial.add("s4", "Brnjak", "The granica at Brnjak reopened; fudbal fans were not there.") is False
    assert trial.add("s5", "Brnjak border", "The border at Brnjak reopened.")
    assert not trial.add("s5", "Brnjak border", "Football at the Brnjak border.")   # one copy kept out: still in
    assert trial.articles == 7 and trial.matched_articles == 3
    assert set(trial.stories) == {"s1", "s5"} and trial.excluded_stories() == {"s3", "s4"}
    rows = {(r["part"], r["term"]): r for r in trial.term_rows()}
    assert rows["any", "Jarinj*"]["stories"] == 1 and rows["any", "Jarinj*"]["share"] == 0.5
    assert rows["any", "Јарињ*"]["same_as"] == "Jarinj*" and rows["any", "Јарињ*"]["stories"] == 1   # folds alike
    assert rows["any", "Brnjak"]["stories"] == 1 and rows["any", "Brnjak"]["same_as"] is None
    assert rows["all_of_any 1", "border"]["stories"] == 2 and rows["all_of_any 1", "granic*"]["stories"] == 1
    assert rows["none", "football"]["stories"] == 1 and rows["none", "fudbal*"]["stories"] == 1   # s3; s4
    assert rows["none", "football"]["share"] is None
    # what a `*` term caught, folded, by stories: the words a prefix was not meant for show here
    assert rows["any", "Jarinj*"]["words"] == "jarinje 1" and rows["all_of_any 1", "granic*"]["words"] == "granica 1"
    assert rows["none", "fudbal*"]["words"] == "fudbal 1" and rows["any", "Brnjak"]["words"] is None
    wide = TopicTrial.of("serbia", ["Serb*"])
    for i, text in enumerate(["Serbia and the Serbs", "Serbian army", "Serbia again", "Serbian Serbia"]):
        wide.add(f"s{i}", "", text)
    assert wide.term_rows()[0]["words"] == "serbia 3, serbian 2, serbs 1"
    assert [r["term"] for r in trial.term_rows()] == ["Jarinj*", "Јарињ*", "Brnjak", "border", "granic*",
                                                      "football", "fudbal*"]          # the definition's order


CANDIDATE = """
[[watchlists]]
name = "kosovo-not-kfor"
any = ["Kosovo", "Kosova", "Косово"]
none = ["KFOR", "КФОР"]
"""


def test_trying_a_watchlist_gives_what_configuring_it_would(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """The trial's stories are those the topic gets once it is configured and matched (`rematch`); a
    configured topic's trial is its own stories and the alerts `spikes backtest` lists for it."""
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources) + WATCHLISTS)
    asyncio.run(run_ingest(load_config(cfg)))

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        assert main(["--config", str(cfg), *args, "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    tried = run("topics", "try", "kosovo-not-kfor", "--any", "Kosovo", "Kosova", "Косово", "--none", "KFOR", "КФОР",
                "--examples", "1000")
    kfor = run("topics", "try", "kfor", "--examples", "1000")
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        configured = {r["story_id"] for r in wh.rows("SELECT story_id FROM story_mentions WHERE watchlist = 'kfor'")}
        articles = wh.rows("SELECT count(*) AS n FROM articles WHERE story_id IS NOT NULL")[0]["n"]
    assert {e["story_id"] for e in kfor["examples"]} == configured and kfor["stories"] == len(configured) > 0
    assert kfor["definition"] == {"any": ["KFOR", "КФОР", "Kosovo Force"], "all_of_any": [], "none": []}
    backtest = json.loads((main(["--config", str(cfg), "spikes", "backtest", "--format", "json"]),
                           capsys.readouterr().out)[1])
    assert [a["bucket_start"] for a in kfor["alerts"]] == [b["bucket_start"] for b in backtest if b["watchlist"] == "kfor"]

    # the candidate, added to the config as tried (`topics add`) and matched, gets exactly the trial's stories
    cfg2 = write_config(toml_sources(sources) + WATCHLISTS)
    assert main(["--config", str(cfg2), "topics", "try", "kosovo-not-kfor", "--any", "Kosovo", "Kosova", "Косово",
                 "--none", "KFOR", "КФОР", "--examples", "1"]) == 0
    command = capsys.readouterr().out.split("\nto configure it: ", 1)[1].strip()     # what the trial says to run
    assert command.startswith("balkanwatch topics add kosovo-not-kfor --any ")
    assert main(["--config", str(cfg2), *shlex.split(command)[1:]]) == 0
    assert capsys.readouterr().out.startswith("added topic 'kosovo-not-kfor' to ")
    assert tomllib.loads(cfg2.read_text(encoding="utf-8"))["watchlists"][-1] == tomllib.loads(CANDIDATE)["watchlists"][0]
    assert main(["--config", str(cfg2), "rematch"]) == 0
    capsys.readouterr()
    with Warehouse.open(load_config(cfg2).warehouse_path, read_only=True) as wh:
        truth = {r["story_id"] for r in wh.rows(
            "SELECT story_id FROM story_mentions WHERE watchlist = 'kosovo-not-kfor'")}
    assert {e["story_id"] for e in tried["examples"]} == truth and tried["stories"] == len(truth) > 0
    assert tried["articles"] == articles and tried["matched_articles"] >= tried["stories"]
    kept_out = {e["story_id"] for e in tried["excluded_examples"]}
    assert tried["excluded_stories"] == len(kept_out) > 0 and kept_out <= configured and not kept_out & truth
    assert all(set(e["kept_out_by"]) <= {"KFOR", "КФОР"} and e["kept_out_by"] for e in tried["excluded_examples"])
    terms = {(t["part"], t["term"]): t for t in tried["terms"]}
    assert terms["none", "КФОР"]["same_as"] == "KFOR" and terms["none", "KFOR"]["stories"] == len(kept_out)
    shared = {o["topic"]: (o["shared_stories"], o["share"]) for o in tried["overlap"]}
    assert shared["kfor"] == (len(truth & configured), round(len(truth & configured) / len(truth), 3))
    assert len(truth & configured) < len(configured) and set(shared) == {"kfor", "north-kosovo-clash", "eulex"}
    assert [e["first_seen_at"] for e in tried["examples"]] == sorted((e["first_seen_at"] for e in tried["examples"]),
                                                                     reverse=True)
    # the progress bar counts articles read against the articles to read
    from flows.maintenance import try_topic

    seen_progress: list[tuple[int, int]] = []
    with Warehouse.open(load_config(cfg2).warehouse_path, read_only=True) as wh:
        config2 = load_config(cfg2)
        try_topic(wh, config2, config2.watchlists[-1], progress=lambda done, total: seen_progress.append((done, total)))
    assert seen_progress[0] == (0, articles) and seen_progress[-1] == (articles, articles)
    assert {t for _, t in seen_progress} == {articles} and articles > kfor["stories"]
    # --since: only the stories first seen since then, read and replayed from there
    with Warehouse.open(load_config(cfg2).warehouse_path, read_only=True) as wh:
        seen = {r["story_id"]: r["first_seen_at"] for r in wh.rows("SELECT story_id, first_seen_at FROM stories")}
    cut = sorted(seen[s] for s in truth)[len(truth) // 2]
    recent = run("topics", "try", "kosovo-not-kfor", "--any", "Kosovo", "Kosova", "Косово", "--none", "KFOR", "КФОР",
                 "--examples", "1000", "--since", cut.isoformat())
    assert {e["story_id"] for e in recent["examples"]} == {s for s in truth if seen[s] >= cut}
    assert 0 < recent["stories"] < len(truth) and recent["articles"] < tried["articles"]
    assert recent["history_start"] == cut.isoformat()
    # the same trial from the configured definition, and its table form
    assert main(["--config", str(cfg2), "topics", "try", "kosovo-not-kfor", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stories"] == len(truth)
    assert main(["--config", str(cfg), "topics", "try", "kfor", "--none", "Zvečan", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("topic 'kfor': any ['KFOR', 'КФОР', 'Kosovo Force'], none ['Zvečan']\n")
    assert "\nterms:\n" in out and "\nnewest stories:\n" in out and "stories shared with the configured topics" in out


def test_topics_lists_every_topic_s_week(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources) + WATCHLISTS)
    asyncio.run(run_ingest(load_config(cfg)))
    assert main(["--config", str(cfg), "topics", "--format", "json"]) == 0
    rows = {r["watchlist"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"kfor", "north-kosovo-clash", "eulex"}
    cut = bucket_floor(utcnow(), 60) - timedelta(days=OVERVIEW_DAYS) + timedelta(hours=1)
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        for name, row in rows.items():
            week = wh.rows("SELECT count(*) AS n FROM story_mentions WHERE watchlist = ? AND first_seen_at >= ?",
                           [name, cut])[0]["n"]
            assert row["stories_7d"] == week, name
            assert row["budget"] == "4" and row["alerts_recent"] == 0 and row["last_alert"] == ""
    assert rows["kfor"]["stories_7d"] > 0
    assert main(["--config", str(cfg), "topics", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["watchlist", "stories_7d", "expected_7d"]


def test_a_trial_needs_terms_and_refuses_bad_ones(corpus, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    sources, _, _ = corpus
    cfg = write_config(toml_sources(sources) + WATCHLISTS)
    assert main(["--config", str(cfg), "warehouse", "init"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "topics", "try", "kfor"]) == 0      # nothing stored yet: said so
    assert "holds no articles with a story yet" in capsys.readouterr().out
    asyncio.run(run_ingest(load_config(cfg)))
    assert main(["--config", str(cfg), "topics", "try", "brand-new"]) == 2
    assert "'brand-new' is no watchlist of" in capsys.readouterr().err
    assert main(["--config", str(cfg), "topics", "try", "x", "--any", "***"]) == 2
    assert "no letters or digits" in capsys.readouterr().err
    assert main(["--config", str(cfg), "topics", "try", "kfor", "--alerts-per-month", "31"]) == 2
    assert "cannot be met" in capsys.readouterr().err


def test_adding_a_topic_appends_it_and_leaves_a_bad_one_out(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """`topics add` writes what it is given and nothing else (names and terms of any characters, as TOML reads
    them back), and leaves the config as it was when the entry would not load or the name is taken."""
    from balkanwatch.config import WatchlistSettings

    cfg = write_config(WATCHLISTS)
    name, odd = 'Ibar "bridge" \\ [most]', ["Mitrovic*", "Митровиц*", 'a "quoted" \\ term']
    assert main(["--config", str(cfg), "topics", "add", name, "--any", *odd, "--all-of-any", "bridge,most*",
                 "--all-of-any", "Ibar", "--none", "football", "--alerts-per-month", "2", "--every-story",
                 "--email-to", "desk@example.org"]) == 0
    capsys.readouterr()
    added = load_config(cfg).watchlists[-1]
    assert added == WatchlistSettings(name=name, any=odd, all_of_any=[["bridge", "most*"], ["Ibar"]], none=["football"],
                                      alerts_per_month=2.0, every_story=True, email_to=["desk@example.org"])
    before = cfg.read_text(encoding="utf-8")
    for args, said in [(["kfor", "--any", "KFOR"], "already a watchlist"),
                       (["x", "--any", "***"], "no letters or digits"),
                       (["Ibar\nBcc: x", "--any", "Ibar"], "must be one line"),
                       (["x", "--any", "x", "--email-to", "not an address"], "email_to"),
                       (["x", "--any", "x", "--alerts-per-month", "31"], "cannot be met")]:
        assert main(["--config", str(cfg), "topics", "add", *args]) == 2, args
        assert said in capsys.readouterr().err, args
        assert cfg.read_text(encoding="utf-8") == before, args
