"""Pure rules of the extraction path: headline choice and date precedence."""

from datetime import UTC, datetime

from connectors.extract import choose_published, choose_title, headings, strip_site_suffix

PAGE = datetime(2023, 10, 3, tzinfo=UTC)
FEED = datetime(2023, 10, 3, 14, 30, tzinfo=UTC)
GUESS = datetime(2023, 9, 1, tzinfo=UTC)


def test_headline_prefers_an_agreeing_h1_and_strips_site_names() -> None:
    assert choose_title("KFOR boosts patrols in the north | Kosovo Herald",
                        ["KFOR boosts patrols in the north"]) == "KFOR boosts patrols in the north"
    assert choose_title("KFOR boosts patrols | Kosovo Herald", []) == "KFOR boosts patrols"
    assert choose_title("KFOR boosts patrols", ["Menu", "Latest news today", "Other story"]) == "KFOR boosts patrols"
    assert strip_site_suffix("Serbia – Kosovo: talks resume in Brussels again") == "Serbia – Kosovo: talks resume in Brussels again"
    assert strip_site_suffix("Belgrade – Pristina talks") == "Belgrade – Pristina talks"
    assert headings("<h1 class=x>  KFOR <em>in</em> Zvečan &amp; Leposavić </h1><h1>Logo</h1>") == ["KFOR in Zvečan & Leposavić"]


def test_date_precedence() -> None:
    assert choose_published(PAGE, FEED, GUESS, page_has_time=False) == (FEED, "feed")   # same day: feed's time
    precise = datetime(2023, 10, 3, 9, 0, tzinfo=UTC)
    assert choose_published(precise, FEED, GUESS, page_has_time=True) == (precise, "page")
    assert choose_published(None, FEED, GUESS, page_has_time=False) == (FEED, "feed")
    assert choose_published(None, None, GUESS, page_has_time=False) == (GUESS, "htmldate")
    assert choose_published(None, None, None, page_has_time=False) == (None, "none")


def test_a_repeated_pull_quote_goes_repeated_short_lines_stay() -> None:
    """Exact repeats of a sentence-long paragraph are a template's double or a pull quote; repeats shorter than
    REPEAT_MIN_WORDS are cells, list items and labels the article really has several times (a 4-gram scorer, as
    issue #17's held-out one, loses every shingle across a dropped cell)."""
    from datetime import UTC, datetime

    from connectors.charset import detect_encoding
    from connectors.extract import PageJob, extract_page

    quote = "KFOR will not allow a security vacuum in the north of Kosovo, its commander told reporters in Pristina."
    rows = "".join(f"<h3>Crossing {i}</h3><p>Open</p><p>Traffic: normal</p>" for i in range(4))
    body = " ".join(f"Paragraph {i} on the patrols near Jarinje and Brnjak, where traffic resumed on Monday." for i in range(3))
    html = (f"<html><head><title>KFOR patrols</title></head><body><article><h1>KFOR patrols</h1><p>{body}</p>"
            f"<blockquote><p>{quote}</p></blockquote><p>{body} More on the talks in Brussels.</p>"
            f"{rows}<p>{quote}</p><p>The mission has about 4,500 troops from 30 countries.</p>"
            "</article></body></html>").encode()
    art = extract_page(PageJob(source="s", url="https://example.org/a", final_url="https://example.org/a", body=html,
                               encoding=detect_encoding(html, None), fetched_at=datetime.now(UTC)))
    lines = art.text.split("\n")
    assert lines.count(quote) == 1 and art.repeated_paragraphs == 1        # the pull quote's double went
    assert lines.count("Open") == 4 and lines.count("Traffic: normal") == 4   # every crossing kept its lines


def test_a_first_line_repeating_the_title_goes_other_first_lines_stay() -> None:
    from balkanwatch.textclean import drop_title_line

    title = "KFOR steps up patrols near Jarinje after the clash"
    body = ["KFOR troops patrolled the crossing on Monday, the mission said.", "Traffic resumed by noon."]
    assert drop_title_line([title, *body], title) == body
    assert drop_title_line(["KFOR steps up patrols near Jarinje", *body], title) == body   # the headline, shortened
    assert drop_title_line(body, title) == body                               # a first line of the article stays
    assert drop_title_line([title], title) == [title]                         # never the only paragraph
    long_first = f"{title}, " + "the mission said in a statement on the situation in the north " * 4
    assert drop_title_line([long_first, *body], title) == [long_first, *body]   # a paragraph, not a headline
    assert drop_title_line([title, *body], None) == [title, *body]


def test_extraction_keeps_the_headline_in_the_title_not_in_the_text() -> None:
    """An <h1> inside the article's container: trafilatura keeps it as the text's first line; the product's
    text is the body (issue #17: the truth of 223 of the 237 WCXB dev pages whose text began so had no
    headline)."""
    from datetime import UTC, datetime

    from connectors.charset import detect_encoding
    from connectors.extract import PageJob, extract_page

    headline = "KFOR steps up patrols near Jarinje after the clash"
    paras = "".join(f"<p>Paragraph {i}: KFOR troops patrolled the crossing near Jarinje on Monday, where traffic "
                    f"resumed after the weekend's clash, the mission said in a statement.</p>" for i in range(4))
    html = (f"<html><head><title>{headline} | Kosovo Herald</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>{headline}</h1>{paras}</article></body></html>").encode()
    for agreement in (True, False):
        art = extract_page(PageJob(source="s", url="https://example.org/a", final_url="https://example.org/a",
                                   body=html, encoding=detect_encoding(html, None), fetched_at=datetime.now(UTC),
                                   agreement=agreement))
        assert art.title == headline
        assert art.text.split("\n")[0].startswith("Paragraph 0:") and headline not in art.text
        assert art.text.count("Paragraph") == 4
