"""Site boilerplate learned per source: the pure rules, then the whole ingest path on the corpus sites."""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from app.corpus import SITES, Article, write_site
from balkanwatch.boilerplate import learn, signatures, strip
from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import loopback_config, served_corpus, toml_sources

FOOTER = "Subscribe to get the latest posts sent to your email."
BODY = ["KFOR increased patrols near Jarinje after a weekend of tension, its spokesman said on Monday morning.",
        "Kosovo police and EULEX officers joined the patrols; no incidents were reported by the evening."]


def sigs(paras: list[str]):
    return [s for p in paras for s in signatures(p)]


def test_a_recurring_footer_and_label_are_learned_a_topic_phrase_is_not():
    articles = [[f"Story {i} opens with its own words about KFOR number {i}.", FOOTER, f"Read More: headline {i}"]
                for i in range(10)]
    articles += [["A long paragraph " + "word " * 60, "KFOR said on Monday."] for _ in range(2)]
    learned = {b.kind: b for b in learn([sigs(a) for a in articles])}
    assert learned["paragraph"].example == FOOTER and learned["paragraph"].articles == 10
    assert learned["label"].key == "l:read more"
    assert len(learn([sigs(a) for a in articles])) == 2          # "KFOR said on Monday." is in 2 of 12: kept


def test_strip_keeps_a_short_article_body():
    keys = {s.key for s in signatures(FOOTER)}
    kept, gone = strip([BODY[0], FOOTER], keys)
    assert kept == [BODY[0]] and gone == [FOOTER]
    tiny = "KFOR: patrols up."                                   # the footer would be most of this article
    assert strip([tiny, FOOTER], keys) == ([tiny, FOOTER], [])
    assert strip([FOOTER], keys) == ([FOOTER], [])               # never leaves nothing


def test_ingest_learns_each_sites_boilerplate_and_strips_it_but_not_the_body(tmp_path: Path):
    root = tmp_path / "sites"
    with served_corpus(root, monitoring=True) as (sources, articles, servers):
        short = Article("kosovo-herald", "short-brief", "KFOR steps up patrols", "Desk",
                        datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30), BODY, story="short-brief")
        herald = next(s for s in SITES if s.slug == "kosovo-herald")
        write_site(herald, root / herald.slug, servers[herald.slug].base, [*articles, short])
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
        summary = asyncio.run(run_ingest(load_config(cfg)))
        assert summary.boilerplate_removed > 0
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        learned = con.execute("SELECT source, kind, example FROM source_boilerplate ORDER BY 1, 2, 3").fetchall()
        examples = {(src, ex) for src, _, ex in learned}
        assert ("Kosovo Herald", FOOTER) in examples
        assert ("Sarajevo Daily", "Follow Sarajevo Daily on Telegram for breaking news from the region.") in examples
        assert {"Share this story: Facebook · X · Telegram · Email",
                "Support independent journalism in the Balkans: donate today."} <= {ex for src, ex in examples
                                                                                     if src == "Balkan Wire"}
        assert ("*", "Read More: Kosovo Identifies Serb Official After Shootout as Tensions Flare") in examples or any(
            src == "*" and ex.startswith("Read More:") for src, ex in examples)       # on 3 sites: everywhere
        left = con.execute("""SELECT count(*) FROM articles WHERE text ILIKE '%Subscribe to get the latest%'
                              OR text ILIKE '%donate today%' OR text ILIKE '%Follow Sarajevo Daily%'
                              OR text ILIKE '%Read More:%'""").fetchone()[0]
        assert left == 0
        text, removed, html = con.execute(
            """SELECT a.text, a.boilerplate_paragraphs, r.html_zlib FROM articles a JOIN raw_pages r USING (article_id)
               WHERE a.url LIKE '%short-brief.html'""").fetchone()
        assert text.split("\n")[-2:] == BODY and FOOTER not in text and removed == 1
        assert FOOTER in zlib.decompress(html).decode()          # the raw page keeps it
        # no article lost its body: every one still has at least one paragraph of ≥ 10 words
        assert con.execute("""SELECT count(*) FROM articles WHERE NOT list_has_any(
                                 [true], list_transform(string_split(text, chr(10)), p -> len(string_split(p, ' ')) >= 10))
                           """).fetchone()[0] == 0


def test_a_link_label_on_three_sources_is_boilerplate_everywhere_on_two_it_is_not():
    from balkanwatch.boilerplate import learn_everywhere

    rows = [("l:read more", "Read More: a headline", 3, 5), ("l:update", "Update: police said more", 2, 9),
            ("l:photo", "Photo: Reuters", 4, 2)]
    assert [b.key for b in learn_everywhere(rows)] == ["l:read more"]


def test_a_labelled_line_is_a_link_line_only_when_its_rest_is_a_links_text():
    from balkanwatch.boilerplate import signatures
    from balkanwatch.textnorm import fold

    links = {fold("Kosovo Identifies Serb Official After Shootout"), fold("Home"), fold("Reuters")}

    def kinds(p: str) -> list[str]:
        return [s.kind for s in signatures(p, links) if s.key.startswith("l:")]

    assert kinds("Read More: Kosovo Identifies Serb Official After Shootout") == ["link"]
    assert kinds("Read more: KOSOVO identifies Serb official after shootout.") == ["link"]   # folded, ≥ 80 %
    assert kinds("Q: What did KFOR see at Jarinje after the shootout?") == ["label"]
    assert kinds("Source: Reuters and local police reports from the northern municipalities") == ["label"]
    assert kinds("Location: Home") == ["link"]
    assert [s.kind for s in signatures("Read More: Kosovo Identifies Serb Official After Shootout")] == [
        "paragraph", "label"]                                # without the page's links: a label line


def test_interview_questions_on_many_sites_stay_in_every_article(tmp_path: Path):
    """Content labels ("Q:", "Location:") recur on many sources' pages; no source's template has them, so
    no article loses them (they used to be learned as chrome everywhere from being on three sources)."""
    from app.corpus import Site
    from app.devserver import LoopbackServer

    sites = [Site(f"desk-{i}", f"Desk {i}", "rss") for i in range(4)]
    now = datetime.now(UTC).replace(microsecond=0)

    def paras(i: int, j: int) -> list[str]:
        if j == 0:   # one interview a desk, a fifth of its articles: no desk's template
            return [f"Desk {i} spoke to an official about KFOR patrols and the situation at the crossings.",
                    f"Q: What changed at crossing {i} after the weekend of tension in the north?",
                    f"A: Patrols doubled at crossing {i}, and police from both sides met twice, the official said.",
                    f"Q: Will KFOR keep the extra troops near crossing {i} through the winter months?",
                    f"A: For now yes, until the talks in Brussels on crossing {i} show some progress."]
        return [f"Report {j} of desk {i}: municipal officials in the north met KFOR liaison officers on day {j}.",
                f"The talks covered roads, schools and the water supply of {j * 3 + i} villages near the border."]

    arts = [Article(site.slug, f"story-{i}-{j}", f"Story {j} of desk {i} on northern Kosovo", "Desk",
                    now - timedelta(hours=5 * j + i), paras(i, j), story=f"story-{i}-{j}")
            for i, site in enumerate(sites) for j in range(5)]
    servers = []
    try:
        sources = []
        for site in sites:
            servers.append(LoopbackServer(tmp_path / "sites" / site.slug).start())
            sources.append(write_site(site, tmp_path / "sites" / site.slug, servers[-1].base, arts))
        cfg = tmp_path / "balkanwatch.toml"
        cfg.write_text(loopback_config(toml_sources(sources)), encoding="utf-8")
        summary = asyncio.run(run_ingest(load_config(cfg)))
        assert summary.new_articles == len(arts)
    finally:
        for server in servers:
            server.stop()
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        spread = con.execute("SELECT count(DISTINCT source) FROM paragraph_signatures WHERE key = 'l:q'").fetchone()
        assert spread[0] == 4                                # on every source's pages…
        assert con.execute("SELECT count(*) FROM source_boilerplate WHERE key = 'l:q'").fetchone()[0] == 0
        texts = [t for (t,) in con.execute("SELECT text FROM articles WHERE url LIKE '%story-_-0.html'").fetchall()]
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == len(arts)
    assert len(texts) == len(sites)
    assert all(t.count("Q: ") == 2 and t.count("A: ") == 2 for t in texts)   # …and in every interview still
