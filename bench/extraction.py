"""Extraction quality on WCXB dev: our extraction path vs raw `trafilatura.extract`, same pages.

Scoring as WCXB: word-level F1 of lowercased `\\w+` tokens (bag of words) against `main_content`,
macro-averaged over pages. Metadata: title matches when its token F1 with the truth is ≥ TITLE_MATCH;
author when every truth token is in the prediction; date when the YYYY-MM-DD parts are equal. Metadata
accuracy counts only pages whose ground truth has that field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from balkanwatch.textclean import token_f1, word_counts
from bench.data import LabelledPage
from connectors.charset import detect_encoding
from connectors.extract import PageJob, safe_extract

TITLE_MATCH = 0.9   # token F1 needed for a title to count as right (tolerates "| Site" suffix variants)
SHINGLE = 4         # issue #17's held-out figures: word 4-gram shingles, as the article-extraction-benchmark scores
_WORD = re.compile(r"\w+")
word_f1 = token_f1
tokens = word_counts


@dataclass
class Scores:
    f1: list[float]
    title: list[bool]
    author: list[bool]
    date: list[bool]

    def summary(self) -> dict[str, float]:
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        return {"word_f1": mean(self.f1), "title_acc": mean(self.title), "author_acc": mean(self.author),
                "date_acc": mean(self.date), "pages": len(self.f1), "title_n": len(self.title),
                "author_n": len(self.author), "date_n": len(self.date)}


def _score(scores: Scores, page: LabelledPage, text: str, title: str | None, author: str | None, date: str | None) -> None:
    scores.f1.append(word_f1(text, page.main_content))
    if page.title:
        scores.title.append(word_f1(title or "", page.title) >= TITLE_MATCH)
    if page.author:
        scores.author.append(set(tokens(page.author)) <= set(tokens(author or "")))
    if page.date:
        scores.date.append((date or "")[:10] == page.date[:10])


def ours(page: LabelledPage) -> tuple[str, str | None, str | None, str | None]:
    job = PageJob(source="bench", url=page.url, final_url=page.url, body=page.html,
                  encoding=detect_encoding(page.html, None), fetched_at=datetime.now(UTC))
    art = safe_extract(job)
    if isinstance(art, str):
        return "", None, None, None
    return art.text, art.title, art.author, art.published_at.isoformat() if art.published_at else None


def raw(page: LabelledPage) -> tuple[str, str | None, str | None, str | None]:
    import trafilatura

    out = trafilatura.extract(page.html, url=page.url, with_metadata=True, output_format="json")
    if not out:
        return "", None, None, None
    doc = json.loads(out)
    return doc.get("text") or "", doc.get("title"), doc.get("author"), doc.get("date")


def evaluate(pages: list[LabelledPage]) -> dict[str, dict[str, float]]:
    result = {}
    for name, fn in (("balkanwatch", ours), ("trafilatura.extract", raw)):
        scores = Scores([], [], [], [])
        for page in pages:
            _score(scores, page, *fn(page))
        result[name] = scores.summary()
    return result


def shingle_counts(pred: str, truth: str, n: int = SHINGLE) -> tuple[float, float, float]:
    """One page as issue #17's held-out pages are scored (the article-extraction-benchmark's rule, written
    from its description): the multisets of word n-grams (`\\w+` tokens, case kept; a text shorter than n
    words is one shingle) of prediction and truth give (true positives, false positives, false negatives),
    divided by their sum so that every page weighs the same."""
    def grams(text: str) -> Counter[tuple[str, ...]]:
        words = _WORD.findall(text or "")
        return Counter(tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1)) if words[i:i + n])

    p, t = grams(pred), grams(truth)
    tp = float(sum((p & t).values()))
    fp, fn = float(sum((p - t).values())), float(sum((t - p).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def page_precision_recall(tp: float, fp: float, fn: float) -> tuple[float, float]:
    """One page's (precision, recall) from its `shingle_counts`, as `shingle_f1` averages them: a page with
    neither false positives nor false negatives scores 1 on both."""
    if fp == fn == 0:
        return 1.0, 1.0
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def shingle_f1(pages: list[tuple[float, float, float]]) -> dict[str, float]:
    """Precision averaged over pages with a prediction, recall over pages with a truth
    (`page_precision_recall` each), F1 their harmonic mean: the benchmark's figure."""
    precision = [page_precision_recall(*c)[0] for c in pages if c[0] + c[1] > 0]
    recall = [page_precision_recall(*c)[1] for c in pages if c[0] + c[2] > 0]
    p = sum(precision) / len(precision) if precision else 0.0
    r = sum(recall) / len(recall) if recall else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
