"""Cleaning step of the ingest flow: learn each source's boilerplate, strip it (balkanwatch.boilerplate decides);
then learn the page template of sources with enough new pages (balkanwatch.templates decides), which the
source's next pages are extracted with.

Runs at the end of a run, before story assignment, so sketches and content hashes of new articles are made
from cleaned text. Older articles of a source lose boilerplate learned later too (their stories stay).
"""

from __future__ import annotations

import zlib
from typing import Any

from balkanwatch import templates
from balkanwatch.boilerplate import (
    EVERYWHERE,
    LEARN_WINDOW,
    Signature,
    keys_for,
    learn,
    learn_everywhere,
    signatures,
    strip,
)
from balkanwatch.dedupe import shingle_hashes
from balkanwatch.errors import ExtractionError
from balkanwatch.textclean import content_hash, paragraphs
from warehouse import Warehouse
from warehouse.store import utcnow

# Sources whose stored pages one read fetches when templates are learned: ~20 pages each (LEARN_WINDOW), kept
# compressed until parsed, so a read holds a few MB; one read a source cost ~20 ms on a lake (issue #16).
TEMPLATE_READ_SOURCES = 50


def clean_boilerplate(wh: Warehouse) -> int:
    """Record signatures of new articles, relearn their sources' boilerplate, strip it; returns paragraphs removed."""
    new = wh.uncleaned_articles()
    if not new:
        return 0
    wh.record_signatures([(art, src, s.key, s.kind, s.example)   # ingest made them in the extraction workers
                          for art, src, text, known in new if not known for p in paragraphs(text) for s in signatures(p)])
    before = set().union(*wh.boilerplate_by_source().values())
    sources = sorted({src for _, src, _, _ in new})
    recent = wh.recent_signatures(sources, LEARN_WINDOW)
    learned = {source: learn([[Signature(k, kind, ex) for k, kind, ex in sigs] for sigs in per_article])
               for source, per_article in recent.items()}
    wh.replace_boilerplate({**learned, EVERYWHERE: learn_everywhere(wh.label_spread())}, utcnow())
    removed = _strip(wh, {art for art, *_ in new}, before)
    wh.mark_cleaned([art for art, *_ in new])
    learn_templates(wh, sources)
    return removed


def learn_templates(wh: Warehouse, sources: list[str]) -> int:
    """Learn the page template of each of `sources` that is due (from its last pages and their stored texts);
    returns how many were learned. A source whose pages show no template loses the one it had (a row says
    nothing was learned, so it is not asked again before templates.RELEARN_NEW more pages)."""
    from connectors.extract import parse_html

    due = [source for source, (has, new_pages) in sorted(wh.template_ages(sources).items())
           if templates.due(has, new_pages)]
    learned: dict[str, tuple[list[tuple[str, str]], int]] = {}
    for chunk in (due[i:i + TEMPLATE_READ_SOURCES] for i in range(0, len(due), TEMPLATE_READ_SOURCES)):
        for source, stored in wh.template_pages(chunk, templates.LEARN_WINDOW).items():
            pages = []
            for url, enc, html, text in stored:
                try:   # a stored page that no longer parses (empty, or not HTML) teaches nothing; never fail the settle
                    body = zlib.decompress(html).decode(enc or "utf-8", errors="replace")
                    pages.append((templates.page_blocks(parse_html(body, url)), text))
                except ExtractionError:
                    continue
            template = templates.learn(pages)
            learned[source] = (templates.rows(template), len(pages))
    wh.replace_templates(learned, utcnow())
    return sum(rows != templates.rows(None) for rows, _ in learned.values())


def _strip(wh: Warehouse, new: set[str], known_before: set[str]) -> int:
    """Strip a source's own learned signatures, and everywhere the exact paragraphs learned on any source (a
    syndicated copy carries its origin's footer; one article of a site quoting another site's "Subscribe…"
    line is not enough evidence on its own). Only new articles, and older ones holding a newly learned
    signature, are looked at: the others were stripped when their signatures were learned."""
    learned = wh.boilerplate_by_source()
    every = set().union(*learned.values())
    fresh = every - known_before
    if not every:
        return 0
    rows = {r[0]: r for r in wh.articles_with_keys(sorted(every), among=sorted(new))}
    rows.update({r[0]: r for r in wh.articles_with_keys(sorted(fresh))} if fresh else {})
    updates: list[dict[str, Any]] = []
    for article_id, source, text, story_id in rows.values():
        kept, gone = strip(paragraphs(text), keys_for(source, learned))
        if not gone:
            continue
        clean = "\n".join(kept)
        updates.append({"article_id": article_id, "text": clean, "content_hash": content_hash(clean),
                        "removed": len(gone),
                        "sketch": sorted(shingle_hashes(clean)) if story_id is None else None})
    wh.update_cleaned(updates)
    return sum(u["removed"] for u in updates)
