"""Rising words: what the news is suddenly about that no watchlist names yet. Pure: counts in, verdicts out.

A watchlist only catches what a desk thought of; a village nobody had heard of until this morning is in
none of them. So every folded word (any script, as watchlists fold: "Banjska", "Бањска" → "banjska") is
counted the way topics are, in unique stories (the origin's title and text, each story once however many
sites carry it), in the window (the last day, by default) and in each window-long block of the baseline
before it (four weeks). A word rises when all of these hold:

- it is in at least `MIN_STORIES` stories of the window, from at least `MIN_SOURCES` sources (one site's
  own tag line, columnist or campaign is not news);
- it is in at least `LIFT` (2) times as many of the window's stories as of any baseline block's, that
  block's count scaled down to the window's volume when the block had more stories (never up: a quiet
  Sunday with two stories does not set a bar of half the window). A word that every Tuesday brings
  ("tuesday", a weekly programme) or that was as big a week ago is not rising today;
- its window count is improbable (Poisson tail below 10^-`SURPRISE`) at the higher of its ordinary share
  (the baseline's pooled share, with `PRIOR_STORIES` for a word never seen) and its busiest block: a
  common word moves by more than Poisson noise from day to day, and its busiest block says by how much.

Ranked by that surprise; words of one event (nearly the same stories, `SAME_STORIES`) are one row
(`group`). `SURPRISE` and `LIFT` were set on synthetic corpora with known truth (bench/rising_eval.py:
a bursty Zipf vocabulary, weekly words, injected new names and rises; docs/design.md), not on real news.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_STORIES = 3        # as alerts.min_stories' default: never on one or two stories
MIN_SOURCES = 2        # carried by two sources at least: one site's repeated name is not a surge
PRIOR_STORIES = 0.5    # a word never seen in the baseline counts as half a story over it
SURPRISE = 5.0         # -log10 of the window count's Poisson tail at max(ordinary rate, busiest block) (bench/rising_eval.py)
LIFT = 2.0             # …and at least this many times its busiest baseline block (bench/rising_eval.py)
MIN_LETTERS = 3        # shorter words (articles, "un", "eu") are not counted at all
SAME_STORIES = 0.8     # words whose stories overlap this much (Jaccard) are one event's words: shown as one row


@dataclass(frozen=True)
class Rising:
    word: str
    stories: int              # stories of the window holding it
    sources: int              # distinct sources of those stories
    baseline_stories: int     # stories of the baseline holding it
    expected: float           # stories the window would hold at its ordinary share
    peak: float               # its busiest baseline block, at the window's volume
    surprise: float           # -log10 P(≥ stories | expected)


def poisson_surprise(k: int, lam: float) -> float:
    """-log10 P(X ≥ k) for X ~ Poisson(lam)."""
    from scipy import special  # what scipy.stats.poisson.logsf computes, without loading scipy.stats (0.5 s)

    if k <= 0:
        return 0.0
    with np.errstate(divide="ignore"):
        log_tail = float(np.log(special.pdtrc(k - 1, max(lam, 1e-12))))
    return max(0.0, -log_tail / math.log(10))


def rising(window: Mapping[str, tuple[int, int]], window_total: int, baseline: Mapping[str, Sequence[int]],
           block_totals: Sequence[int], *, surprise: float = SURPRISE, min_stories: int = MIN_STORIES,
           min_sources: int = MIN_SOURCES, lift: float = LIFT) -> list[Rising]:
    """The rising words, most surprising first. `window`: word → (stories, distinct sources) in the window,
    of `window_total` stories; `baseline`: word → its stories in each baseline block (as `block_totals`,
    the stories of each block; a word missing from it was in none)."""
    if window_total <= 0:
        return []
    total = sum(block_totals)
    out = []
    for word, (k, sources) in window.items():
        if k < min_stories or sources < min_sources:
            continue
        counts = baseline.get(word, ())
        peak = max((c * min(1.0, window_total / n) for c, n in zip(counts, block_totals, strict=False) if n), default=0.0)
        if k <= peak * lift:
            continue
        seen = sum(counts)
        expected = window_total * (seen + PRIOR_STORIES) / (total + 1)
        s = poisson_surprise(k, max(expected, peak))
        if s >= surprise:
            out.append(Rising(word, k, sources, seen, expected, peak, s))
    out.sort(key=lambda r: (-r.surprise, -r.stories, r.word))
    return out


@dataclass(frozen=True)
class RisingGroup:
    """Words that rose in (nearly) the same stories: one event, headed by its most surprising word."""
    head: Rising
    words: tuple[str, ...]    # every word of the group, most surprising first (the head's first)
    stories: frozenset[str]   # the union of their stories


def group(found: Sequence[Rising], stories: Mapping[str, Sequence[str]], overlap: float = SAME_STORIES
          ) -> list[RisingGroup]:
    """`found` (most surprising first) folded into groups: a word joins the first group whose head's stories
    it shares at `overlap` Jaccard or more, else heads a group of its own. An event's words (the village,
    the verb, the weekday of all its reports) make one row instead of a page of them."""
    groups: list[tuple[Rising, set[str], list[str], set[str]]] = []
    for r in found:
        mine = set(stories.get(r.word, ()))
        for _, head_stories, words, union in groups:
            both = len(mine | head_stories)
            if both and len(mine & head_stories) / both >= overlap:
                words.append(r.word)
                union |= mine
                break
        else:
            groups.append((r, mine, [r.word], set(mine)))
    return [RisingGroup(head, tuple(words), frozenset(union)) for head, _, words, union in groups]
