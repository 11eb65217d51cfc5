"""How long an exact repeat must be before it is dropped (`textclean.REPEAT_MIN_WORDS`), chosen by
cross-validation on the WCXB dev pages (issue #17: every threshold by folds over pages).

Our trafilatura path's texts (the chooser's cache, `bench.extraction_chooser.candidates`), cleaned with each
candidate minimum: an exact repeat of a paragraph is dropped only when it has at least that many words.
Pages in FOLDS folds (page i in fold i mod FOLDS, then SHUFFLES seeded shuffles); each fold's minimum is the
one with the best shingle F1 on the other folds (the article-extraction-benchmark's scoring, which issue #17's
held-out target uses; WCXB's word F1 moves by less than its noise here: a bag of words barely notices a
dropped table cell, a 4-gram does), the smallest among equals. Reported: held-out shingle and word F1.
`python -m bench.repeats_cv` prints the table; `make bench` reports it.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from balkanwatch.textclean import drop_repeated_paragraphs, paragraphs, token_f1
from bench.data import LabelledPage, extraction_dev
from bench.extraction import shingle_counts, shingle_f1
from bench.extraction_chooser import FOLDS, SHUFFLES, candidates, chosen_per_fold, threshold_cv

GRID = (1, 2, 3, 5, 8, 12, 16, 24, 40, 10**6)   # 1: every repeat dropped (before session 24); 10**6: none


def dedup(text: str, min_words: int) -> str:
    """`text` as the product cleans it with this minimum (`textclean.drop_repeated_paragraphs`)."""
    return "\n".join(drop_repeated_paragraphs(paragraphs(text), min_words)[0])


def _pick(f1: dict[int, float]) -> int:
    """The minimum with the best F1, the smallest among equals."""
    top = max(f1.values())
    return min(w for w in GRID if f1[w] == top)


def evaluate(pages: list[LabelledPage], name: str = "trafilatura") -> dict[str, Any]:
    cands = candidates(pages)
    texts = {w: [dedup(cands[p.file_id]["texts"][name], w) for p in pages] for w in GRID}
    word = {w: [token_f1(t, p.main_content) for t, p in zip(texts[w], pages, strict=True)] for w in GRID}
    shingles = {w: [shingle_counts(t, p.main_content) for t, p in zip(texts[w], pages, strict=True)] for w in GRID}
    cv = threshold_cv(len(pages), word, shingles, _pick)
    return {"pages": len(pages), "grid": {w: (mean(word[w]), shingle_f1(shingles[w])["f1"]) for w in GRID}, **cv}


def render(r: dict[str, Any], shipped: int) -> list[str]:
    def label(w: int) -> str:
        return "never" if w >= 10**6 else str(w)

    rows = [f"| {label(w)}{' (shipped)' if w == shipped else ''}{' (before)' if w == 1 else ''} | {f:.4f} | {s:.4f} |"
            for w, (f, s) in r["grid"].items()]
    return ["## Exact repeats: how long before one is dropped (issue #17)", "",
            f"Our trafilatura path's text on the {r['pages']} WCXB dev pages, later copies of a paragraph dropped only "
            "from a minimum number of words (`bench/repeats_cv.py`). Word F1 (WCXB) and the article-extraction-"
            "benchmark's shingle F1 (word 4-grams, case kept; issue #17's held-out scoring) on all pages:", "",
            "| minimum words | word F1 | shingle F1 |", "|---|---|---|", *rows, "",
            f"Chosen by {FOLDS}-fold cross-validation on shingle F1 (file order and {SHUFFLES} shuffles): held-out "
            f"shingle F1 {r['cv_shingle']:.4f}, word F1 {r['cv_word']:.4f}; {chosen_per_fold(r, label)} "
            "Short repeats are table cells, list items and labels the article has several times; a repeated "
            "paragraph of a sentence or more is a pull quote or a template's double.", ""]


def checks(r: dict[str, Any], shipped: int) -> list[tuple[str, bool]]:
    before_word, before_shingle = r["grid"][1]
    return [(f"repeats: the shipped minimum ({shipped} words) is the one the dev pages choose: {r['all_pages']}",
             r["all_pages"] == shipped),
            (f"repeats: held-out shingle F1 > dropping every repeat (before): {r['cv_shingle']:.4f} vs "
             f"{before_shingle:.4f}", r["cv_shingle"] > before_shingle),
            (f"repeats: held-out word F1 ≥ dropping every repeat − 0.0005: {r['cv_word']:.4f} vs {before_word:.4f}",
             r["cv_word"] >= before_word - 0.0005)]


if __name__ == "__main__":
    from balkanwatch.textclean import REPEAT_MIN_WORDS

    result = evaluate(extraction_dev())
    print("\n".join(render(result, REPEAT_MIN_WORDS)))
    for text, ok in checks(result, REPEAT_MIN_WORDS):
        print(("ok  " if ok else "FAIL") + " " + text)
