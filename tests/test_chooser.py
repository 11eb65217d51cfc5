"""The extractor-agreement chooser (issue #17): the pure decisions, then handmade pages through `extract_page`
with the real extractors (trafilatura keeps the comments; it loses half the article; everyone agrees; it
finds nothing until asked again in recall mode, also through a feed into the warehouse)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from balkanwatch import chooser
from balkanwatch.chooser import PageSignals
from connectors.extract import PageJob, choose_text, extract_html, extract_page, parse_html, safe_extract

URL = "https://herald.example/politics/ibar-bridge"
ARTICLE = [
    "The municipal council of North Mitrovica met on Tuesday evening to discuss the reopening of the main bridge "
    "over the Ibar river, a crossing that has been closed to vehicles for more than a decade.",
    "Residents on both banks have asked for years that the bridge be opened, saying that the detour through the "
    "eastern crossing adds half an hour to every trip to the hospital and to the schools on the southern side.",
    "The ministry in Pristina said on Monday that the funding for the new lighting and the traffic signals would "
    "arrive next spring, once the public tender closes and the engineers finish their survey of the northern bank.",
    "Council members from the Serb List walked out of the session before the vote, arguing that the plan had been "
    "drawn up without the consent of the people who live next to the bridge and who would bear its traffic.",
    "KFOR troops, who have guarded the crossing since the riots of 2011, said they would keep their positions at "
    "both ends until the local police and the European Union mission agree on a common plan for the opening.",
    "The European Union envoy for the dialogue between Belgrade and Pristina is expected to visit the town next "
    "week and to meet the mayor, the council and representatives of the shops that line the northern approach.",
    "A survey published by a local radio station last month found that most residents of both communities would "
    "use the bridge if it opened, although many said they feared new tensions during the first weeks.",
    "The mayor said after the session that the council would hold a public hearing in the town hall in January, "
    "where residents could see the drawings of the new approach roads and put their questions to the engineers.",
]
COMMENTS = [   # short replies: jusText, which keeps long ones, drops these with the other three
    "Finally some good news from the town!", "Nothing will change, believe me.", "Will the buses from Zvecan use it?",
    "My grandfather helped build the old bridge.", "They promised the lighting three years ago.",
    "Good for the shops on the north side.", "The survey should be published first.",
    "The eastern crossing freezes every winter.", "I miss the Saturday market on the bridge.",
    "Who will guard the schools in the morning?",
]
LAST = "public hearing in the town hall"   # in the article's last paragraph
COMMENT = "grandfather helped build"        # in a reader's comment


def _paras(ps: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in ps)


def page(main: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Council debates the Ibar bridge | Herald</title></head><body>
<header><nav><a href="/">Home</a> <a href="/politics">Politics</a> <a href="/region">Region</a></nav></header>
<main><h1>Council debates the Ibar bridge</h1>{main}</main>
<footer><p>Herald, Mitrovica. All rights reserved.</p></footer></body></html>"""


PLAIN = page(f'<div class="body">{_paras(ARTICLE)}</div>')
# a comment thread as an unmarked list: trafilatura keeps it, the four others do not (their medoid, shorter
# than trafilatura's text, leads it by more than SHORTER_MARGIN: 0.11 here)
WITH_COMMENTS = page(f'<div class="body">{_paras(ARTICLE)}</div><h3>Comments</h3><ul class="thread">'
                     + "".join(f"<li><span>Reader {i}, 12 December</span><p>{c}</p></li>" for i, c in enumerate(COMMENTS))
                     + "</ul>")
# the second half of the story in a block whose class trafilatura takes for page furniture
SPLIT = page(f'<div class="body">{_paras(ARTICLE[:4])}</div><div class="story-footer">{_paras(ARTICLE[4:])}</div>')


# a newsletter pop-up left unclosed by the site's template: the whole page, article included, ends up inside an
# <aside>, which trafilatura's default mode prunes (a real WCXB dev page has this shape)
SWALLOWED = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Council debates the Ibar bridge | Herald</title></head><body>
<aside id="popup-newsletter" class="popup-overlay"><div class="popup-outer"><form>Subscribe <input name="e"></form>
<header class="header-main"><nav><a href="/">Home</a> <a href="/politics">Politics</a></nav>
<article class="entry"><div class="entry-text">{_paras(ARTICLE)}</div></article></body></html>"""
NOT_AN_ARTICLE = page('<ul class="menu"><li><a href="/a">Politics</a></li><li><a href="/b">Sport</a></li></ul>')


def job(html: str, agreement: bool = True) -> PageJob:
    return PageJob(source="s", url=URL, final_url=URL, body=html.encode(), encoding="utf-8",
                   fetched_at=datetime(2026, 12, 2, 9, tzinfo=UTC), agreement=agreement)


def test_trafilatura_keeps_the_comments_and_the_chooser_keeps_a_cleaner_text() -> None:
    plain = extract_page(job(WITH_COMMENTS, agreement=False))
    assert COMMENT in plain.text and plain.text_from == "trafilatura"   # the failure the chooser is for
    chosen = extract_page(job(WITH_COMMENTS))
    assert chosen.text_from != "trafilatura"
    assert COMMENT not in chosen.text and LAST in chosen.text and ARTICLE[0][:40] in chosen.text
    assert chosen.title == plain.title and chosen.language == plain.language == "en"   # metadata as before


def test_trafilatura_loses_half_the_article_and_the_chooser_gets_it_back() -> None:
    plain = extract_page(job(SPLIT, agreement=False))
    assert LAST not in plain.text and ARTICLE[0][:40] in plain.text
    chosen = extract_page(job(SPLIT))
    assert chosen.text_from != "trafilatura" and LAST in chosen.text and ARTICLE[0][:40] in chosen.text
    assert len(chosen.text) > 1.8 * len(plain.text)


def test_when_all_agree_no_further_extractor_runs() -> None:
    tree = parse_html(PLAIN, URL)
    choice = choose_text(tree, PLAIN, URL, extract_html(tree, URL)["text"])
    assert choice.ran == ("trafilatura", chooser.FIRST_OPINION)   # only the 3 ms first opinion ran
    assert choice.chosen == "trafilatura" and LAST in choice.text
    art = extract_page(job(PLAIN))
    assert art.text_from == "trafilatura" and art.text == extract_page(job(PLAIN, agreement=False)).text


def test_a_page_the_default_mode_finds_nothing_in_is_asked_again_in_recall_mode() -> None:
    import trafilatura

    assert trafilatura.extract(SWALLOWED, url=URL) is None   # the anchor gives the page up: a story lost
    for agreement in (True, False):
        art = extract_page(job(SWALLOWED, agreement))
        assert art.text_from == "trafilatura-recall"
        assert ARTICLE[0][:40] in art.text and LAST in art.text and "Subscribe" not in art.text
        assert art.title == "Council debates the Ibar bridge"
    tree = parse_html(SWALLOWED, URL)
    assert extract_html(tree, URL)["recall_retry"] is True
    assert extract_html(parse_html(PLAIN, URL), URL)["recall_retry"] is False   # found text is never re-asked
    for agreement in (True, False):   # a page without an article is still given up, retried or not
        error = safe_extract(job(NOT_AN_ARTICLE, agreement))
        assert isinstance(error, str) and ("no article text" in error or "characters of text" in error)


def test_the_swallowed_page_lands_through_a_feed(server, write_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.cli import main
    from balkanwatch.config import load_config
    from tests.conftest import toml_sources
    from warehouse import Warehouse

    site = tmp_path / "site"   # what `server` serves
    (site / "swallowed.html").write_text(SWALLOWED, encoding="utf-8")
    (site / "menu.html").write_text(NOT_AN_ARTICLE, encoding="utf-8")
    (site / "feed.xml").write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Herald</title>
        <item><title>Council debates the Ibar bridge</title><link>{server.url("swallowed.html")}</link>
        <pubDate>Wed, 02 Dec 2026 08:00:00 +0000</pubDate></item>
        <item><title>Menu</title><link>{server.url("menu.html")}</link>
        <pubDate>Wed, 02 Dec 2026 07:00:00 +0000</pubDate></item></channel></rss>""", encoding="utf-8")
    cfg = write_config(toml_sources([{"name": "Herald", "feed": server.url("feed.xml")}]))
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = wh.rows("SELECT url, text FROM articles")
        failed = wh.rows("SELECT url, error FROM failed_items")
    assert [r["url"] for r in stored] == [server.url("swallowed.html")]
    assert ARTICLE[0][:40] in stored[0]["text"] and LAST in stored[0]["text"]
    assert [f["url"] for f in failed] == [server.url("menu.html")]   # the page without an article is reported


def test_the_switch_is_part_of_the_extractor_version() -> None:
    on, off = extract_page(job(PLAIN)), extract_page(job(PLAIN, agreement=False))
    assert on.extractor_version != off.extractor_version
    assert replace(on, extractor_version="", text_from="") == replace(off, extractor_version="", text_from="")


# the pure decisions, with `ask` answering from a table and recording what was asked

FINE = PageSignals(text_chars=2000, visible_chars=2600, link_share=0.05, paragraphs=8)
TEXT = " ".join(ARTICLE)


def _asker(answers: dict[str, str]) -> tuple[list[str], Callable[[str], str]]:
    asked: list[str] = []

    def ask(name: str) -> str:
        asked.append(name)
        return answers[name]
    return asked, ask


def test_agreement_keeps_trafilatura_after_one_opinion() -> None:
    asked, ask = _asker({chooser.FIRST_OPINION: TEXT})
    choice = chooser.choose(TEXT, FINE, ask)
    assert asked == [chooser.FIRST_OPINION] and choice.chosen == "trafilatura" and choice.ran == ("trafilatura", *asked)


def test_disagreement_buys_every_opinion_and_keeps_the_medoid() -> None:
    half = " ".join(ARTICLE[:4])
    answers = dict.fromkeys(chooser.OPINION_ORDER, TEXT)
    asked, ask = _asker(answers)
    choice = chooser.choose(half, FINE, ask)
    assert asked == list(chooser.ASK_ORDER) and choice.text == TEXT and choice.chosen == chooser.FIRST_OPINION
    assert sorted(asked) == sorted(chooser.OPINION_ORDER) and choice.ran == ("trafilatura", *asked)


def test_the_cheapest_opinion_siding_with_trafilatura_stops_the_buying() -> None:
    # resiliparse lost half the article; boilerpy3 has all of it, as trafilatura does: the other two are not asked
    half = " ".join(ARTICLE[:4])
    asked, ask = _asker({chooser.FIRST_OPINION: half, chooser.CONFIRMER: TEXT})
    choice = chooser.choose(TEXT, FINE, ask)
    assert asked == [chooser.FIRST_OPINION, chooser.CONFIRMER] == list(chooser.ASK_ORDER[:2])
    assert choice.chosen == "trafilatura" and choice.text == TEXT and choice.ran == ("trafilatura", *asked)
    assert f"{chooser.CONFIRMER} agrees" in choice.reason
    # boilerpy3 agrees only as well as a threshold above: the rest are bought, and the medoid (trafilatura,
    # boilerpy3 and the two others against resiliparse) still keeps trafilatura's text
    strict = chooser.DEFAULT._replace(confirm_agreement=1.01)
    asked, ask = _asker({chooser.FIRST_OPINION: half, **dict.fromkeys(chooser.ASK_ORDER[1:], TEXT)})
    choice = chooser.choose(TEXT, FINE, ask, strict)
    assert asked == list(chooser.ASK_ORDER) and choice.text == TEXT
    # boilerpy3 disagrees as resiliparse does: the rest are bought, and their medoid replaces trafilatura's text
    asked, ask = _asker({chooser.FIRST_OPINION: half, **dict.fromkeys(chooser.ASK_ORDER[1:], half)})
    choice = chooser.choose(TEXT, FINE, ask)
    assert asked == list(chooser.ASK_ORDER) and choice.text == half and choice.chosen != "trafilatura"


def test_a_bad_signal_buys_opinions_even_when_the_first_agrees() -> None:
    linky = replace(FINE, link_share=0.9)
    on = chooser.DEFAULT._replace(max_link_share=0.3)   # the link test is a grid value (off in the constants)
    assert chooser.needs_opinions(1.0, linky, on) is not None and chooser.needs_opinions(1.0, FINE, on) is None
    asked, ask = _asker(dict.fromkeys(chooser.OPINION_ORDER, TEXT))
    assert chooser.choose(TEXT, linky, ask, on._replace(confirm_agreement=1.01)).chosen == "trafilatura"
    assert asked == list(chooser.ASK_ORDER)


def test_medoid_ignores_empty_candidates_and_prefers_the_first_on_near_ties() -> None:
    a, b = " ".join(ARTICLE), " ".join(ARTICLE[:7])
    assert chooser.medoid_index(["", a, a, "unrelated words entirely here"]) == 1
    assert chooser.medoid_index([b, a, a, a], margin=0.0) == 1
    assert chooser.medoid_index([b, a, a, a], margin=0.5) == 0
    assert chooser.medoid_index(["", ""]) == 0
    assert chooser.overlap(chooser.shingles(a), chooser.shingles(a)) == 1.0
    assert chooser.overlap(frozenset(), chooser.shingles(a)) == 0.0


def test_a_shorter_medoid_needs_the_larger_margin() -> None:
    # trafilatura has two paragraphs the others lack; jusText sides with it: the medoid leads by 0.02-0.1
    extra = ("Readers can follow the council's sessions live on the municipal website and on the local radio, "
             "which broadcasts every vote together with the comments of the members who take part in it.",
             "The newsletter of the Herald is sent every Friday morning to subscribers, with the week's most read "
             "stories from the region and an agenda of the cultural events in both parts of the town.")
    longer = " ".join([*ARTICLE, *extra])
    texts = [longer, TEXT, TEXT, TEXT, longer]   # trafilatura, then OPINION_ORDER
    sets = [chooser.shingles(t) for t in texts]
    best, lead = chooser._ranked(sets)
    assert best == 1 and chooser.MEDOID_MARGIN < lead < chooser.SHORTER_MARGIN
    assert chooser.medoid_index(texts, chooser.MEDOID_MARGIN, chooser.SHORTER_MARGIN) == 0   # keeps its words
    assert chooser.medoid_index(texts, chooser.MEDOID_MARGIN) == 1   # one margin (the old rule): cut them
    # the same page the other way round: trafilatura lost the two paragraphs, the medoid has them
    flipped = [TEXT, longer, longer, longer, TEXT]
    assert chooser.medoid_index(flipped, chooser.MEDOID_MARGIN, chooser.SHORTER_MARGIN) == 1
    asked, ask = _asker(dict(zip(chooser.OPINION_ORDER, texts[1:], strict=True)))
    every = chooser.DEFAULT._replace(min_agreement=1.01, confirm_agreement=1.01)   # all four opinions bought
    choice = chooser.choose(longer, FINE, ask, every)
    assert choice.chosen == "trafilatura" and choice.ran == ("trafilatura", *chooser.ASK_ORDER)
