"""Per-source template learning (issue #17) on one site's pages: the demo corpus's and the synthetic bench's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.corpus import SITES, monitoring_articles, page_html
from balkanwatch import templates
from balkanwatch.boilerplate import keys_for, strip
from balkanwatch.textclean import paragraphs, token_f1
from connectors.extract import PageJob, extract_page, parse_html

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
SITE = SITES[0]                       # kosovo-herald: a newsletter blurb in the body, a "Most read" sidebar
FOOTER = SITE.boilerplate[0]


def demo_pages() -> list[tuple[str, str, list[str]]]:
    """(url, html, article paragraphs) of the demo site's pages, in the demo's order."""
    arts = [a for a in monitoring_articles(NOW) if a.site == SITE.slug]
    links = [(a.title, f"http://herald.test/{a.slug}") for a in arts]
    return [(url, page_html(SITE, a, url, links[:i] + links[i + 1:]), a.paragraphs)
            for i, (a, (_, url)) in enumerate(zip(arts, links, strict=True))]


def extracted(url: str, html: str) -> str:
    job = PageJob(source=SITE.slug, url=url, final_url=url, body=html.encode(), encoding="utf-8", fetched_at=NOW)
    return extract_page(job).text


def blocks(url: str, html: str) -> list[templates.Block]:
    return templates.page_blocks(parse_html(html, url))


@pytest.fixture(scope="module")
def learned() -> tuple[templates.Template, list[tuple[str, str, list[str]]]]:
    pages = demo_pages()
    assert len(pages) >= 12
    t = templates.learn([(blocks(u, h), extracted(u, h)) for u, h, _ in pages[:10]])
    assert t is not None
    return t, pages[10:]


def test_the_site_chrome_it_kept_is_dropped(learned) -> None:
    t, later = learned
    url, html, body = later[0]
    text = extracted(url, html)
    assert FOOTER in paragraphs(text)                  # trafilatura keeps the newsletter blurb in the body
    fixed = templates.apply(t, blocks(url, html), text)
    assert FOOTER not in fixed and paragraphs(fixed) == body


def test_article_text_the_extractor_dropped_is_put_back_in_place(learned) -> None:
    t, later = learned
    url, html, body = later[1]
    lost = "\n".join(p for i, p in enumerate(body) if i % 2 == 0)      # an extractor that lost every other paragraph
    assert paragraphs(templates.apply(t, blocks(url, html), lost)) == body


def test_a_page_on_another_template_is_left_alone(learned) -> None:
    t, _ = learned
    other = SITES[1]                                    # balkan-wire's page: same generator, other blurbs
    art = next(a for a in monitoring_articles(NOW) if a.site == other.slug)
    html = page_html(other, art, "http://wire.test/a", []).replace('class="entry-content"', 'class="gallery"')
    text = "\n".join(art.paragraphs[:2])
    assert templates.apply(t, blocks("http://wire.test/a", html), text) == text


def test_a_source_with_too_few_pages_learns_nothing() -> None:
    pages = demo_pages()[: templates.MIN_PAGES - 1]
    assert templates.learn([(blocks(u, h), extracted(u, h)) for u, h, _ in pages]) is None


def test_a_template_survives_its_stored_rows(learned) -> None:
    t, _ = learned
    assert templates.from_rows(templates.rows(t), t.pages) == t
    assert t.content and t.chrome and t.chrome_texts


def test_on_a_split_body_the_template_recovers_what_raw_trafilatura_lost() -> None:
    """A synthetic site (bench/template_corpus.py) whose body continues in a second container after an
    advert: trafilatura.extract alone loses the continuation on most pages; the template learned from our
    extraction of the site's earlier pages puts it back."""
    import trafilatura

    from bench.data import extraction_dev
    from bench.template_corpus import corpus

    site = corpus(extraction_dev()[:120], sites=1, pages=14)[0]
    trees = [templates.page_blocks(parse_html(p.html.decode(), p.url)) for p in site]
    ours = [extract_page(PageJob(source=p.site, url=p.url, final_url=p.url, body=p.html, encoding="utf-8",
                                 fetched_at=NOW)).text for p in site]
    t = templates.learn(list(zip(trees[:10], ours[:10], strict=True)))
    assert t is not None
    before = after = 0.0
    for p, b in zip(site[10:], trees[10:], strict=True):
        raw = trafilatura.extract(p.html, url=p.url) or ""
        before += token_f1(raw, p.text) / 4
        after += token_f1(templates.apply(t, b, raw), p.text) / 4
    assert before < 0.9 < 0.98 < after


def _feed(base: str, ks: range) -> str:
    items = "".join(f"<item><title>Story {k}</title><link>{base}/news/{k}.html</link><guid>s-{k}</guid>"
                    f"<pubDate>Fri, 01 May 2026 {k % 24:02d}:00:00 +0000</pubDate></item>" for k in ks)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>{items}</channel></rss>'


@pytest.mark.parametrize("warehouse_backend", ["duckdb", "ducklake"], indirect=True)
def test_ingest_learns_a_sources_template_and_the_next_run_extracts_with_it(server, tmp_path,
                                                                            warehouse_backend) -> None:
    """Ingest ten pages of one synthetic site from a loopback server, then six more: the first run learns
    the template (stored in source_templates, on the file and on a lake), the second run's articles are
    extracted with it, and `reextract` keeps them so."""
    import asyncio

    from balkanwatch.config import load_config
    from bench.data import extraction_dev
    from bench.template_corpus import corpus
    from flows.ingest import run_ingest
    from tests.conftest import loopback_config, toml_sources
    from warehouse import Warehouse

    site = corpus(extraction_dev()[:150], sites=2, pages=16)[1]        # opaque class names: chrome kept
    root = server.httpd.root
    (root / "news").mkdir()
    for k, page in enumerate(site):
        (root / "news" / f"{k}.html").write_bytes(page.html)
    cfg = tmp_path / "balkanwatch.toml"
    cfg.write_text(warehouse_backend(loopback_config(toml_sources([{"name": "Site One",
                                                                    "feed": server.url("/feed.xml")}]))),
                   encoding="utf-8")
    (root / "feed.xml").write_text(_feed(server.base, range(10)), encoding="utf-8")
    asyncio.run(run_ingest(load_config(cfg), force=True))
    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        learned = wh.source_templates()["Site One"]
    assert learned.pages == 10 and learned.content and learned.chrome
    (root / "feed.xml").write_text(_feed(server.base, range(10, 16)), encoding="utf-8")
    asyncio.run(run_ingest(load_config(cfg), force=True))
    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        stored = {r["url"]: r["text"] for r in wh.rows("SELECT url, text FROM articles")}
        assert wh.source_templates()["Site One"] == learned     # 6 new pages: not yet due to be learned again
        boilerplate = keys_for("Site One", wh.boilerplate_by_source())
    with_t, without = [], []
    for k in range(10, 16):
        url, page = server.url(f"/news/{k}.html"), site[k]
        job = PageJob(source="Site One", url=url, final_url=url, body=page.html, encoding="utf-8", fetched_at=NOW)
        plain = extract_page(job).text
        kept, _ = strip(paragraphs(extract_page(replace(job, template=learned)).text), boilerplate)
        assert stored[url] == "\n".join(kept)          # then cleaned of the source's learned boilerplate
        with_t.append(token_f1(stored[url], page.text))
        without.append(token_f1(plain, page.text))
    assert sum(w > p for w, p in zip(with_t, without, strict=True)) >= 3 and sum(with_t) > sum(without)
    # re-extraction extracts as ingest does, with the source's template: the corrected texts stay
    from flows.maintenance import reextract
    assert reextract(load_config(cfg), everything=True) == 16
    with Warehouse.for_config(load_config(cfg), read_only=True) as wh:
        again = {r["url"]: r["text"] for r in wh.rows("SELECT url, text FROM articles")}
    assert all(again[server.url(f"/news/{k}.html")] == stored[server.url(f"/news/{k}.html")] for k in range(10, 16))


def test_a_source_whose_pages_taught_nothing_is_not_asked_again_before_more_pages(tmp_path) -> None:
    """The nothing-learned row: no template for the workers, but the source counts as learned (not due until
    RELEARN_NEW more pages), on a real DuckDB file."""
    from warehouse import Warehouse

    assert templates.from_rows(templates.rows(None), 7) is None
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        wh.replace_templates({"quiet": (templates.rows(None), 7)}, NOW.replace(tzinfo=None))
        assert wh.source_templates() == {}
        assert wh.rows("SELECT kind, key, pages FROM source_templates") == [{"kind": "none", "key": "", "pages": 7}]
    assert not templates.due(True, templates.RELEARN_NEW - 1) and templates.due(True, templates.RELEARN_NEW)
    assert not templates.due(False, templates.MIN_PAGES - 1) and templates.due(False, templates.MIN_PAGES)


def test_a_stored_page_that_no_longer_parses_is_skipped_when_a_template_is_learned(tmp_path) -> None:
    """learn_templates reads a source's stored raw pages back: one that no longer parses (here an empty page)
    teaches nothing and must not fail the cleaning step; the others still make the template (real DuckDB)."""
    import zlib
    from datetime import timedelta

    from balkanwatch.urls import article_id
    from flows.boilerplate import learn_templates
    from warehouse import Warehouse

    arts = [extract_page(PageJob(source=SITE.slug, url=u, final_url=u, body=h.encode(), encoding="utf-8",
                                 fetched_at=NOW)) for u, h, _ in demo_pages()[:10]]
    broken_url = "http://herald.test/emptied"
    broken = replace(arts[0], article_id=article_id(broken_url), url=broken_url, canonical_url=broken_url,
                     final_url=broken_url, fetched_at=NOW + timedelta(minutes=1), raw_html=zlib.compress(b""))
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        wh.load_articles([*arts, broken], "r1")
        assert len(wh.template_pages([SITE.slug], templates.LEARN_WINDOW)[SITE.slug]) == 11   # the empty page is read back
        assert learn_templates(wh, [SITE.slug]) == 1
        stored = wh.source_templates()[SITE.slug]
        assert stored.pages == 10 and stored.content


def test_templates_of_many_sources_are_read_in_chunks_and_stored_in_one_go(tmp_path, monkeypatch) -> None:
    """learn_templates reads the stored pages of several sources per query (TEMPLATE_READ_SOURCES at a time;
    1 here, so both chunks run) and stores every template together: each source gets its own, learned from
    its own last pages (real DuckDB)."""
    from datetime import timedelta

    import flows.boilerplate as cleaning
    from warehouse import Warehouse

    monkeypatch.setattr(cleaning, "TEMPLATE_READ_SOURCES", 1)
    arts = []
    for site in SITES[:2]:
        mine = [a for a in monitoring_articles(NOW) if a.site == site.slug][:8]
        links = [(a.title, f"http://{site.slug}.test/{a.slug}") for a in mine]
        for i, (a, (_, url)) in enumerate(zip(mine, links, strict=True)):
            html = page_html(site, a, url, links[:i] + links[i + 1:])
            arts.append(extract_page(PageJob(source=site.slug, url=url, final_url=url, body=html.encode(),
                                             encoding="utf-8", fetched_at=NOW + timedelta(minutes=i))))
    slugs = [s.slug for s in SITES[:2]]
    with Warehouse.open(tmp_path / "wh.duckdb") as wh:
        wh.load_articles(arts, "r1")
        stored = wh.template_pages(slugs, 3)
        assert {s: len(p) for s, p in stored.items()} == {s: 3 for s in slugs}   # the window, per source
        newest = max((a for a in arts if a.source == slugs[0]), key=lambda a: a.fetched_at)
        assert stored[slugs[0]][0][0] == newest.final_url                       # newest first
        assert cleaning.learn_templates(wh, slugs) == 2
        learned = wh.source_templates()
        assert set(learned) == set(slugs) and all(t.pages == 8 for t in learned.values())
        assert learned[slugs[0]] != learned[slugs[1]]
        assert cleaning.learn_templates(wh, slugs) == 0                         # not due again before more pages
