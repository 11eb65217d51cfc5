"""Experiment (issue #17, not in `make bench`): the chooser's thresholds chosen on the held-out target's metric.

The chooser's grid search (bench/extraction_chooser.py) picks its thresholds on WCXB's word F1, while issue
#17 scores its held-out pages on word 4-gram shingles (`bench.extraction.shingle_f1`: case kept, precision
averaged over pages with a prediction, recall over pages with a truth). This runs the same search, the same
grid and the same 5-fold CV over the file order and `SHUFFLES` shuffled orders, once selecting on word F1
(today) and once on shingle F1, and scores both selections on both metrics (held-out folds only).

Run: `python -m bench.shingle_selection_experiment` (~3 min once the chooser's cache exists).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from statistics import mean
from typing import Any

import numpy as np

from balkanwatch import chooser
from bench import extraction_chooser as ec
from bench.data import extraction_dev
from bench.extraction import page_precision_recall, shingle_counts, shingle_f1


@dataclass(frozen=True)
class Scored:
    """A page's per-outcome precision and recall on shingles, for the vectorised search."""

    kept: tuple[float, float]                      # (precision, recall) keeping trafilatura's text
    medoid: dict[ec.Margins, tuple[float, float]]  # the same for the medoid, per pair of margins
    pred: bool                                     # the chooser gives a text (trafilatura found one)
    truth: bool                                    # the page's truth has words (recall is averaged over these)


def _pr(pred: str, truth: str) -> tuple[float, float]:
    return page_precision_recall(*shingle_counts(pred, truth))


def scored(c: ec.PageCase) -> Scored:
    texts = [c.texts[n] for n in ec.CHOOSER_POOL]
    split = [chooser.words(t) for t in texts]
    sets, lengths = [chooser.shingles_of(ws) for ws in split], [len(ws) for ws in split]
    ranked = chooser._ranked(sets)
    prs = [_pr(t, c.truth) for t in texts]
    return Scored(prs[0], {m: prs[chooser._keep_or_switch(ranked, lengths, *m)] for m in ec.margin_pairs()},
                  bool(c.texts["trafilatura"]), sum(shingle_counts("", c.truth)) > 0)


def means(cs: list[ec.PageCase], sc: list[Scored], params: list[chooser.Params]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(word F1, shingle F1, extractors run) of every grid point over `cs`, as ec._means gives word F1."""
    word, runs = ec._means(cs, params)
    live = np.array([s.pred for s in sc])
    pairs = sorted({(p.medoid_margin, p.shorter_margin) for p in params})
    at = {pair: j for j, pair in enumerate(pairs)}
    kept = np.array([s.kept for s in sc])                           # (n, 2)
    med = np.array([[s.medoid[pair] for s in sc] for pair in pairs])  # (pairs, n, 2)
    has_truth = np.array([s.truth for s in sc])
    n_pred, n_truth = max(1, int(live.sum())), max(1, int(has_truth.sum()))
    out: dict[tuple[Any, ...], np.ndarray] = {}
    for key, buy, stop in ec.outcomes_by_test(cs, params, live):
        both = np.where((buy & ~stop)[None, :, None], med, kept[None, :, :])    # (pairs, n, 2)
        p = (both[:, :, 0] * live).sum(axis=1) / n_pred                 # precision over pages with a text
        r = (both[:, :, 1] * has_truth).sum(axis=1) / n_truth           # recall over pages with a truth
        out[key] = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
    shingle = np.array([out[(*p[:4], p.confirm_agreement)][at[(p.medoid_margin, p.shorter_margin)]]
                        for p in params])
    return word, shingle, runs


def cv(cs: list[ec.PageCase], sc: list[Scored], params: list[chooser.Params], metric: str) -> dict[str, Any]:
    word_f1, counts, chosen = [], [], []
    for k in range(ec.FOLDS):
        train = [i for i in range(len(cs)) if i % ec.FOLDS != k]
        word, shingle, runs = means([cs[i] for i in train], [sc[i] for i in train], params)
        p = params[ec._pick(word if metric == "word" else shingle, runs)]
        chosen.append(p)
        for i in range(len(cs)):
            if i % ec.FOLDS == k:
                choice = ec.run_chooser(cs[i], p)
                word_f1.append(ec.token_f1(choice.text, cs[i].truth))
                counts.append(shingle_counts(choice.text, cs[i].truth))
    return {"word": mean(word_f1), "shingle": shingle_f1(counts)["f1"], "chosen": chosen}


def main() -> None:
    pages = extraction_dev()
    cs = ec.cases(pages)
    sc = [scored(c) for c in cs]
    params = ec.grid()
    # the vectorised shingle figure is the real scorer's on the chooser's own output (checked on one point)
    word, shingle, runs = means(cs, sc, params)
    i = params.index(chooser.DEFAULT)
    direct = shingle_f1([shingle_counts(ec.run_chooser(c, chooser.DEFAULT).text, c.truth) for c in cs])["f1"]
    assert abs(direct - shingle[i]) < 1e-9, (direct, shingle[i])
    print(f"in-sample, shipped constants: word {word[i]:.4f} shingle {shingle[i]:.4f}")
    for metric in ("word", "shingle"):
        j = ec._pick(word if metric == "word" else shingle, runs)
        print(f"all pages, selected on {metric}: {params[j]} word {word[j]:.4f} shingle {shingle[j]:.4f} "
              f"runs {runs[j]:.2f}")
    results: dict[str, list[dict[str, Any]]] = {"word": [], "shingle": []}
    for seed in range(-1, ec.SHUFFLES):
        order = list(range(len(cs)))
        if seed >= 0:
            random.Random(seed).shuffle(order)
        for metric in results:
            r = cv([cs[k] for k in order], [sc[k] for k in order], params, metric)
            results[metric].append(r)
            print(f"order {seed:>2} selected on {metric:>7}: CV word {r['word']:.4f} shingle {r['shingle']:.4f}")
    for metric, rs in results.items():
        chosen = Counter(p for r in rs for p in r["chosen"])
        print(f"selected on {metric}: mean CV word {mean(r['word'] for r in rs):.4f} "
              f"shingle {mean(r['shingle'] for r in rs):.4f} (sd {np.std([r['shingle'] for r in rs], ddof=1):.4f})")
        for p, n in chosen.most_common(4):
            print(f"   {n:>2}x {p}")


if __name__ == "__main__":
    main()
