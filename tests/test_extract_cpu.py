"""Extraction CPU (#17): one parse per page, no date search a page or feed already answers, no unused metadata."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import htmldate
import htmldate.utils
import pytest
import trafilatura.metadata
import trafilatura.utils

from app.corpus import SITES, page_html, seed_articles
from balkanwatch.models import FeedItem
from connectors.extract import PageJob, extract_page, page_metadata, parse_html

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BODY = "".join(f"<p>Paragraph {i}: KFOR patrols continued near Zvečan and Leposavić on the {i}th day, "
               "officials in Pristina and Belgrade said.</p>" for i in range(8))
UNDATED = f"""<!DOCTYPE html><html lang="en"><head><title>Patrols continue in the north | Herald</title></head>
<body><main><article><h1>Patrols continue in the north</h1>{BODY}
<p>Published on 3 October 2023 by the Herald's correspondent.</p></article></main></body></html>"""
DATED = UNDATED.replace("<head>", '<head><meta property="article:published_time" content="2023-10-03T09:15:00+02:00">')


def job(html: str, item: FeedItem | None = None) -> PageJob:
    return PageJob(source="s", url="https://herald.example/a/1", final_url="https://herald.example/a/1",
                   body=html.encode(), encoding="utf-8", fetched_at=NOW, item=item)


def feed_item() -> FeedItem:
    return FeedItem(link="https://herald.example/a/1", title="t", published=datetime(2023, 10, 3, 12, tzinfo=UTC))


@pytest.fixture
def date_searches(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The extensive_search flag of every htmldate.find_date call."""
    calls: list[bool] = []
    real = htmldate.find_date

    def counting(*args: Any, **kwargs: Any) -> str | None:
        calls.append(bool(kwargs.get("extensive_search", True)))
        return real(*args, **kwargs)

    monkeypatch.setattr(htmldate, "find_date", counting)
    return calls


@pytest.fixture
def page_parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What trafilatura's and htmldate's loaders hand to lxml (the page, or trafilatura's readability summary)."""
    inputs: list[Any] = []
    for module in (trafilatura.utils, htmldate.utils):
        real: Callable[..., Any] = module.fromstring

        def counting(html: Any, *args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            inputs.append(html)
            return _real(html, *args, **kwargs)

        monkeypatch.setattr(module, "fromstring", counting)
    yield inputs


def test_a_dated_page_needs_no_extensive_date_search(date_searches: list[bool]) -> None:
    art = extract_page(job(DATED))
    assert art.published_from == "page" and True not in date_searches


def test_a_feed_date_spares_the_extensive_search(date_searches: list[bool]) -> None:
    art = extract_page(job(UNDATED, feed_item()))
    assert art.published_from == "feed" and True not in date_searches


def test_only_an_undated_page_without_a_feed_date_pays_for_the_search(date_searches: list[bool]) -> None:
    art = extract_page(job(UNDATED))
    assert date_searches.count(True) == 1 and art.published_from == "htmldate"
    assert art.published_at is not None and art.published_at.date().isoformat() == "2023-10-03"


def test_the_page_is_parsed_once_even_for_the_date_search(page_parses: list[Any]) -> None:
    art = extract_page(job(UNDATED))
    assert art.published_from == "htmldate"
    assert [x for x in page_parses if x in (UNDATED, UNDATED.encode())] == [UNDATED]


def test_categories_tags_and_license_are_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def unused(*args: object) -> None:
        raise AssertionError("categories, tags and license are never read")

    monkeypatch.setattr(trafilatura.metadata, "extract_catstags", unused)
    monkeypatch.setattr(trafilatura.metadata, "extract_license", unused)
    art = extract_page(job(DATED))
    assert art.title == "Patrols continue in the north" and len(art.text) > 500


def demo_pages() -> list[str]:
    sites = {site.slug: site for site in SITES}
    return [page_html(sites[art.site], art, f"https://{art.site}.example/a/{i}", [("Other", "/o")])
            for i, art in enumerate(seed_articles(NOW)[:12])] + [DATED, UNDATED]


@pytest.mark.parametrize("html", demo_pages())
def test_page_metadata_is_trafilaturas_minus_unused_fields(html: str) -> None:
    url = "https://herald.example/a/1"
    ours = page_metadata(parse_html(html, url), url)
    theirs = trafilatura.metadata.extract_metadata(
        parse_html(html, url), url, {"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True,
                                     "extensive_search": False})
    fields = ("title", "author", "date", "sitename", "url", "hostname", "language", "description", "image")
    assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}


def test_the_stored_page_decompresses_to_the_body() -> None:
    art = extract_page(job(DATED))
    assert zlib.decompress(art.raw_html) == DATED.encode() and art.raw_bytes == len(DATED.encode())
