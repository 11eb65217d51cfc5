"""How close to the title a first paragraph must be to be dropped as the headline again
(`textclean.TITLE_LINE_MATCH`), chosen by cross-validation on the WCXB dev pages (issue #17).

The product's text of every page before the step (the chooser's text with the shipped constants, from the
chooser's cache) and the product's title (`extract_html`'s metadata and the page's <h1>, `choose_title`);
each candidate threshold drops a first paragraph whose token F1 with the title reaches it
(`connectors.extract.without_title_line`). Pages in FOLDS folds (page i in fold i mod FOLDS, then SHUFFLES
seeded shuffles); each fold's threshold is the one with the best shingle F1 on the other folds (issue #17's
held-out scoring), the highest among equals (it drops the fewest lines). Reported: held-out shingle and word
F1 against keeping every first line. `python -m bench.title_line_cv` prints it; `make bench` reports it.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from balkanwatch import chooser
from balkanwatch.errors import ExtractionError
from balkanwatch.textclean import paragraphs, token_f1
from bench import extraction_chooser as ec
from bench.data import LabelledPage, extraction_dev
from bench.extraction import shingle_counts, shingle_f1
from connectors.extract import choose_title, extract_html, headings, parse_html, without_title_line

NEVER = 1.01
GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, NEVER)


def _title(page: LabelledPage) -> str | None:
    html = ec._decode(page)
    try:
        return choose_title(extract_html(parse_html(html, page.url), page.url)["title"], headings(html))
    except ExtractionError:   # no article: the product stores nothing for it
        return None


def _pick(f1: dict[float, float]) -> float:
    top = max(f1.values())
    return max(t for t in GRID if f1[t] == top)


def evaluate(pages: list[LabelledPage], cs: list[ec.PageCase] | None = None) -> dict[str, Any]:
    cs = cs if cs is not None else ec.cases(pages)
    before = [ec.run_chooser(c, chooser.DEFAULT).text for c in cs]
    titles = [_title(p) for p in pages]
    texts = {t: [without_title_line(x, paragraphs(x), title, t)[0] if x else x
                 for x, title in zip(before, titles, strict=True)] for t in GRID}
    word = {t: [token_f1(x, p.main_content) for x, p in zip(texts[t], pages, strict=True)] for t in GRID}
    shingles = {t: [shingle_counts(x, p.main_content) for x, p in zip(texts[t], pages, strict=True)] for t in GRID}
    cv = ec.threshold_cv(len(pages), word, shingles, _pick)
    dropped = {t: sum(a != b for a, b in zip(texts[t], before, strict=True)) for t in GRID}
    return {"pages": len(pages), "grid": {t: (mean(word[t]), shingle_f1(shingles[t])["f1"], dropped[t]) for t in GRID},
            **cv}


def _label(t: float) -> str:
    return "never" if t >= NEVER else f"{t:g}"


def render(r: dict[str, Any], shipped: float) -> list[str]:
    rows = [f"| {_label(t)}{' (shipped)' if t == shipped else ''}{' (before)' if t == NEVER else ''} | {n} | "
            f"{f:.4f} | {s:.4f} |" for t, (f, s, n) in r["grid"].items()]
    return ["## A first line that repeats the title (issue #17)", "",
            f"The product's text on the {r['pages']} WCXB dev pages (the chooser's, shipped constants) without a "
            "first paragraph whose token F1 with the product's title reaches a threshold "
            "(`bench/title_line_cv.py`). On all pages:", "",
            "| threshold | pages changed | word F1 | shingle F1 |", "|---|---|---|---|", *rows, "",
            f"Chosen by {ec.FOLDS}-fold cross-validation on shingle F1 (file order and {ec.SHUFFLES} shuffles; the "
            f"highest threshold among equals): held-out shingle F1 {r['cv_shingle']:.4f}, word F1 {r['cv_word']:.4f} "
            f"against {r['grid'][NEVER][1]:.4f} and {r['grid'][NEVER][0]:.4f} keeping every first line; "
            f"{ec.chosen_per_fold(r, _label)}", ""]


def checks(r: dict[str, Any], shipped: float) -> list[tuple[str, bool]]:
    never_word, never_shingle, _ = r["grid"][NEVER]
    return [(f"title line: the shipped threshold ({shipped:g}) is the one the dev pages choose: "
             f"{_label(r['all_pages'])}", r["all_pages"] == shipped),
            (f"title line: held-out shingle F1 > keeping every first line: {r['cv_shingle']:.4f} vs "
             f"{never_shingle:.4f}", r["cv_shingle"] > never_shingle),
            (f"title line: held-out word F1 ≥ keeping every first line: {r['cv_word']:.4f} vs {never_word:.4f}",
             r["cv_word"] >= never_word)]


if __name__ == "__main__":
    from balkanwatch.textclean import TITLE_LINE_MATCH

    result = evaluate(extraction_dev())
    print("\n".join(render(result, TITLE_LINE_MATCH)))
    for text, ok in checks(result, TITLE_LINE_MATCH):
        print(("ok  " if ok else "FAIL") + " " + text)
