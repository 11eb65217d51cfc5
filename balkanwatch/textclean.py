"""Pure text helpers shared by extraction and (later) dedupe: paragraph splitting, repeats, hashing."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

CONTENT_HASH_VERSION = "v1"   # bump when normalise_for_hash changes; stored with every hash
_WS = re.compile(r"\s+")


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs of extracted text, whitespace collapsed."""
    return [p for p in (_WS.sub(" ", line).strip() for line in text.split("\n")) if p]


def paragraph_key(paragraph: str) -> str:
    """Comparison key of a paragraph: NFKC, case-folded, whitespace and quote styles unified."""
    p = unicodedata.normalize("NFKC", paragraph).casefold()
    p = p.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WS.sub(" ", p).strip()


REPEAT_MIN_WORDS = 12  # an exact repeat is dropped only from this many words: a pull quote or a template's double
# is a sentence or more; shorter repeats are table cells, list items and labels an article has several times.
# 5-fold CV on WCXB dev (bench/repeats_cv.py, 7 page orders): folds chose 8-24, 12 on all pages; held-out shingle
# F1 (issue #17's held-out scoring) 0.9331 against 0.9310 dropping every repeat, word F1 0.9389 against 0.9388


def repeat_dropped(paragraph: str, min_words: int | None = None) -> bool:
    """Whether a later exact copy of this paragraph is dropped: at least `min_words` (REPEAT_MIN_WORDS) words."""
    return len(paragraph.split()) >= (REPEAT_MIN_WORDS if min_words is None else min_words)


def drop_repeated_paragraphs(paras: list[str], min_words: int | None = None) -> tuple[list[str], list[str]]:
    """(kept, repeats): each paragraph kept at its first occurrence; later exact repeats that `repeat_dropped`
    says go (at least `min_words`, REPEAT_MIN_WORDS, words) returned apart."""
    seen: set[str] = set()
    kept, repeats = [], []
    for p in paras:
        key = paragraph_key(p)
        if key in seen and repeat_dropped(p, min_words):
            repeats.append(p)
        else:
            seen.add(key)
            kept.append(p)
    return kept, repeats


def content_hash(text: str) -> str:
    """Versioned hash of the normalised text: equal for texts that differ only in spacing or case."""
    key = paragraph_key(text)
    return f"{CONTENT_HASH_VERSION}:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


_WORD = re.compile(r"\w+")


def word_counts(text: str) -> Counter[str]:
    """Bag of lowercased `\\w+` tokens (the WCXB tokenisation)."""
    return Counter(_WORD.findall(text.lower()))


def token_f1(pred: str, truth: str) -> float:
    """Bag-of-words F1 between two texts; 1.0 when both are empty."""
    p, t = word_counts(pred), word_counts(truth)
    if not p and not t:
        return 1.0
    common = sum((p & t).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(t.values())
    return 2 * precision * recall / (precision + recall)


# The article's headline is its `title`; the text is its body. A first paragraph that repeats the title (the
# extractor kept an <h1> inside the article's container) is dropped: on WCXB dev a third of our texts began
# with the headline and the truth of 223 of those 237 pages does not. TITLE_LINE_MATCH, token F1 with the
# title, chosen by 5-fold CV on shingle F1 (bench/title_line_cv.py, 7 page orders, the highest among equals:
# fewest lines dropped): folds chose 0.7-1.0, all pages 0.8; held-out shingle F1 0.9432 against 0.9423
# keeping the line, word F1 0.9492 against 0.9484 (241 of 710 pages changed).
TITLE_LINE_MATCH = 0.8
TITLE_LINE_MAX_WORDS = 40   # longer than any headline (also connectors.extract.H1_WORDS' bound): a paragraph, kept


def drop_title_line(paras: list[str], title: str | None, match: float | None = None, within: int = 1) -> list[str]:
    """`paras` without the first of its first `within` paragraphs that repeats `title` (token F1 ≥ `match`,
    TITLE_LINE_MATCH; a document's letterhead can come before it); never the only paragraph."""
    if len(paras) < 2 or not title:
        return paras
    for i, para in enumerate(paras[:within]):
        if len(para.split()) <= TITLE_LINE_MAX_WORDS and \
                token_f1(para, title) >= (TITLE_LINE_MATCH if match is None else match):
            return paras[:i] + paras[i + 1:]
    return paras
