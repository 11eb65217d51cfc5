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
