"""Site boilerplate learned per source: pure decisions, no I/O.

A short paragraph that recurs across many articles of one source ("Subscribe to get the latest posts sent to
your email.", "Support independent journalism…: donate today.") is the site's, not the article's. So is a
short labelled line whose label recurs ("Read More: <another headline>", "Related: …"). Such paragraphs are
removed from the clean text (the raw page keeps them); the learned list is stored per source
(table `source_boilerplate`). The thresholds are the named constants below; in doubt, keep the paragraph.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from balkanwatch.textnorm import fold

MAX_WORDS = 40        # only short paragraphs can be boilerplate: a real paragraph quoted by several articles
                      # is usually longer, and the seeds' footers/blurbs are 5–25 words
LABEL_MAX_WORDS = 25  # a labelled line ("Read More: …") is at most this long
MIN_ARTICLES = 3      # a paragraph must recur in at least three articles of the source …
MIN_SHARE = 0.3       # … and in at least 30 % of the source's recent articles (topic phrases do not)
LEARN_WINDOW = 200    # recent articles of a source the statistics are taken over
LABEL_MIN_SOURCES = 3 # a label ("Read More:") recurring on this many sources is chrome everywhere, whatever its
                      # share on one source (sites put it in only some articles); a real "Update:" line
                      # is rarely on three sites' pages
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


def signatures(paragraph: str) -> list[Signature]:
    """The signatures of one paragraph (none for long paragraphs)."""
    words = paragraph.split()
    if not words or len(words) > MAX_WORDS:
        return []
    folded = fold(paragraph)
    out = [Signature("p:" + hashlib.sha1(folded.encode()).hexdigest()[:16], "paragraph", paragraph)]
    label = _LABEL.match(paragraph)
    if label and len(words) <= LABEL_MAX_WORDS:
        out.append(Signature("l:" + fold(label.group(1)), "label", paragraph))
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
    """Labels that are boilerplate on every source: (key, example, sources, articles) rows of label
    signatures over the whole warehouse; kept when on ≥ LABEL_MIN_SOURCES sources and ≥ MIN_ARTICLES articles."""
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
