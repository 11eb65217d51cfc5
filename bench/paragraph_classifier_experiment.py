"""Experiment (issue #17, session 27, not in `make bench`): a learned paragraph filter on the shipped text.

    .venv/bin/python -m bench.paragraph_classifier_experiment      (~2 min on two cores)

Session 26 found that lost precision costs the shipped text more than lost recall (0.070 against 0.044 of
mean shingle score on the dev pages), most of it short paragraphs in the middle of pages. Session 19's
paragraph votes between extractors (bench/paragraph_repair_experiment.py) found no rule. This asks whether a
model that also sees the page's structure can tell those paragraphs from the article's:

- every paragraph of the product's text of every WCXB dev page (`safe_extract`, chooser on) gets features
  from its text (words, cover by resiliparse's text, whether it is a link's text, cover by link texts,
  closing punctuation, position, capitalised and numeric words, its neighbours' length, the page's length)
  and from the element that holds it in the page (found by its folded text: whether found, inside the
  block that holds most of the text, an ancestor's class or id naming chrome, link density, heading, <p>,
  depth, inside li / figure / figcaption / aside / footer / header / nav / table / form / blockquote / pre);
- its label: the share of its words covered by a word 4-gram of the truth (the held-out target's scoring,
  `bench.extraction.shingle_counts`), chrome below `CHROME`;
- a logistic regression (standardised features, L2) in 5 folds over pages (page i in fold i mod 5); a
  fold's drop threshold is the one with the best shingle F1 on the other folds' pages; a page keeps its text
  when dropping would leave less than MIN_TEXT_CHARS.

Printed: the held-out folds' shingle F1 against the text as shipped, the AUC of the held-out predictions,
and two ceilings no model reaches (dropping exactly the chrome paragraphs; adding exactly the resiliparse
paragraphs that are article text and missing). Result (docs/design.md, "Extractor agreement", session 27):
no gain worth a model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from balkanwatch.textclean import paragraphs
from balkanwatch.textnorm import fold
from bench.data import LabelledPage, extraction_dev
from bench.extraction import ours, shingle_counts, shingle_f1
from connectors.charset import detect_encoding
from connectors.extract import MIN_TEXT_CHARS, link_texts, parse_html
from connectors.extractors import opinion

CHROME = 0.5         # a paragraph less than half covered by the truth's 4-grams is chrome
FOLDS = 5
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)   # 1.01: drop nothing
L2 = 1.0
_WORD = re.compile(r"\w+")
_CHROME_NAME = re.compile(r"caption|related|share|social|promo|footer|nav|sidebar|widget|\bad|advert|newsletter|"
                          r"comment|author|bio|tag|meta|byline|credit|breadcrumb|menu|subscribe|recommend|more|"
                          r"popular|trending|cookie|disclaimer", re.IGNORECASE)
ZONES = ("li", "figure", "figcaption", "aside", "footer", "header", "nav", "table", "form", "blockquote", "pre")


def _grams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1)) if words[i:i + n]]


def _labels(ps: list[str], truth: str) -> list[float]:
    """Each paragraph's share of words inside a 4-gram (across paragraph ends, as the text is scored) that
    the truth has."""
    truth_grams = set(_grams(_WORD.findall(truth), 4))
    words: list[str] = []
    owner: list[int] = []
    for i, p in enumerate(ps):
        for w in _WORD.findall(p):
            words.append(w)
            owner.append(i)
    covered = [0] * len(words)
    for k in range(max(1, len(words) - 3)):
        if tuple(words[k:k + 4]) in truth_grams:
            covered[k:k + 4] = [1] * len(covered[k:k + 4])
    total, hit = Counter(owner), Counter[int]()
    for k, i in enumerate(owner):
        hit[i] += covered[k]
    return [hit[i] / total[i] if total[i] else 1.0 for i in range(len(ps))]


def _text_features(ps: list[str], resiliparse: str, links: set[str]) -> list[list[float]]:
    res3 = set(_grams([w.lower() for w in _WORD.findall(resiliparse)], 3))
    link3 = {g for text in links for g in _grams(text.split(), 3)}
    sizes = [len(_WORD.findall(p)) for p in ps]
    total = sum(sizes)
    out = []
    for i, p in enumerate(ps):
        ws = _WORD.findall(p)
        g3 = _grams([w.lower() for w in ws], 3)
        folded = fold(p)
        f3 = _grams(folded.split(), 3)
        near = [sizes[j] for j in (i - 1, i + 1) if 0 <= j < len(ps)]
        out.append([math.log1p(len(ws)),
                    sum(g in res3 for g in g3) / len(g3) if g3 else 0.0,
                    float(folded in links),
                    sum(g in link3 for g in f3) / len(f3) if f3 else 0.0,
                    float(p.rstrip()[-1:] in '.!?…"”’)»:;'),
                    i / max(1, len(ps) - 1),
                    sum(w[:1].isupper() for w in ws) / max(1, len(ws)),
                    sum(w.isdigit() for w in ws) / max(1, len(ws)),
                    math.log1p(sum(near) / len(near) if near else 0.0),
                    math.log1p(total)])
    return out


def _dom_features(ps: list[str], tree: Any) -> list[list[float]]:
    by_text: dict[str, Any] = {}
    for el in tree.iter():
        if isinstance(el.tag, str) and el.tag not in ("script", "style"):
            text = fold(el.text_content())
            if text and len(text) < 5000:
                by_text.setdefault(text, el)
    found = [by_text.get(fold(p)) for p in ps]
    chars: Counter[Any] = Counter()
    total = 0
    for p, el in zip(ps, found, strict=True):
        if el is not None:
            total += len(p)
            for anc in el.iterancestors():
                chars[anc] += len(p)
    holders = [a for a, c in chars.items() if c >= 0.6 * total] if total else []
    main = max(holders, key=lambda a: sum(1 for _ in a.iterancestors())) if holders else None
    out = []
    for el in found:
        if el is None:
            out.append([0.0] * (7 + len(ZONES)))
            continue
        line = [el, *el.iterancestors()]
        tags = {a.tag for a in line if isinstance(a.tag, str)}
        named = any(_CHROME_NAME.search(f"{a.get('class') or ''} {a.get('id') or ''}") for a in line[:6])
        text_len = len(el.text_content()) or 1
        link_len = sum(len(a.text_content()) for a in el.iter("a"))
        out.append([1.0, float(main is not None and any(a is main for a in line)), float(named),
                    link_len / text_len, float(el.tag in ("h1", "h2", "h3", "h4", "h5", "h6")),
                    float(el.tag == "p"), float(len(line))] + [float(z in tags) for z in ZONES])
    return out


def page_rows(page: LabelledPage) -> dict[str, Any]:
    """One page: the product's text in paragraphs, their features and labels, resiliparse's text."""
    text = ours(page)[0]
    html = page.html.decode(detect_encoding(page.html, None), errors="replace")
    resiliparse = opinion("resiliparse", html, page.url)
    ps = paragraphs(text)
    features: list[list[float]] = []
    if ps:
        tree = parse_html(html, page.url)
        features = [t + d for t, d in zip(_text_features(ps, resiliparse, link_texts(tree)),
                                          _dom_features(ps, tree), strict=True)]
    return {"text": text, "truth": page.main_content, "paragraphs": ps, "features": features,
            "labels": _labels(ps, page.main_content), "resiliparse": resiliparse}


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> Any:
    """Logistic regression by Newton steps on standardised features; returns x -> P(chrome)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    beta = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ beta))
        step = np.linalg.solve((z * (p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(beta)),
                               z.T @ (p - y) + l2 * beta)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return lambda new: 1 / (1 + np.exp(-np.hstack([np.ones((len(new), 1)), (new - mu) / sd]) @ beta))


def _counts(row: dict[str, Any], keep: list[bool]) -> tuple[float, float, float]:
    kept = "\n".join(p for p, k in zip(row["paragraphs"], keep, strict=True) if k)
    return shingle_counts(kept if len(kept) >= MIN_TEXT_CHARS else row["text"], row["truth"])


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    ranks = np.empty(len(p))
    ranks[np.argsort(p)] = np.arange(1, len(p) + 1)
    pos = y.sum()
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos)))


def cross_validate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out shingle F1 of the learned drop, each fold's threshold chosen on the other folds."""
    held: dict[int, tuple[float, float, float]] = {}
    predicted: dict[int, np.ndarray] = {}
    chosen = []
    for f in range(FOLDS):
        train = [i for i, r in enumerate(rows) if i % FOLDS != f and r["paragraphs"]]
        model = fit(np.vstack([np.array(rows[i]["features"]) for i in train]),
                    np.concatenate([np.array(rows[i]["labels"]) < CHROME for i in train]).astype(float))
        probs = {i: model(np.array(r["features"])) for i, r in enumerate(rows) if r["paragraphs"]}

        def f1_at(t: float, pages: list[int], probs: dict[int, np.ndarray] = probs) -> float:
            return shingle_f1([_counts(rows[i], list(probs[i] < t)) if i in probs
                               else shingle_counts(rows[i]["text"], rows[i]["truth"]) for i in pages])["f1"]

        best = max(THRESHOLDS, key=lambda t: (f1_at(t, train), t))
        chosen.append(best)
        for i, r in enumerate(rows):
            if i % FOLDS == f:
                held[i] = _counts(r, list(probs[i] < best)) if i in probs else shingle_counts(r["text"], r["truth"])
                if i in probs:
                    predicted[i] = probs[i]
    y = np.concatenate([np.array(rows[i]["labels"]) < CHROME for i in sorted(predicted)])
    return {"f1": shingle_f1([held[i] for i in range(len(rows))]), "thresholds": chosen,
            "auc": _auc(y, np.concatenate([predicted[i] for i in sorted(predicted)]))}


def ceilings(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Shingle F1 with exactly the chrome paragraphs dropped, and with exactly the missing article paragraphs
    of resiliparse added (neither is reachable: both read the truth)."""
    from balkanwatch.chooser import shingles

    dropped, added = [], []
    for r in rows:
        dropped.append(_counts(r, [lab >= CHROME for lab in r["labels"]]) if r["paragraphs"]
                       else shingle_counts(r["text"], r["truth"]))
        have, truth = shingles(r["text"]), set(_grams(_WORD.findall(r["truth"]), 4))
        extra = []
        for p in paragraphs(r["resiliparse"]):
            s, g = shingles(p), _grams(_WORD.findall(p), 4)
            if s and len(s & have) / len(s) < 0.2 and sum(x in truth for x in g) / len(g) >= CHROME:
                extra.append(p)
        added.append(shingle_counts("\n".join([r["text"], *extra]), r["truth"]))
    return {"drop exactly the chrome": shingle_f1(dropped), "add exactly the missing article": shingle_f1(added)}


def main() -> None:
    with ProcessPoolExecutor(2) as pool:
        rows = list(pool.map(page_rows, extraction_dev(), chunksize=8))
    shipped = shingle_f1([shingle_counts(r["text"], r["truth"]) for r in rows])
    n = sum(len(r["labels"]) for r in rows)
    chrome = sum(lab < CHROME for r in rows for lab in r["labels"])
    print(f"{len(rows)} pages, {n} paragraphs, {chrome} chrome (< {CHROME} covered)")
    print(f"as shipped: shingle F1 {shipped['f1']:.4f} (precision {shipped['precision']:.4f}, "
          f"recall {shipped['recall']:.4f})")
    for name, score in ceilings(rows).items():
        print(f"ceiling, {name}: {score['f1']:.4f} (precision {score['precision']:.4f}, recall {score['recall']:.4f})")
    cv = cross_validate(rows)
    print(f"learned drop, held-out folds: {cv['f1']['f1']:.4f} (precision {cv['f1']['precision']:.4f}, recall "
          f"{cv['f1']['recall']:.4f}); AUC {cv['auc']:.3f}; thresholds per fold {cv['thresholds']}")


if __name__ == "__main__":
    main()
