"""Revisions step of a source's poll: a known article fetched again because its listing says it changed."""

from __future__ import annotations

from collections.abc import Sequence

from balkanwatch.boilerplate import keys_for, strip
from balkanwatch.models import FROM_LISTING, ExtractedArticle
from balkanwatch.textclean import content_hash, paragraphs
from warehouse import Warehouse


def revise_articles(wh: Warehouse, arts: Sequence[ExtractedArticle]) -> int:
    """Store changed texts as new revisions (same id, same story); returns how many changed.

    The new text is compared after removing the source's learned boilerplate, as the stored text was, so a
    changed footer or a re-fetch of the same article is not a revision. A re-fetch that found no article
    text (its text is the listing's: the page is now paywalled, or still is) never replaces what is stored; like an unchanged
    text, it only records the listing's time, so the page is not fetched again until the listing changes."""
    changed = 0
    learned = wh.boilerplate_by_source()
    for a in arts:
        stored = wh.stored_version(a.article_id)
        if stored is None:
            continue
        kept, _ = strip(paragraphs(a.text), keys_for(a.source, learned))
        text = "\n".join(kept)
        if a.text_from in FROM_LISTING or content_hash(text) == stored[0]:
            wh.touch_listed(a.article_id, a.listed_updated_at)
            continue
        wh.record_revision(a, stored[1] + 1)
        changed += 1
    return changed
