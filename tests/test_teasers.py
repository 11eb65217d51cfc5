"""Teasers: listed items whose page gives no article text (a paywall's notice, a page drawn by script, a
401/403/451 answer, a robots.txt disallow) are kept with the listing's summary, counted and matched."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from balkanwatch.emails import TEASER_NOTE, _story_text
from balkanwatch.errors import ExtractionError
from balkanwatch.models import FEED_CONTENT, FEED_SUMMARY, PAGE_DESCRIPTION, FeedItem
from connectors.extract import PageJob, extract_page, listing_teaser, teaser_text
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from warehouse import Warehouse

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SUMMARY = ("KFOR troops stepped up patrols at the Jarinje crossing after an overnight exchange of fire, "
           "officials in Pristina said.")
NOTICE = "<p>Subscribe to continue reading.</p>"


def paywalled(title: str, description: str = "") -> str:
    meta = f'<meta property="og:description" content="{description}">' if description else ""
    return (f"<html lang='en'><head><title>{title} | The Herald</title>{meta}"
            f'<meta property="og:title" content="{title}"></head>'
            f"<body><header><a href='/'>The Herald</a></header><article><h1>{title}</h1>{NOTICE}</article>"
            "</body></html>")


ARTICLE = ("<html lang='en'><head><title>Council meets on the Ibar bridge</title></head><body><article>"
           "<h1>Council meets on the Ibar bridge</h1>"
           + "".join(f"<p>Paragraph {i} of the council's long debate on the Ibar bridge in Mitrovica, with the "
                     "mayor and the opposition both speaking at length about the traffic plan.</p>" for i in range(6))
           + "</article></body></html>")


def test_teaser_text_keeps_the_summary_without_its_title_and_feed_footers() -> None:
    wp = f"<p>{SUMMARY}</p><p>The post KFOR steps up patrols appeared first on Balkan Wire.</p>"
    assert teaser_text(wp, "KFOR steps up patrols") == SUMMARY
    # Google News: the summary is the headline and the outlet's name: nothing of its own
    gn = '<a href="https://x/a">KFOR steps up patrols in the north</a>&nbsp;&nbsp;<font color="#6f6f6f">Reuters</font>'
    assert teaser_text(gn, "KFOR steps up patrols in the north") == ""
    assert teaser_text(f"KFOR steps up patrols - {SUMMARY} Continue reading…", "KFOR steps up patrols") == SUMMARY
    assert teaser_text("<p>Read more.</p>", "t") == "" and teaser_text(None, "t") == ""
    # "read more" inside a sentence is the sentence's
    inner = "In Mitrovica, officials said they read more than twenty names at the ceremony"
    assert teaser_text(inner, "Ceremony") == inner
    assert teaser_text("<p>One.</p><p>Two lines of a summary, long enough to keep.</p>", None) == (
        "One.\nTwo lines of a summary, long enough to keep.")


def test_a_summarys_script_and_comments_are_not_text() -> None:
    hostile = f"<p>{SUMMARY}</p><script>var tracking = 'a long script line that is not news at all';</script>" \
              "<!-- a comment that is not news either, long enough to count --><style>p {{ color: red }}</style>"
    assert teaser_text(hostile, "t") == SUMMARY


def test_a_feeds_full_content_is_the_text_when_it_says_more_than_the_summary() -> None:
    body = "".join(f"<p>Paragraph {i} of the article as the feed carries it, KFOR at Jarinje.</p>" for i in range(4))
    item = FeedItem(link="https://herald.example/a", title="KFOR steps up patrols", summary=SUMMARY,
                    content=body + "<p>Paragraph 0 of the article as the feed carries it, KFOR at Jarinje.</p>")
    art = listing_teaser(item, "Herald", NOW, "en")
    assert art is not None and art.text_from == FEED_CONTENT
    assert art.text.splitlines() == [f"Paragraph {i} of the article as the feed carries it, KFOR at Jarinje."
                                     for i in range(4)]   # a repeated paragraph once
    assert listing_teaser(replace(item, content="<p>Short.</p>"), "Herald", NOW, "en").text_from == FEED_SUMMARY  # type: ignore[union-attr]
    # a paywalled page of a feed that carries the article: the feed's article, with the page's metadata
    art = extract_page(job(paywalled("KFOR steps up patrols"), item))
    assert art.text_from == FEED_CONTENT and art.text.startswith("Paragraph 0") and art.language == "en"


def test_feed_content_is_read_from_rss_and_atom() -> None:
    from connectors.feeds import parse_feed

    rss = b"""<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
    <channel><title>t</title><item><title>A</title><link>https://x.example/a</link><description>Short summary.</description>
    <content:encoded><![CDATA[<p>The whole article.</p>]]></content:encoded></item>
    <item><title>B</title><link>https://x.example/b</link><description>Only a summary.</description></item>
    </channel></rss>"""
    a, b = sorted(parse_feed(rss, "https://x.example/feed").items, key=lambda i: i.link)
    assert a.content == "<p>The whole article.</p>" and a.summary == "Short summary." and b.content is None
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <entry><title>A</title><link href="https://x.example/a"/><id>a</id><updated>2026-12-06T08:00:00Z</updated>
    <summary>Short.</summary><content type="html">&lt;p&gt;The whole article.&lt;/p&gt;</content></entry></feed>"""
    [entry] = parse_feed(atom, "https://x.example/feed").items
    assert entry.content == "<p>The whole article.</p>"


def job(html: str, item: FeedItem | None) -> PageJob:
    return PageJob(source="Herald", url="https://herald.example/a", final_url="https://herald.example/a",
                   body=html.encode(), encoding="utf-8", fetched_at=NOW, item=item, agreement=False)


def test_a_listed_page_without_article_text_is_a_teaser_with_the_pages_metadata() -> None:
    html = paywalled("KFOR steps up patrols", description="The page's own description of the patrols at Jarinje.")
    item = FeedItem(link="https://herald.example/a", title="KFOR steps up patrols", summary=SUMMARY,
                    published=NOW)
    art = extract_page(job(html, item))
    assert art.text == SUMMARY and art.text_from == FEED_SUMMARY
    assert art.title == "KFOR steps up patrols" and art.language == "en" and art.raw_html and art.sketch
    # no summary in the listing: the page's description
    art = extract_page(job(html, FeedItem(link="https://herald.example/a", title="KFOR steps up patrols")))
    assert art.text == "The page's own description of the patrols at Jarinje." and art.text_from == PAGE_DESCRIPTION
    # not listed (`balkanwatch extract FILE`, `reextract`), or nothing to keep: an error as before
    with pytest.raises(ExtractionError, match="characters of text"):
        extract_page(job(html, None))
    with pytest.raises(ExtractionError, match="characters of text"):
        extract_page(job(paywalled("KFOR steps up patrols"), FeedItem(link="https://herald.example/a", title="t")))
    # a page with its article is not a teaser, summary or not
    assert extract_page(job(ARTICLE, item)).text_from == "trafilatura"


def test_a_listing_teaser_needs_a_title_and_a_summary() -> None:
    item = FeedItem(link="https://herald.example/a", title="KFOR steps up patrols", summary=SUMMARY,
                    published=NOW, author="A. Writer", guid="g1")
    art = listing_teaser(item, "Herald", NOW, "en")
    assert art is not None and art.text == SUMMARY and art.published_from == "feed" and art.published_at == NOW
    assert art.raw_html == b"" and art.final_url is None and art.author == "A. Writer" and art.feed_guid == "g1"
    assert listing_teaser(FeedItem(link=item.link, summary=SUMMARY), "Herald", NOW, "en") is None
    assert listing_teaser(FeedItem(link=item.link, title="t", summary="Short."), "Herald", NOW, "en") is None


def test_the_e_mail_says_an_excerpt_is_a_teaser() -> None:
    story = {"title": "KFOR steps up patrols", "url": "https://herald.example/a", "first_seen_at": NOW,
             "articles": 1, "excerpt": SUMMARY, "publisher": "herald.example", "sources": ["Herald"]}
    assert TEASER_NOTE not in _story_text(story)
    assert TEASER_NOTE.strip() in _story_text({**story, "text_from": FEED_SUMMARY})


def test_ingest_keeps_paywalled_and_refused_items_as_teasers(server, write_config, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "paywall.html").write_text(paywalled("KFOR steps up patrols at Jarinje"))
    (site / "empty.html").write_text(paywalled("A page with nothing for us"))
    (site / "article.html").write_text(ARTICLE)
    (site / "private").mkdir()
    (site / "private" / "disallowed.html").write_text(ARTICLE)
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    server.routes["/refused.html"] = lambda h: h.send_body(403, b"<html><title>Just a moment...</title></html>",
                                                            {"Content-Type": "text/html"})
    server.routes["/busy.html"] = lambda h: h.send_body(503, b"busy", {"Content-Type": "text/plain"})
    items = [("paywall.html", "KFOR steps up patrols at Jarinje", SUMMARY),
             ("refused.html", "EULEX reviews the Zvečan case",
              "<p>EULEX prosecutors reopened the Zvečan case on Friday, a spokesperson told reporters.</p>"),
             ("private/disallowed.html", "Mayor speaks on the bridge",
              "The mayor of North Mitrovica spoke about the Ibar bridge and its reopening for cars."),
             ("busy.html", "Busy server story", "A summary long enough to be kept as the text of a teaser."),
             ("empty.html", "A page with nothing for us", ""),
             ("article.html", "Council meets on the Ibar bridge", "A summary that the page's article replaces.")]
    (site / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Herald</title>' + "".join(
            f"<item><title>{t}</title><link>{server.url(p)}</link><description><![CDATA[{d}]]></description>"
            f"<pubDate>Sun, 06 Dec 2026 0{i}:00:00 +0000</pubDate></item>" for i, (p, t, d) in enumerate(items))
        + "</channel></rss>", encoding="utf-8")
    cfg = write_config(toml_sources([{"name": "Herald", "feed": server.url("feed.xml")}]) + """
[[watchlists]]
name = "eulex"
any = ["EULEX"]
""")
    cfg.write_text(cfg.read_text().replace("[fetch]\n", "[fetch]\nrespect_robots = true\n"))
    config = load_config(cfg)
    first = asyncio.run(run_ingest(config))
    assert first.new_articles == 4 and first.item_errors == 2, first.as_dict()
    with Warehouse.open(config.warehouse_path, read_only=True) as wh:
        stored = {r["url"].rsplit("/", 1)[1]: r for r in wh.rows(
            """SELECT a.url, a.title, a.text, a.text_from, a.published_from, a.final_url, a.story_id,
                      (SELECT count(*) FROM raw_pages p WHERE p.article_id = a.article_id) AS raw
               FROM articles a""")}
        failed = {r["url"].rsplit("/", 1)[1]: r["error"] for r in wh.rows("SELECT url, error FROM failed_items")}
        eulex = wh.rows("SELECT a.url FROM mentions m JOIN articles a USING (article_id) WHERE m.watchlist = 'eulex'")
        stories = wh.rows("SELECT count(DISTINCT story_id) AS n FROM articles")[0]["n"]
        unreachable = wh.articles_without_raw_page()
        [health] = wh.source_health()
    assert set(stored) == {"paywall.html", "refused.html", "disallowed.html", "article.html"}
    paywall, refused_, disallowed, article = (stored[k] for k in ("paywall.html", "refused.html", "disallowed.html",
                                                                   "article.html"))
    assert paywall["text"] == SUMMARY and paywall["text_from"] == FEED_SUMMARY and paywall["raw"] == 1
    assert refused_["text"].startswith("EULEX prosecutors") and refused_["text_from"] == FEED_SUMMARY
    assert refused_["raw"] == 0 and refused_["final_url"] is None and refused_["published_from"] == "feed"
    assert disallowed["text_from"] == FEED_SUMMARY and disallowed["raw"] == 0
    assert article["text_from"] == "trafilatura" and "Paragraph 5" in article["text"]
    assert stories == 4 and unreachable == 0   # four stories (teasers too); no page "lost" to retention
    assert [r["url"] for r in eulex] == [server.url("refused.html")]   # the teaser's summary is matched
    warning = health["last_warning"]   # the analyst sees why: a paywall is not a bot wall
    assert warning.startswith("3 of 4 new articles are from the listing only (") and health["health"] == "healthy"
    assert {"HTTP 403 ×1", "robots.txt ×1", "no article text on the page ×1"} == set(
        warning.split("(", 1)[1].split(")", 1)[0].split(", "))
    assert "503" in failed["busy.html"]                 # "try later" is not a refusal: retried, not a teaser
    assert "characters of text" in failed["empty.html"]  # no summary, no description: nothing to keep

    asked = len(server.requests)
    again = asyncio.run(run_ingest(config, force=True))
    assert again.new_articles == 0
    pages = [r["path"] for r in server.requests[asked:]]
    assert not any(p.endswith(("paywall.html", "refused.html", "disallowed.html")) for p in pages), pages


def atom_entry(base: str, updated: str, summary: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Herald</title><id>tag:herald</id><updated>{updated}</updated>
<entry><title>Council meets on the Ibar bridge</title><link href="{base}/bridge.html"/><id>tag:herald,bridge</id>
<summary>{summary}</summary><published>2026-12-06T08:00:00Z</published><updated>{updated}</updated></entry></feed>"""


def test_a_teaser_becomes_the_article_when_its_listing_changes_and_the_page_opens(server, write_config,
                                                                                  tmp_path: Path) -> None:
    site = tmp_path / "site"
    status = {"code": 403}

    def bridge(h) -> None:  # type: ignore[no-untyped-def]
        if status["code"] == 200:
            h.send_body(200, ARTICLE.encode(), {"Content-Type": "text/html; charset=utf-8"})
        elif status["code"] == 402:
            h.send_body(200, paywalled("Council meets on the Ibar bridge").encode(), {"Content-Type": "text/html"})
        else:
            h.send_body(403, b"no", {"Content-Type": "text/plain"})

    server.routes["/bridge.html"] = bridge
    summary = "The council of North Mitrovica meets on Monday to decide on the Ibar bridge's reopening."
    (site / "feed.xml").write_text(atom_entry(server.base, "2026-12-06T08:00:00Z", summary), encoding="utf-8")
    config = load_config(write_config(toml_sources([{"name": "Herald", "feed": server.url("feed.xml")}])))

    def stored() -> dict:  # type: ignore[type-arg]
        with Warehouse.open(config.warehouse_path, read_only=True) as wh:
            return wh.rows("""SELECT text, text_from, revision, (SELECT count(*) FROM raw_pages) AS raw,
                                     (SELECT count(*) FROM failed_items) AS failed FROM articles""")[0]

    assert asyncio.run(run_ingest(config)).new_articles == 1
    assert stored()["text_from"] == FEED_SUMMARY and stored()["raw"] == 0
    # the listing changes while the page still refuses us: nothing replaced, no item error against the stored
    # article, and the listing's time remembered (not fetched again on the next poll)
    (site / "feed.xml").write_text(atom_entry(server.base, "2026-12-06T08:30:00Z", summary), encoding="utf-8")
    assert asyncio.run(run_ingest(config, force=True)).sources[0].revised == 0
    assert stored()["failed"] == 0 and stored()["text"] == summary
    asked = len(server.requests)
    asyncio.run(run_ingest(config, force=True))
    assert not any(r["path"] == "/bridge.html" for r in server.requests[asked:])
    # the listing changes while the page is paywalled: a teaser does not replace what is stored, and the
    # listing's time is remembered (not fetched again on the next poll)
    status["code"] = 402
    (site / "feed.xml").write_text(atom_entry(server.base, "2026-12-06T09:00:00Z",
                                                 "Another summary of the council meeting, changed by the editors."))
    assert asyncio.run(run_ingest(config, force=True)).sources[0].revised == 0
    asked = len(server.requests)
    asyncio.run(run_ingest(config, force=True))
    assert not any(r["path"] == "/bridge.html" for r in server.requests[asked:])
    assert stored()["text"] == summary and stored()["failed"] == 0
    # it changes again and the page now opens: the article replaces the teaser, as a revision
    status["code"] = 200
    (site / "feed.xml").write_text(atom_entry(server.base, "2026-12-06T10:00:00Z", summary), encoding="utf-8")
    assert asyncio.run(run_ingest(config, force=True)).sources[0].revised == 1
    now = stored()
    assert now["text_from"] == "trafilatura" and "Paragraph 5" in now["text"] and now["revision"] == 2
    assert now["raw"] == 1


def test_a_story_first_seen_as_a_teaser_is_excerpted_from_a_copy_with_its_article(tmp_path: Path) -> None:
    from balkanwatch.dedupe import shingle_hashes
    from balkanwatch.textclean import content_hash
    from balkanwatch.urls import article_id
    from flows.stories import assign_stories

    item = FeedItem(link="https://original.example/kfor-patrols", title="KFOR steps up patrols", summary=SUMMARY,
                    published=NOW)
    teaser = listing_teaser(item, "Original", NOW, "en")
    assert teaser is not None
    text = "\n".join(f"Paragraph {i}: KFOR patrols at Jarinje went on through the night, officials said." for i in range(5))
    copy = replace(teaser, article_id=article_id("https://partner.example/kfor"), url="https://partner.example/kfor",
                   source="Partner", canonical_url=item.link, text=text, content_hash=content_hash(text),
                   text_from="trafilatura", sketch=tuple(sorted(shingle_hashes(text))),
                   fetched_at=NOW.replace(hour=10))   # syndicated, pointing to the original (who refused us)
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        wh.migrate()
        assert wh.load_articles([teaser], "r1") == 1
        assign_stories(wh)
        [story] = wh.rows("SELECT story_id FROM stories")
        [alone] = wh.story_details([story["story_id"]])
        assert alone["excerpt"] == SUMMARY and alone["text_from"] == FEED_SUMMARY   # only the teaser: said so
        assert wh.load_articles([copy], "r2") == 1
        assign_stories(wh)
        assert wh.rows("SELECT count(DISTINCT story_id) AS n FROM articles")[0]["n"] == 1
        [both] = wh.story_details([story["story_id"]])
    assert both["excerpt"].startswith("Paragraph 0") and both["text_from"] is None
    assert both["url"] == item.link   # still the origin's link and title


def test_a_site_wide_description_is_not_a_teaser(server, write_config, tmp_path: Path) -> None:
    site = tmp_path / "site"
    tagline = "Independent news about Kosovo, KFOR and the Western Balkans, every day of the year."
    own = "The council of North Mitrovica meets on Monday to decide on the Ibar bridge's reopening."
    for name in ("a", "b", "c", "d"):
        (site / f"{name}.html").write_text(paywalled(f"Story {name} from the Herald", description=tagline))
    (site / "own.html").write_text(paywalled("Council meets on the bridge", description=own))

    def feed(names: list[str]) -> None:
        (site / "feed.xml").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Herald</title>' + "".join(
                f"<item><title>Story {n}</title><link>{server.url(n + '.html')}</link></item>" for n in names)
            + "</channel></rss>", encoding="utf-8")

    feed(["a", "b", "c", "own"])
    config = load_config(write_config(toml_sources([{"name": "Herald", "feed": server.url("feed.xml")}])
                                      + '\n[[watchlists]]\nname = "kfor"\nany = ["KFOR"]\n'))
    first = asyncio.run(run_ingest(config))
    assert first.new_articles == 1 and first.item_errors == 3
    feed(["a", "b", "c", "own", "d"])   # a new item with the tagline; the three failed ones are tried again
    again = asyncio.run(run_ingest(config, force=True))
    assert again.new_articles == 0 and again.item_errors == 4
    with Warehouse.open(config.warehouse_path, read_only=True) as wh:
        stored = wh.rows("SELECT text, text_from FROM articles")
        failed = wh.rows("SELECT url, error, attempts FROM failed_items ORDER BY url")
        mentions = wh.rows("SELECT count(*) AS n FROM mentions")[0]["n"]
    assert stored == [{"text": own, "text_from": PAGE_DESCRIPTION}]
    assert [f["url"].rsplit("/", 1)[1] for f in failed] == ["a.html", "b.html", "c.html", "d.html"]
    assert all("the page's description is the site's" in f["error"] for f in failed)
    assert [f["attempts"] for f in failed] == [2, 2, 2, 1] and mentions == 0   # the tagline's "KFOR" counted nothing


def test_a_refused_page_whose_feed_carries_the_article_is_not_a_page_lost_to_retention(server, write_config,
                                                                                       tmp_path: Path) -> None:
    site = tmp_path / "site"
    server.routes["/walled.html"] = lambda h: h.send_body(403, b"no", {"Content-Type": "text/plain"})
    body = "".join(f"<p>Paragraph {i} of the article as the feed carries it, KFOR at Jarinje.</p>" for i in range(4))
    (site / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Herald</title><item><title>KFOR at Jarinje</title><link>{server.url('walled.html')}</link>"
        f"<description>{SUMMARY}</description><content:encoded><![CDATA[{body}]]></content:encoded></item>"
        "</channel></rss>", encoding="utf-8")
    config = load_config(write_config(toml_sources([{"name": "Herald", "feed": server.url("feed.xml")}])))
    assert asyncio.run(run_ingest(config)).new_articles == 1
    with Warehouse.open(config.warehouse_path, read_only=True) as wh:
        [row] = wh.rows("SELECT text_from, final_url, (SELECT count(*) FROM raw_pages) AS raw FROM articles")
        unreachable = wh.articles_without_raw_page()
    assert row == {"text_from": FEED_CONTENT, "final_url": None, "raw": 0}
    assert unreachable == 0   # it never had a raw page: `reextract` does not report it as one retention deleted
