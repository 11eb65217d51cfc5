"""Listed PDFs (press releases, statements): text in paragraphs, metadata, and the failures (connectors/pdf.py)."""

from __future__ import annotations

import asyncio
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.cli import main
from balkanwatch.config import load_config
from balkanwatch.errors import ExtractionError
from balkanwatch.models import FEED_SUMMARY, FeedItem
from connectors.extract import PageJob, extract_page
from connectors.pdf import is_pdf, pdf_paragraphs, read_pdf
from flows.ingest import run_ingest
from tests.conftest import toml_sources
from tests.pdfmake import make_pdf
from warehouse import Warehouse

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PAGE_1 = ["KFOR Press Release 14/2026", "KFOR increases presence in the north",
          "Pristina, 6 December 2026 - Following the incident at the Jarinje crossing on Friday night, the",
          "Commander of KFOR ordered additional patrols along the administrative boundary line. Troops",
          "from several contributing nations will be deployed in Leposavic and Zubin Potok until further",
          "notice.",
          "KFOR remains committed to a safe and secure environment for all communities in Kos-",
          "ovo, in line with its UNSC mandate and in close coordination with the Kosovo Police.",
          "NATO Kosovo Force - Public Affairs Office", "Page 1 of 2"]
PAGE_2 = ["The Commander met representatives of the municipalities on Saturday morning and asked for",
          "calm; further meetings are planned for the coming week.",
          "NATO Kosovo Force - Public Affairs Office", "Page 2 of 2"]
RELEASE = make_pdf([PAGE_1, PAGE_2], title="KFOR increases presence in the north", author="KFOR PIO",
                   created="D:20261206091500+01'00'")
PARAGRAPHS = [
    "Pristina, 6 December 2026 - Following the incident at the Jarinje crossing on Friday night, the Commander "
    "of KFOR ordered additional patrols along the administrative boundary line. Troops from several "
    "contributing nations will be deployed in Leposavic and Zubin Potok until further notice.",
    "KFOR remains committed to a safe and secure environment for all communities in Kosovo, in line with its "
    "UNSC mandate and in close coordination with the Kosovo Police.",
    "The Commander met representatives of the municipalities on Saturday morning and asked for calm; further "
    "meetings are planned for the coming week."]


def test_a_press_release_reads_as_paragraphs_without_page_numbers_or_running_footers() -> None:
    doc = read_pdf(RELEASE)
    assert is_pdf(RELEASE) and doc.pages == 2
    assert (doc.title, doc.author) == ("KFOR increases presence in the north", "KFOR PIO")
    assert doc.created == datetime(2026, 12, 6, 8, 15, tzinfo=UTC)
    assert doc.text.splitlines() == ["KFOR Press Release 14/2026", "KFOR increases presence in the north",
                                     *PARAGRAPHS]


def test_paragraphs_from_lines() -> None:
    # a line much shorter than the page's usual one ends a paragraph; a full one is wrapped text
    full = "x" * 80
    assert pdf_paragraphs([f"{full}\n{full}\nend.\nHeading\n{full}\nlast"]) == f"{full} {full} end.\nHeading\n{full} last"
    assert pdf_paragraphs(["- 3 -\n12\nPage 4\n3 / 9\nstrana 2 od 5"]) == "strana 2 od 5"   # numbers only go
    assert pdf_paragraphs([]) == ""


def job(body: bytes, item: FeedItem | None = None) -> PageJob:
    return PageJob(source="KFOR", url="https://kfor.example/pr14.pdf", final_url="https://kfor.example/pr14.pdf",
                   body=body, encoding="utf-8", fetched_at=NOW, item=item, agreement=False)


def test_a_pdf_article_takes_the_listings_date_and_drops_its_title_line() -> None:
    item = FeedItem(link="https://kfor.example/pr14.pdf", title="Press release 14", published=NOW)
    art = extract_page(job(RELEASE, item))
    assert art.text_from == "pdf" and art.title == "KFOR increases presence in the north"
    assert art.text.splitlines() == ["KFOR Press Release 14/2026", *PARAGRAPHS]   # the title is the title field
    assert (art.published_at, art.published_from) == (NOW, "feed") and art.author == "KFOR PIO"
    assert zlib.decompress(art.raw_html) == RELEASE and art.sketch
    alone = extract_page(job(RELEASE))   # not listed: the document's own date
    assert (alone.published_at, alone.published_from) == (datetime(2026, 12, 6, 8, 15, tzinfo=UTC), "page")
    # a file name is not a title: the listing's
    named = make_pdf([PAGE_1], title="Microsoft Word - pr14.docx")
    assert extract_page(job(named, item)).title == "Press release 14"


def test_unreadable_and_scanned_pdfs() -> None:
    with pytest.raises(ExtractionError, match="could not be read"):
        extract_page(job(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n" * 200))
    scan = make_pdf([["Scan"]], title="Statement")
    with pytest.raises(ExtractionError, match="characters of text in the PDF"):
        extract_page(job(scan))
    # a scan in a feed with a summary: kept from the listing, as a page without article text is
    item = FeedItem(link="https://kfor.example/pr14.pdf", title="Statement",
                    summary="KFOR's statement on the overnight incident at Jarinje, as a scanned document.")
    art = extract_page(job(scan, item))
    assert art.text_from == FEED_SUMMARY and art.text.startswith("KFOR's statement")


def test_ingest_and_extract_a_listed_pdf(server, write_config, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    (site / "pr14.pdf").write_bytes(RELEASE)
    (site / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>KFOR</title>'
        f"<item><title>Press release 14</title><link>{server.url('pr14.pdf')}</link>"
        "<pubDate>Sun, 06 Dec 2026 09:00:00 +0000</pubDate></item></channel></rss>", encoding="utf-8")
    cfg = write_config(toml_sources([{"name": "KFOR releases", "feed": server.url("feed.xml"), "language": "en"}]))
    assert asyncio.run(run_ingest(load_config(cfg))).new_articles == 1
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        [row] = wh.rows("SELECT title, text, text_from, language, published_from, story_id FROM articles")
    assert row["text_from"] == "pdf" and row["text"].splitlines()[1:] == PARAGRAPHS and row["language"] == "en"
    assert row["story_id"] and row["published_from"] == "feed"
    # `balkanwatch extract FILE` reads a PDF through the same path
    assert main(["extract", str(site / "pr14.pdf"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["title"] == "KFOR increases presence in the north" and out["text"].splitlines()[1:] == PARAGRAPHS
