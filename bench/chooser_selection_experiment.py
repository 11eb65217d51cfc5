"""Experiment (issue #17, not in `make bench`): better selection rules for the pages where the chooser buys opinions.

The chooser (balkanwatch/chooser.py) keeps trafilatura's text unless resiliparse disagrees with it (or its link
share is high); then it buys readability, boilerpy3 and jusText and keeps the medoid of the five. The per-page
oracle among the five is 0.969 against the chooser's 0.9447 (5-fold CV): the candidates hold the text, the
choosing loses it. This script measures other choosing rules with the same protocol as
bench/extraction_chooser.py (page i in fold i % 5; everything fitted — the buying thresholds from the same grid,
the rule's margin, a model's coefficients — on the other four folds; F1 of the held-out fold; the mean over
the 710 held-out pages), from its cache (`python -m bench.extraction_chooser` fills it).

Where a rule has a fitted model, the model's predictions on the training folds are themselves out-of-fold
(cross-fitted over the four training folds), so that the margin and the buying thresholds are chosen on
predictions the model did not see; the held-out fold is scored with the model fitted on all four.

Run: `python -m bench.chooser_selection_experiment` (~1 min from the cache). Results: docs/design.md,
"Extractor agreement [#17]", session 16.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from statistics import mean, median, pstdev
from typing import Any

import numpy as np

from balkanwatch import chooser
from balkanwatch.textclean import token_f1, word_counts
from bench import extraction_chooser as ec
from bench.data import extraction_dev
from connectors.extract import page_signals, parse_html

POOL = ec.CHOOSER_POOL   # trafilatura, resiliparse, readability, boilerpy3, justext
FOLDS = ec.FOLDS


@dataclass
class Page:
    """One dev page as the selection rules see it."""

    case: ec.PageCase
    f1: np.ndarray          # F1 of each POOL candidate
    agree: np.ndarray       # POOL x POOL shingle Dice
    words: np.ndarray       # word count of each candidate
    link: np.ndarray        # share of each candidate's words that the page has in link text
    live: np.ndarray        # candidate has text


def load() -> list[Page]:
    pages = extraction_dev()
    cs = ec.cases(pages)
    out = []
    for page, c in zip(pages, cs, strict=True):
        texts = [c.texts[n] for n in POOL]
        sets = [chooser.shingles(t) for t in texts]
        agree = np.array([[chooser.overlap(a, b) if i != j else 1.0 for j, b in enumerate(sets)]
                          for i, a in enumerate(sets)])
        tree = parse_html(ec._decode(page), page.url)
        out.append(Page(c, np.array([token_f1(t, c.truth) for t in texts]), agree,
                        np.array([sum(word_counts(t).values()) for t in texts], dtype=float),
                        np.array([page_signals(tree, t, count_visible=False).link_share for t in texts]), np.array([bool(s) for s in sets])))
    return out


# --- selection rules: each gives, for a page and a margin, the index of the candidate kept --------------------

def medoid_scores(p: Page, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean (weighted) agreement of each live candidate with the other live ones; -inf for the empty."""
    w = np.ones(len(POOL)) if weights is None else weights
    s = np.full(len(POOL), -math.inf)
    live = np.flatnonzero(p.live)
    for i in live:
        others = [j for j in live if j != i]
        if others:
            s[i] = sum(w[j] * p.agree[i, j] for j in others) / sum(w[j] for j in others)
    return s


def medoid_pick(p: Page, margin: float, bias: np.ndarray | None = None,
                weights: np.ndarray | None = None) -> int:
    """chooser._medoid_of_sets (plus an optional per-extractor bias and weights)."""
    live = np.flatnonzero(p.live)
    if len(live) <= 2:
        return int(live[0]) if len(live) else 0
    s = medoid_scores(p, weights) + (0 if bias is None else bias)
    best = max(live, key=lambda i: (s[i], -i))
    return 0 if p.live[0] and s[best] - s[0] < margin else int(best)


N_FEATURES = 12


def features(p: Page) -> np.ndarray:
    """One row per candidate (trafilatura's row included, unused): what a scorer may see before choosing."""
    m = medoid_scores(p)
    live = np.flatnonzero(p.live)
    med_words = median(p.words[live]) if len(live) else 1.0
    rows = []
    for i in range(len(POOL)):
        if not p.live[i]:
            rows.append(np.zeros(N_FEATURES))
            continue
        others = [m[j] for j in live if j != i]
        rows.append(np.array([
            m[i], m[i] - m[0], m[i] - (max(others) if others else 0.0),
            p.agree[i, 0], p.agree[i, 1],
            math.log(p.words[i] / med_words), math.log(p.words[i] / max(p.words[0], 1.0)),
            p.link[i], p.link[i] - p.link[0],
            p.agree[0, 1], p.link[0], math.log(max(p.words[0], 1.0) / med_words),
        ]))
    return np.array(rows)


ONE_HOT = len(POOL) - 1   # one column per non-trafilatura extractor


def design(p: Page, feats: np.ndarray, use: list[int], one_hot: bool) -> tuple[np.ndarray, list[int]]:
    """Rows (non-trafilatura live candidates) of the chosen feature columns (+ one-hot extractor)."""
    idx = [i for i in range(1, len(POOL)) if p.live[i]]
    x = feats[idx][:, use] if idx else np.zeros((0, len(use)))
    if one_hot:
        oh = np.zeros((len(idx), ONE_HOT))
        for r, i in enumerate(idx):
            oh[r, i - 1] = 1.0
        x = np.hstack([x, oh])
    return x, idx


@dataclass
class Ridge:
    mu: np.ndarray
    sd: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mu) / self.sd) @ self.coef + self.intercept)


def fit_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> Ridge:
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    coef = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    return Ridge(mu, sd, coef, float(y.mean()))


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float, steps: int = 200) -> Ridge:
    """L2 logistic regression by Newton steps (plain numpy); predict() gives the log-odds."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = lam * np.eye(z.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        q = 1 / (1 + np.exp(-(z @ w)))
        g = z.T @ (q - y) + reg @ w
        h = (z * (q * (1 - q))[:, None]).T @ z + reg + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Ridge(mu, sd, w[:-1], float(w[-1]))


# --- the CV ------------------------------------------------------------------------------------------------

BuyPoints = list[tuple[float, float, float, int]]


def buy_masks(ps: list[Page]) -> tuple[BuyPoints, np.ndarray, np.ndarray]:
    """Every (agreement, coverage, link, paragraphs) point of chooser.GRID: which pages buy (bool matrix) and
    how many extractors each page runs when it does not."""
    g = chooser.GRID
    points = [(a, c, ln, int(n)) for a, c, ln, n in
              product(g["min_agreement"], g["min_coverage"], g["max_link_share"], g["min_paragraphs"])]
    masks = np.zeros((len(points), len(ps)), dtype=bool)
    for k, (a, cov, link, para) in enumerate(points):
        params = chooser.Params(a, cov, link, para, 0.0, 0.0)
        masks[k] = [bool(p.case.texts["trafilatura"]) and
                    chooser.needs_opinions(p.case.agreement, p.case.signals, params) is not None for p in ps]
    base_runs = np.array([2 if p.case.texts["trafilatura"] else 1 for p in ps])
    return points, masks, base_runs


def pick_point(train: np.ndarray, masks: np.ndarray, base_runs: np.ndarray, kept: np.ndarray,
               bought: np.ndarray) -> tuple[int, int]:
    """ec.best on the training pages: (margin row, buy point) of most F1 within F1_TOLERANCE, fewest runs.
    `bought`: margins x pages, F1 when the page buys."""
    best: list[tuple[float, float, int, int]] = []
    for r in range(bought.shape[0]):
        f = np.where(masks[:, train], bought[r, train], kept[train]).mean(axis=1)
        n = np.where(masks[:, train], len(POOL), base_runs[train]).mean(axis=1)
        best += [(float(f[k]), float(n[k]), r, k) for k in range(len(f))]
    top = max(b[0] for b in best)
    _, _, r, k = min((n, -f, r, k) for f, n, r, k in best if f >= top - ec.F1_TOLERANCE)
    return r, k


# A rule: given training page indices, returns a function (page index, margin row) -> candidate F1, and the
# number of margin rows. It may fit on the training pages, but must not look at the held-out ones.
Rule = Callable[[list[Page], np.ndarray], tuple[np.ndarray, np.ndarray]]   # (bought F1 on train, on all)


def run_cv(ps: list[Page], rule: Rule, masks_info: tuple[BuyPoints, np.ndarray, np.ndarray],
           folds: range = range(FOLDS)) -> dict[str, Any]:
    """rule(ps, train) -> (F1 margins x pages to choose thresholds on the training pages, F1 margins x pages
    to score the held-out ones). Thresholds + margin picked on train (pick_point); held-out F1 per fold."""
    points, masks, base_runs = masks_info
    kept = np.array([p.case.f1_kept for p in ps])
    per_fold, held, chosen, bought_share = [], [], [], []
    idx = np.arange(len(ps))
    for k in folds:
        train, test = idx[idx % FOLDS != k], idx[idx % FOLDS == k]
        f_train, f_test = rule(ps, train)
        r, b = pick_point(train, masks, base_runs, kept, f_train)
        f = np.where(masks[b, test], f_test[r, test], kept[test])
        per_fold.append(float(f.mean()))
        held += list(f)
        chosen.append((points[b], r))
        bought_share.append(float(masks[b, test].mean()))
    return {"f1": mean(held), "folds": per_fold, "chosen": chosen, "bought": mean(bought_share)}


def static(pick: Callable[[Page, int], int], rows: int) -> Rule:
    """A rule with nothing to fit but its margin row."""
    def rule(ps: list[Page], train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.array([[p.f1[pick(p, r)] for p in ps] for r in range(rows)])
        return f, f
    return rule


MARGINS = (0.0, 0.02, 0.05)   # session 15's one-margin grid (the rule this experiment started from)
# session 15's constants (the "today" these rules were compared with): where a rule fits on "the pages that buy"
SESSION15 = chooser.Params(0.85, 0.0, 0.3, 0, 0.02, 0.02)


def baseline() -> Rule:
    return static(lambda p, r: medoid_pick(p, MARGINS[r]), len(MARGINS))


def length_rule(ratio: float, direction: str) -> Rule:
    """Medoid, plus: when trafilatura has fewer than `ratio` x the medoid's words ('short'), take the medoid
    whatever the margin; or ('long') keep trafilatura when the medoid has fewer than `ratio` x its words."""
    def pick(p: Page, r: int) -> int:
        i = medoid_pick(p, MARGINS[r])
        j = medoid_pick(p, 0.0)
        if direction == "short" and p.words[0] < ratio * p.words[j]:
            return j
        if direction == "long" and p.words[i] < ratio * p.words[0]:
            return 0
        return i
    return static(pick, len(MARGINS))


LONG_RATIOS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def long_fitted() -> Rule:
    """The 'long' length rule with its ratio (LONG_RATIOS, 0: off) chosen on the training folds with the
    margin and the buying thresholds (rows: ratio x margin)."""
    rows = list(product(LONG_RATIOS, MARGINS))

    def pick(p: Page, r: int) -> int:
        ratio, margin = rows[r]
        i = medoid_pick(p, margin)
        return 0 if p.words[i] < ratio * p.words[0] else i
    return static(pick, len(rows))


ASYM = (0.0, 0.02, 0.05, 0.1, 0.2, math.inf)   # chooser.GRID's two margins (1.01 there: never, as inf)


def asymmetric() -> Rule:
    """Two margins: the medoid must beat trafilatura's mean agreement by the first when it has more words
    than trafilatura, by the second when it has fewer (rows: both from ASYM, chosen on the training folds)."""
    rows = list(product(ASYM, ASYM))

    def pick(p: Page, r: int) -> int:
        longer, shorter = rows[r]
        i = medoid_pick(p, 0.0)
        if i == 0 or not p.live[0]:
            return i
        need = longer if p.words[i] >= p.words[0] else shorter
        s = medoid_scores(p)
        return i if s[i] - s[0] >= need else 0
    return static(pick, len(rows))


def bias_rule(bias_grid: tuple[float, ...]) -> Rule:
    """Medoid with a per-extractor bias added to its mean agreement (trafilatura 0), the biases chosen by
    coordinate search on the training pages that buy under session 15's thresholds (margin then grid-picked)."""
    today = SESSION15

    def rule(ps: list[Page], train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tr = [ps[i] for i in train if ps[i].case.texts["trafilatura"]
              and chooser.needs_opinions(ps[i].case.agreement, ps[i].case.signals, today)]
        bias = np.zeros(len(POOL))
        for _ in range(2):
            for e in range(1, len(POOL)):
                def sc(v: float, e: int = e) -> float:
                    b = bias.copy()
                    b[e] = v
                    return float(sum(p.f1[medoid_pick(p, 0.0, b)] for p in tr))
                bias[e] = max(bias_grid, key=lambda v: (sc(v), -abs(v)))
        f = np.array([[p.f1[medoid_pick(p, m, bias)] for p in ps] for m in MARGINS])
        return f, f
    return rule


def weighted_rule() -> Rule:
    """Medoid where each extractor's vote is weighted by its mean F1 on the training pages that buy (today's
    thresholds): a more reliable extractor's agreement counts more."""
    today = SESSION15

    def rule(ps: list[Page], train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tr = [ps[i] for i in train if ps[i].case.texts["trafilatura"]
              and chooser.needs_opinions(ps[i].case.agreement, ps[i].case.signals, today)]
        w = np.mean([p.f1 for p in tr], axis=0)
        f = np.array([[p.f1[medoid_pick(p, m, None, w)] for p in ps] for m in MARGINS])
        return f, f
    return rule


GAIN_MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1)


def model_rule(use: list[int], one_hot: bool, lam: float, kind: str = "ridge", fit_on: str = "loose",
               fallback_medoid: bool = False) -> Rule:
    """A scorer of each non-trafilatura candidate's gain over trafilatura (ridge: F1 difference; logistic:
    P(gain > 0.02)); the page keeps the best-scored candidate when its score beats GAIN_MARGINS[r]
    (logistic: log-odds above logit(0.5 + margin)), trafilatura otherwise. Fitted on the training pages
    that buy under a loose rule (agreement < 0.95 or link share > 0.2) — more rows than session 15's 20%."""
    def fit_pages(ps: list[Page], rows: np.ndarray) -> list[Page]:
        if fit_on == "today":
            return [ps[i] for i in rows if ps[i].case.texts["trafilatura"]
                    and chooser.needs_opinions(ps[i].case.agreement, ps[i].case.signals, SESSION15)]
        return [ps[i] for i in rows if ps[i].case.texts["trafilatura"]
                and (ps[i].case.agreement < 0.95 or ps[i].case.signals.link_share > 0.2)]

    feats: dict[int, np.ndarray] = {}

    def fit(ps: list[Page], rows: np.ndarray) -> Ridge:
        xs, ys = [], []
        for p in fit_pages(ps, rows):
            x, idx = design(p, feats[id(p)], use, one_hot)
            xs.append(x)
            gain = p.f1[idx] - p.f1[0]
            ys.append(gain if kind == "ridge" else (gain > 0.02).astype(float))
        return (fit_ridge if kind == "ridge" else fit_logistic)(np.vstack(xs), np.concatenate(ys), lam)

    def picks(ps: list[Page], model: Ridge, which: np.ndarray, out: np.ndarray) -> None:
        for i in which:
            p = ps[i]
            x, idx = design(p, feats[id(p)], use, one_hot)
            if not idx:
                out[:, i] = p.f1[0]
                continue
            s = model.predict(x)
            j = int(np.argmax(s))
            for r, m in enumerate(GAIN_MARGINS):
                thr = m if kind == "ridge" else math.log((0.5 + m) / (0.5 - m))
                if s[j] > thr:
                    out[r, i] = p.f1[idx[j]]
                else:
                    out[r, i] = p.f1[medoid_pick(p, 0.02)] if fallback_medoid else p.f1[0]

    def rule(ps: list[Page], train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for p in ps:
            if id(p) not in feats:
                feats[id(p)] = features(p)
        f_train = np.zeros((len(GAIN_MARGINS), len(ps)))
        f_all = np.zeros((len(GAIN_MARGINS), len(ps)))
        inner = sorted({i % FOLDS for i in train})
        for k in inner:   # out-of-fold predictions on the training pages
            sub, rest = train[train % FOLDS != k], train[train % FOLDS == k]
            picks(ps, fit(ps, sub), rest, f_train)
        test = np.setdiff1d(np.arange(len(ps)), train)
        picks(ps, fit(ps, train), test, f_all)
        return f_train, f_all
    return rule


ALL = list(range(N_FEATURES))
AGREE_ONLY = [0, 1, 2, 3, 4]
NO_LINK = [0, 1, 2, 3, 4, 5, 6, 9, 11]


def variants() -> dict[str, Rule]:
    return {
        "medoid, one margin (session 15's rule)": baseline(),
        "medoid; trafilatura < 0.5x medoid's words: take the medoid": length_rule(0.5, "short"),
        "medoid; trafilatura < 0.7x medoid's words: take the medoid": length_rule(0.7, "short"),
        "medoid; medoid < 0.5x trafilatura's words: keep trafilatura": length_rule(0.5, "long"),
        "medoid; medoid < 0.7x trafilatura's words: keep trafilatura": length_rule(0.7, "long"),
        "medoid; 'keep trafilatura' length ratio fitted (0-0.9)": long_fitted(),
        "medoid, two margins: longer / shorter than trafilatura (shipped)": asymmetric(),
        "medoid + per-extractor bias (coordinate search)": bias_rule((-0.05, -0.02, 0.0, 0.02, 0.05)),
        "medoid weighted by training F1": weighted_rule(),
        "ridge gain, all features + one-hot, lambda 10": model_rule(ALL, True, 10.0),
        "ridge gain, all features + one-hot, lambda 100": model_rule(ALL, True, 100.0),
        "ridge gain, agreement features only, lambda 10": model_rule(AGREE_ONLY, False, 10.0),
        "ridge gain, no link features + one-hot, lambda 10": model_rule(NO_LINK, True, 10.0),
        "ridge gain, all + one-hot, lambda 10, fitted on session 15's bought pages": model_rule(ALL, True, 10.0, fit_on="today"),
        "logistic gain>0.02, all features + one-hot, lambda 10": model_rule(ALL, True, 10.0, kind="logistic"),
    }


def report(ps: list[Page], names: list[str] | None = None, folds: range = range(FOLDS)) -> list[str]:
    info = buy_masks(ps)
    lines = ["| rule | CV word F1 | per fold | sd of folds | folds better than session 15's | pages buying |",
             "|---|---|---|---|---|---|"]
    vs = variants()
    base = None
    for name, rule in vs.items():
        if names and name not in names and name != next(iter(vs)):
            continue
        r = run_cv(ps, rule, info, folds)
        base = base or r
        better = sum(a > b + 1e-12 for a, b in zip(r["folds"], base["folds"], strict=True))
        lines.append(f"| {name} | {r['f1']:.4f} | {' '.join(f'{f:.4f}' for f in r['folds'])} | "
                     f"{pstdev(r['folds']):.4f} | {better}/{len(r['folds'])} | {r['bought']:.1%} |")
        print(lines[-1], r["chosen"], flush=True)
    return lines


if __name__ == "__main__":
    ps = load()
    print("oracle", mean(float(p.f1.max()) for p in ps), "trafilatura", mean(p.case.f1_kept for p in ps))
    folds = range(3) if sys.argv[1:] == ["inner"] else range(FOLDS)
    print("\n".join(report(ps, folds=folds)))
