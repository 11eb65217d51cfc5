"""Site boilerplate learned per source: pure decisions, no I/O.

A short paragraph that recurs across many articles of one source ("Subscribe to get the latest posts sent to
your email.", "Support independent journalism…: donate today.") is the site's, not the article's. So is a
short labelled line whose label recurs ("Read More: <another headline>", "Related: …"). Such paragraphs are
removed from the clean text (the raw page keeps them); the learned list is stored per source
(table `source_boilerplate`). A labelled line whose rest is the text of a link on its page ("Read More:
<a>another headline</a>") is a *link line*; a label used for link lines on several sources is chrome on
every source. The thresholds are the named constants below; in doubt, keep the paragraph.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from balkanwatch.textnorm import fold

MAX_WORDS = 40        # only short paragraphs can be boilerplate: a real paragraph quoted by several articles
                      # is usually longer, and the seeds' footers/blurbs are 5–25 words
LABEL_MAX_WORDS = 25  # a labelled line ("Read More: …") is at most this long
MIN_ARTICLES = 3      # a paragraph must recur in at least three articles of the source …
MIN_SHARE = 0.3       # … and in at least 30 % of the source's recent articles (topic phrases do not)
LEARN_WINDOW = 200    # recent articles of a source the statistics are taken over
LABEL_MIN_SOURCES = 3 # a label used for link lines ("Read More: <a>…</a>") on this many sources is chrome
                      # everywhere, whatever its share on one source (sites put it in only some articles).
                      # Link lines only: "Q:", "Location:", "Price:", "Conclusion:" are on dozens of sites'
                      # pages as content (docs/design.md, "Boilerplate": on WCXB dev pages, each its site's
                      # only page, counting every labelled line removed 390 lines, 4 in 5 of them content)
LINK_COVER = 0.8      # a labelled line is a link line when one link's text is ≥ this share of the line's rest
EVERYWHERE = "*"      # source_boilerplate.source of signatures that apply to every source
KEEP_SHARE = 0.5      # stripping never removes more than half of an article's words (short articles keep
                      # their body even if it looks like a template)
_LABEL = re.compile(r"^\s*((?:[^\W\d_]+\s+){0,2}[^\W\d_]+)\s*:\s+\S")


@dataclass(frozen=True)
class Signature:
    """What a short paragraph is compared by: its folded text, and its label when it is a labelled line."""

    key: str              # "p:<hash of the folded text>" or "l:<folded label>"
    kind: str             # paragraph | label
    example: str


def has_label(paragraph: str) -> bool:
    """Whether a paragraph is a labelled line ("Read More: …"): the only ones `signatures` needs links for."""
    return _LABEL.match(paragraph) is not None


def is_link_line(rest: str, links: Collection[str]) -> bool:
    """Whether the folded rest of a labelled line is a link's text: equal to one of the page's folded link
    texts (`links`), or holding one that covers ≥ LINK_COVER of it."""
    if not rest:
        return False
    return rest in links or any(len(link) >= LINK_COVER * len(rest) and link in rest for link in links)


def signatures(paragraph: str, links: Collection[str] | None = None) -> list[Signature]:
    """The signatures of one paragraph (none for long paragraphs). With the page's folded link texts
    (`links`), a labelled line whose rest is a link's text is of kind "link" instead of "label" (same key)."""
    words = paragraph.split()
    if not words or len(words) > MAX_WORDS:
        return []
    folded = fold(paragraph)
    out = [Signature("p:" + hashlib.sha1(folded.encode()).hexdigest()[:16], "paragraph", paragraph)]
    label = _LABEL.match(paragraph)
    if label and len(words) <= LABEL_MAX_WORDS:
        link = links is not None and is_link_line(fold(paragraph[label.end(1):].lstrip(" \t:")), links)
        out.append(Signature("l:" + fold(label.group(1)), "link" if link else "label", paragraph))
    return out


@dataclass(frozen=True)
class Learned:
    key: str
    kind: str
    example: str
    articles: int
    share: float


def learn(per_article: Sequence[Iterable[Signature]]) -> list[Learned]:
    """Boilerplate of one source from the signatures of its recent articles (one iterable per article)."""
    counts: dict[str, int] = defaultdict(int)
    first: dict[str, Signature] = {}
    for sigs in per_article:
        for sig in {s.key: s for s in sigs}.values():
            counts[sig.key] += 1
            first.setdefault(sig.key, sig)
    n = len(per_article)
    return sorted((Learned(k, first[k].kind, first[k].example, c, c / n) for k, c in counts.items()
                   if c >= MIN_ARTICLES and c / n >= MIN_SHARE), key=lambda x: x.key)


def learn_everywhere(labels: Sequence[tuple[str, str, int, int]]) -> list[Learned]:
    """Labels that are boilerplate on every source: (key, example, sources, articles) rows of link-line
    signatures (kind "link") over the whole warehouse; kept when on ≥ LABEL_MIN_SOURCES sources and
    ≥ MIN_ARTICLES articles."""
    return sorted((Learned(key, "label", example, articles, 0.0) for key, example, sources, articles in labels
                   if sources >= LABEL_MIN_SOURCES and articles >= MIN_ARTICLES), key=lambda x: x.key)


def keys_for(source: str, learned: dict[str, set[str]]) -> set[str]:
    """The signatures removed from one source's articles, given every source's learned ones: its own, the
    exact paragraphs learned on any source, and the labels learned everywhere."""
    shared = {key for keys in learned.values() for key in keys if key.startswith("p:")}
    return shared | learned.get(EVERYWHERE, set()) | learned.get(source, set())


def strip(paras: Sequence[str], boilerplate: set[str]) -> tuple[list[str], list[str]]:
    """(kept, removed): paragraphs whose signature is boilerplate are removed, unless that would take more
    than KEEP_SHARE of the words or leave nothing."""
    removed = [p for p in paras if any(s.key in boilerplate for s in signatures(p))]
    if not removed:
        return list(paras), []
    total = sum(len(p.split()) for p in paras)
    gone = sum(len(p.split()) for p in removed)
    if gone > KEEP_SHARE * total or len(removed) == len(paras):
        return list(paras), []
    drop = {id(p) for p in removed}
    return [p for p in paras if id(p) not in drop], removed
