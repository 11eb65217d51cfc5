"""SHORT_LINE and RUNNING_SHARE of `connectors/pdf.py`, chosen by cross-validation on documents with known
paragraphs (not on any real PDF we would then read).

`python -m bench.pdf_paragraphs_cv [DOCS]`: real article texts (the ground truth of `../shared/data/
extraction-dev`, CC-BY-4.0: paragraphs as their authors wrote them) laid out as a PDF's text extraction gives
them: each paragraph wrapped greedily at a line width in Helvetica's character widths (pt at 11 pt; a
document's text width drawn from 380-500 pt, two-column reports to wide memos), 40-50 lines a page, with
running lines: a header on every page, on every page but the first, or on every other page (letterheads,
odd/even headers), a footer with the page number ("Page 3 of 7", "- 3 -", "3") on every page, and now and
then a body line that recurs on two pages (a repeated "Thank you." or a heading). The decisions scored:

- paragraph breaks: F1 of the break positions (between which words a paragraph ends) against the truth;
- running lines: how many header/footer lines stay in the text, and how many body lines are dropped.

Five folds over documents: on four, the setting with the best mean of break F1 and running-line accuracy is
picked; it is scored on the fifth. Printed: the CV score of that choice, the shipped setting's score on all
documents, and the grid.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from statistics import mean

import connectors.pdf as pdf
from bench.data import shared_dir

SHORTS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
SHARES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
FOLDS = 5

# Helvetica advance widths (1/1000 em) for the common characters; others count as an average lower-case letter.
_NARROW = dict.fromkeys("ijl'.,;:!|", 250) | dict.fromkeys("ftrI ()-[]", 320)
_WIDE = dict.fromkeys("mwMW", 870) | dict.fromkeys("ABCDEFGHKNOPQRSTUVXYZ", 680) | dict.fromkeys("0123456789", 556)
_HEADERS = ("Ministry of Foreign Affairs", "PRESS RELEASE", "Office of the Prime Minister — Press Office",
            "NATO Kosovo Force (KFOR) Public Affairs Office", "Statement by the Spokesperson",
            "European Union Rule of Law Mission", "OSCE Mission in Kosovo")


def _width(text: str) -> float:
    return sum(_NARROW.get(c, _WIDE.get(c, 530)) for c in text) * 11 / 1000


def _wrap(paragraph: str, width: float) -> list[str]:
    lines, current = [], ""
    for word in paragraph.split():
        trial = f"{current} {word}" if current else word
        if current and _width(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines


@dataclass
class Doc:
    pages: list[str]              # each page's lines as pypdf gives them
    paragraphs: list[str]         # the truth
    running: set[str]             # the lines that are headers/footers


def _document(text: str, rng: random.Random) -> Doc:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n+", text) if p.split()]
    width = rng.uniform(380, 500)
    per_page = rng.randint(40, 50)
    wrapped = [_wrap(p, width) for p in paragraphs]
    pages_needed = -(-sum(map(len, wrapped)) // per_page)
    if pages_needed >= 3 and rng.random() < 0.5:
        # a pull quote: a short sentence of the text set again as a line of its own, twice (body, not chrome)
        sentences = [x for x in re.split(r"(?<=[.!?])\s+", text) if 4 <= len(x.split()) <= 9 and _width(x) < width]
        if sentences:
            quote = " ".join(rng.choice(sentences).split())
            for at in sorted(rng.sample(range(1, len(paragraphs)), k=min(2, len(paragraphs) - 1)), reverse=True):
                paragraphs.insert(at, quote)
                wrapped.insert(at, [quote])
    body = [line for lines in wrapped for line in lines]
    chunks = [body[i:i + per_page] for i in range(0, len(body), per_page)] or [[]]
    n = len(chunks)
    header = rng.choice(_HEADERS)
    mode = rng.choice(("every", "not-first", "alternate"))
    footer = rng.choice(("Page {k} of {n}", "- {k} -", "{k}"))
    pages, running = [], set()
    for k, chunk in enumerate(chunks, start=1):
        lines = list(chunk)
        if mode == "every" or (mode == "not-first" and k > 1) or (mode == "alternate" and k % 2 == 0):
            lines.insert(0, header)
            running.add(header)
        lines.append(footer.format(k=k, n=n))
        pages.append("\n".join(lines))
    return Doc(pages, paragraphs, running if n >= 2 else set())


def _breaks(paragraphs: list[str]) -> Counter[tuple[str, ...]]:
    """Each paragraph break as the three words before it and the three after (a multiset): a break found is
    the same break whatever text went missing or stayed in elsewhere (word positions would shift them all)."""
    words: list[str] = []
    ends = []
    for p in paragraphs:
        words += p.split()
        ends.append(len(words))
    return Counter(tuple(words[max(0, e - 3):e + 3]) for e in ends[:-1])


def score(doc: Doc, short: float, share: float) -> tuple[float, float]:
    """(break F1, running-line accuracy) of pdf_paragraphs at these constants on one document."""
    got = pdf.pdf_paragraphs(doc.pages, short_line=short, running_share=share).split("\n")
    # running lines: a header kept is an error per page it stays on; a body line dropped is an error
    kept_running = sum(1 for line in got for r in doc.running if r in line)
    truth_words = sum(len(p.split()) for p in doc.paragraphs)
    running_words = sum(len(r.split()) for r in doc.running) * kept_running
    got_words = sum(len(p.split()) for p in got)
    dropped = max(0, truth_words + running_words - got_words)   # body words lost
    pages = len(doc.pages)
    running_ok = 1.0 - min(1.0, (kept_running + dropped / 10) / max(pages, 1))
    for r in doc.running:   # breaks are compared on the body: a header left in is counted above, not twice
        got = [" ".join(p.replace(r, " ").split()) for p in got]
    b_true, b_got = _breaks(doc.paragraphs), _breaks([p for p in got if p.strip()])
    n_true, n_got = sum(b_true.values()), sum(b_got.values())
    if not n_true and not n_got:
        return 1.0, running_ok
    f1 = 2 * sum((b_true & b_got).values()) / (n_true + n_got)
    return f1, running_ok


def documents(limit: int | None = None) -> list[Doc]:
    rng = random.Random(2026)
    files = sorted((shared_dir() / "data" / "extraction-dev" / "ground-truth").glob("*.json"))[:limit]
    docs = []
    for f in files:
        text = json.loads(f.read_text(encoding="utf-8"))["ground_truth"].get("main_content") or ""
        if len(text.split()) >= 80:
            docs.append(_document(text, rng))
    return docs


def evaluate(limit: int | None = None) -> dict[str, object]:
    docs = documents(limit)
    grid = {(s, r): [score(d, s, r) for d in docs] for s in SHORTS for r in SHARES}

    def value(scores: list[tuple[float, float]], idx: list[int]) -> float:
        return mean((scores[i][0] + scores[i][1]) / 2 for i in idx)

    order = list(range(len(docs)))
    random.Random(7).shuffle(order)
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    cv, picks = [], []
    for k in range(FOLDS):
        train = [i for j, f in enumerate(folds) if j != k for i in f]
        best = max(grid, key=lambda st: value(grid[st], train))
        picks.append(best)
        cv.append(value(grid[best], folds[k]))
    everything = list(range(len(docs)))
    shipped = (pdf.SHORT_LINE, pdf.RUNNING_SHARE)
    rows = [{"short_line": s, "running_share": r, "break_f1": round(mean(x[0] for x in grid[(s, r)]), 4),
             "running_ok": round(mean(x[1] for x in grid[(s, r)]), 4), "both": round(value(grid[(s, r)], everything), 4)}
            for s, r in grid]
    return {"documents": len(docs), "cv": round(mean(cv), 4), "picks": picks,
            "shipped": shipped, "shipped_all": round(value(grid[shipped], everything), 4),
            "best_all": max(rows, key=lambda r: r["both"]), "grid": rows}


SHIPPED_SLACK = 0.02   # the shipped setting's mean may trail the cross-validated choice's by this much (make bench)


def checks(out: dict[str, object]) -> list[tuple[str, bool]]:
    shipped, cv = float(str(out["shipped_all"])), float(str(out["cv"]))
    return [(f"PDF paragraphs (SHORT_LINE {pdf.SHORT_LINE}, RUNNING_SHARE {pdf.RUNNING_SHARE}): mean of break F1 and "
             f"running lines right {shipped:.4f}, within {SHIPPED_SLACK} of the cross-validated choice's {cv:.4f}",
             shipped >= cv - SHIPPED_SLACK)]


def render(out: dict[str, object]) -> list[str]:
    best = out["best_all"]
    assert isinstance(best, dict)
    return ["### PDF paragraphs and running lines (`bench/pdf_paragraphs_cv.py`)", "",
            f"{out['documents']} WCXB dev texts laid out as PDF text (Helvetica widths, 380-500 pt, 40-50 lines a page, "
            "running headers every page / not the first / every other, page-number footers, pull quotes set twice); "
            f"five folds over documents. Cross-validated choice: {out['cv']:.4f} (picked {out['picks']}); best on all "
            f"documents SHORT_LINE {best['short_line']}, RUNNING_SHARE {best['running_share']} ({best['both']}); "
            f"shipped {out['shipped']}: {out['shipped_all']:.4f}.", ""]


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else None
    out = evaluate(limit)
    grid = out.pop("grid")
    print(json.dumps(out, indent=1, default=str))
    print("| short_line | running_share | break F1 | running lines right | mean |")
    print("|---|---|---|---|---|")
    for r in grid:  # type: ignore[attr-defined]
        print(f"| {r['short_line']} | {r['running_share']} | {r['break_f1']} | {r['running_ok']} | {r['both']} |")


if __name__ == "__main__":
    main()
