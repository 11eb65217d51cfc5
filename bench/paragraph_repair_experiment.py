"""Experiment (issue #17, session 19, not in `make bench`): repairing the chosen text paragraph by paragraph.

The chooser keeps one candidate's whole text. Where other extractors ran on the page, their texts could also
vote on single paragraphs: drop a short paragraph of the kept text that no other candidate has (chrome the
kept extractor let through), add a paragraph that several others have and the kept text lacks (article text
it dropped). On the 710 WCXB dev pages (the chooser's cache, `python -m bench.extraction_chooser` fills it),
every rule of a grid over

- drop: a paragraph of at most `max_words` words whose best shingle coverage by another candidate is below
  `tau`, on pages with at least `min_others` other candidates (1: resiliparse alone counts; 4: pages that
  bought opinions; 99: never);
- add: a paragraph of at least `min_add_words` words, from another candidate, under 20 % covered by the
  kept text, that at least `add_votes` other candidates cover at 80 % or more (0: never), on pages that
  bought opinions;

is scored by word F1 (WCXB's) and chosen by 5-fold cross-validation (page i in fold i mod 5).

Run: `python -m bench.paragraph_repair_experiment` (~6 min). Result (docs/design.md, "Extractor agreement",
session 19): no rule beats leaving the text alone, in-sample or in any fold.
"""

from __future__ import annotations

import itertools
from statistics import mean

import numpy as np

from balkanwatch import chooser
from balkanwatch.textclean import paragraphs, token_f1
from bench import extraction_chooser as ec
from bench.data import extraction_dev

Rule = tuple[float, int, int, int, int]   # (tau, max_words, min_others, add_votes, min_add_words)


def _cover(s: frozenset[str], other: frozenset[str]) -> float:
    """The share of s's shingles that `other` has."""
    return len(s & other) / len(s) if s else 0.0


class Page:
    """One dev page: the chooser's text split into paragraphs, each with its coverage by the other candidates
    that ran, and the other candidates' paragraphs the kept text lacks."""

    def __init__(self, case: ec.PageCase) -> None:
        choice = ec.run_chooser(case, chooser.DEFAULT)
        others = [case.texts[n] for n in choice.ran if n != choice.chosen and case.texts.get(n)]
        sets = [chooser.shingles(t) for t in others]
        self.truth, self.others = case.truth, len(others)
        self.kept = [(p, len(chooser.words(p)), [_cover(chooser.shingles(p), o) for o in sets])
                     for p in paragraphs(choice.text)]
        text_set = chooser.shingles(choice.text)
        self.missing: dict[str, tuple[int, list[float]]] = {}
        for other in others:
            for p in paragraphs(other):
                s = chooser.shingles(p)
                if len(s) >= 3 and _cover(s, text_set) <= 0.2:
                    self.missing[p] = (len(chooser.words(p)), [_cover(s, o) for o in sets])

    def f1(self, rule: Rule) -> float:
        tau, max_words, min_others, add_votes, min_add_words = rule
        keep = [p for p, n, covs in self.kept
                if not (self.others >= min_others and n <= max_words and max(covs, default=0.0) < tau)]
        if add_votes and self.others >= 3:
            keep += [p for p, (n, covs) in self.missing.items()
                     if n >= min_add_words and sum(c >= 0.8 for c in covs) >= add_votes]
        return token_f1("\n".join(keep), self.truth)


def rules() -> list[Rule]:
    grid = itertools.product((0.05, 0.2, 0.4, 0.6), (5, 10, 20, 40, 10**9), (1, 4, 99), (0, 2, 3, 4), (5, 15, 30))
    # redundant points out: "never drop" needs one tau, "never add" one length
    return [g for g in grid if not (g[2] == 99 and g[0] != 0.05) and not (g[3] == 0 and g[4] != 5)]


def main() -> None:
    pages = [Page(c) for c in ec.cases(extraction_dev())]
    grid = rules()
    scores = np.array([[p.f1(r) for r in grid] for p in pages])
    untouched = grid.index((0.05, 5, 99, 0, 5))
    print(f"{len(pages)} pages, {len(grid)} rules; the chooser's text untouched: {mean(scores[:, untouched]):.4f}")
    best = int(scores.mean(0).argmax())
    print(f"in-sample best {scores[:, best].mean():.4f} {grid[best]}")
    folds = np.arange(len(pages)) % 5
    held = []
    for f in range(5):
        chosen = int(scores[folds != f].mean(0).argmax())
        held.append(scores[folds == f, chosen].mean())
        print(f"fold {f}: {grid[chosen]} {held[-1]:.4f} (untouched {scores[folds == f, untouched].mean():.4f})")
    print(f"CV {mean(held):.4f}")


if __name__ == "__main__":
    main()
