"""Agreement between extractors (issue #17): when to buy more opinions on a page's text, and which text to keep.

Pure: the caller hands in trafilatura's text, cheap signals of the page and a function that runs one more
extractor by name; `choose` decides step by step and returns the text kept with a record of what ran.

    ask FIRST_OPINION (resiliparse, ~3 ms); it agrees with trafilatura and the signals look like an article?
        │yes ─▶ trafilatura's text (no other extractor runs)
        │no
    ask CONFIRMER (boilerpy3, the cheapest of the rest); it agrees with trafilatura by CONFIRM_AGREEMENT?
        │yes ─▶ trafilatura's text (the first opinion was the odd one out)
        │no
    ask the rest of OPINION_ORDER ─▶ the medoid (the candidate agreeing most with the others), unless it
                                     beats trafilatura's own agreement by less than MEDOID_MARGIN, or, when
                                     it has fewer words than trafilatura, by less than SHORTER_MARGIN

Agreement is word-shingle overlap (Dice of the sets of lowercased word SHINGLE_WORDS-grams). Every
threshold below is the grid search's choice on the 710 WCXB dev pages, the same search whose held-out score
5-fold cross-validation reports (bench/extraction_chooser.py; evidence in docs/design.md, "Extractor
agreement [#17]").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

SHINGLE_WORDS = 3   # word 3-grams: 1-, 3- and 5-grams within 0.002 F1 of each other (first 539 dev pages)
# resiliparse first: 3 ms a page (0.12x trafilatura.extract), and its agreement separates good trafilatura
# texts from bad ones as well as readability's (28 ms) does. The rest: the three that, with trafilatura and
# resiliparse, gave the best medoid on the dev pages; newspaper4k and goose3 cost 4x trafilatura each and
# fail together (goose's lineage), so their medoid is worse than trafilatura alone (design.md).
FIRST_OPINION = "resiliparse"
OPINION_ORDER = (FIRST_OPINION, "readability", "boilerpy3", "justext")   # the medoid's candidates, in its order
# Asked first among the rest: boilerpy3 costs about half of trafilatura.extract a page, jusText and readability
# about 0.8x each (bench/report.md); when it sides with trafilatura, the other two rarely move the medoid
# (session 21).
CONFIRMER = "boilerpy3"
ASK_ORDER = (FIRST_OPINION, CONFIRMER, *(n for n in OPINION_ORDER[1:] if n != CONFIRMER))   # cheapest first
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PageSignals:
    """Cheap facts about trafilatura's result on the page, measured from the page's one parse."""

    text_chars: int        # trafilatura's text, characters
    visible_chars: int     # the page's visible text (body text outside script/style), characters; 0: not counted
                           # (counted only for thresholds whose coverage test is on)
    link_share: float      # share of trafilatura's words that the page has inside <a> elements
    paragraphs: int        # trafilatura's paragraphs

    @property
    def coverage(self) -> float:
        """Trafilatura's text against the page's visible text (low: it lost part of it, or the page is chrome)."""
        return self.text_chars / self.visible_chars if self.visible_chars else 0.0


class Params(NamedTuple):
    """The chooser's thresholds (a NamedTuple so that the bench's grid search can build and print them)."""

    min_agreement: float   # trafilatura's overlap with FIRST_OPINION below which more opinions are bought
    min_coverage: float    # trafilatura's share of the page's visible text below which they are bought
    max_link_share: float  # share of trafilatura's words in link text above which they are bought
    min_paragraphs: int    # trafilatura's paragraph count below which they are bought
    medoid_margin: float   # the medoid replaces trafilatura only when its mean agreement is this much higher
    shorter_margin: float  # the same, when the medoid has fewer words than trafilatura (it would cut text)
    confirm_agreement: float = 1.01  # trafilatura's overlap with CONFIRMER at which it is kept without the
                                     # rest (1.01: never; the default keeps the positional grids of before)


# The grid the cross-validation searches (bench/extraction_chooser.py); the constants are its choice on all
# 710 pages. A value at the end of a range that disables its test (agreement 0, coverage 0, link share
# above 1, 0 paragraphs) is in the grid, so a signal that does not help can be switched off by the data.
GRID: dict[str, tuple[float, ...]] = {
    "min_agreement": (0.0, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01),
    "min_coverage": (0.0, 0.2, 0.3, 0.5),
    "max_link_share": (0.2, 0.3, 0.5, 1.01),
    "min_paragraphs": (0, 3, 5, 10),
    "medoid_margin": (0.0, 0.02, 0.05, 0.1, 0.2, 1.01),    # 1.01: never (mean agreements differ by <= 1)
    "shorter_margin": (0.0, 0.02, 0.05, 0.1, 0.2, 1.01),
    "confirm_agreement": (0.8, 0.85, 0.9, 0.95, 1.01),
}
# Chosen on all 710 pages by the same search (session 16, two margins; bench/chooser_selection_experiment.py
# compared it with other selection rules: design.md, "Extractor agreement [#17]"); session 21 added the
# confirmer's axis, and the same search moved the buying test back to session 15's (0.85, link share 0.2).
MIN_AGREEMENT = 0.85   # below it opinions are bought (folds: 0.85 three times, 0.9 twice)
MIN_COVERAGE = 0.0     # off: every fold switched it off (trafilatura's share of the page's text says little)
MAX_LINK_SHARE = 0.2   # trafilatura's words more than a fifth link text (folds: 0.2 three times, off twice)
MIN_PARAGRAPHS = 0     # off (folds: off four times, 10 once)
MEDOID_MARGIN = 0.02   # 0.0 lets the medoid replace trafilatura on near-ties, where trafilatura is right more often
# a medoid shorter than trafilatura's text must agree much better: trafilatura's extra words were article text
# more often than chrome on the dev pages (every fold chose 0.1 or 0.2 here, against 0.02 for a longer medoid)
SHORTER_MARGIN = 0.1
# boilerpy3 asked first among the rest; at this overlap with trafilatura the text is kept without readability
# and jusText (folds: 0.9 four times, 0.85 once). CV word F1 0.9462 against 0.9465 without it, for 8% less
# CPU in the extraction step (1.95x trafilatura.extract against 2.12x), 4% in all of safe_extract; the rest
# bought on 17% of pages.
CONFIRM_AGREEMENT = 0.9
DEFAULT = Params(MIN_AGREEMENT, MIN_COVERAGE, MAX_LINK_SHARE, MIN_PARAGRAPHS, MEDOID_MARGIN, SHORTER_MARGIN,
                 CONFIRM_AGREEMENT)


@dataclass(frozen=True)
class Choice:
    """The text kept, which candidate it came from, and every extractor that ran on the page, in order."""

    text: str
    chosen: str
    ran: tuple[str, ...]
    reason: str


def words(text: str) -> list[str]:
    """The text's lowercased `\\w+` words (the WCXB tokenisation, as the shingles and word counts use)."""
    return _WORD.findall(text.lower())


def shingles(text: str) -> frozenset[str]:
    """The set of lowercased word SHINGLE_WORDS-grams (a text shorter than that: its words as one shingle)."""
    return shingles_of(words(text))


def shingles_of(ws: Sequence[str]) -> frozenset[str]:
    """`shingles` of a text already split into `words`."""
    if len(ws) < SHINGLE_WORDS:
        return frozenset([" ".join(ws)]) if ws else frozenset()
    return frozenset(map(" ".join, zip(*(ws[i:] for i in range(SHINGLE_WORDS)), strict=False)))   # n-grams


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient of two shingle sets; 0.0 when either is empty."""
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def medoid_index(texts: Sequence[str], margin: float = 0.0, shorter_margin: float | None = None) -> int:
    """Index of the text with the highest mean overlap with the other non-empty texts; the first text (ties,
    or when the best beats it by less than `margin`, by less than `shorter_margin` when the best has fewer
    words than the first; None: `margin` either way) when it has text itself."""
    split = [words(t) for t in texts]
    return _medoid_of_sets([shingles_of(ws) for ws in split], [len(ws) for ws in split], margin,
                           margin if shorter_margin is None else shorter_margin)


def _medoid_of_sets(sets: Sequence[frozenset[str]], lengths: Sequence[int], margin: float,
                    shorter_margin: float) -> int:
    """`medoid_index` on the texts' shingle sets and word counts (the chooser has two of the sets already)."""
    return _keep_or_switch(_ranked(sets), lengths, margin, shorter_margin)


def _ranked(sets: Sequence[frozenset[str]]) -> tuple[int, float]:
    """(index of the medoid, by how much its mean overlap beats the first text's: inf when the first has no
    text). With at most two non-empty texts nobody breaks a tie: the first that has text, lead 0 or inf."""
    live = [i for i, s in enumerate(sets) if s]
    if len(live) <= 2:
        return (live[0], 0.0 if live[0] == 0 else math.inf) if live else (0, 0.0)
    means = {i: sum(overlap(sets[i], sets[j]) for j in live if j != i) / (len(live) - 1) for i in live}
    best = max(live, key=lambda i: (means[i], -i))
    return best, means[best] - means[0] if 0 in means else math.inf


def _keep_or_switch(ranked: tuple[int, float], lengths: Sequence[int], margin: float, shorter_margin: float) -> int:
    """The medoid when it leads the first text by its margin (`shorter_margin` when it has fewer words), else 0."""
    best, lead = ranked
    if best == 0:
        return 0
    return best if lead >= (shorter_margin if lengths[best] < lengths[0] else margin) else 0


def medoid(texts: Sequence[str], margin: float = 0.0, shorter_margin: float | None = None) -> str:
    return texts[medoid_index(texts, margin, shorter_margin)]


def needs_opinions(agreement: float, signals: PageSignals, params: Params = DEFAULT) -> str | None:
    """Why trafilatura's text deserves more opinions, or None when it looks like the page's article."""
    if agreement < params.min_agreement:
        return f"{FIRST_OPINION} disagrees ({agreement:.2f})"
    if params.min_coverage > 0 and signals.coverage < params.min_coverage:   # 0: off (visible text not counted)
        return f"low coverage ({signals.coverage:.2f})"
    if signals.link_share > params.max_link_share:
        return f"link text ({signals.link_share:.2f})"
    if signals.paragraphs < params.min_paragraphs:
        return f"{signals.paragraphs} paragraphs"
    return None


def choose(trafilatura: str, signals: PageSignals, ask: Callable[[str], str], params: Params = DEFAULT) -> Choice:
    """The text to keep for a page: trafilatura's unless the opinions bought say otherwise."""
    first = ask(FIRST_OPINION)
    split = [words(trafilatura), words(first)]
    sets = [shingles_of(ws) for ws in split]
    agreement = overlap(*sets)
    why = needs_opinions(agreement, signals, params)
    if why is None:
        return Choice(trafilatura, "trafilatura", ("trafilatura", FIRST_OPINION), "agreement")
    got = {FIRST_OPINION: first, CONFIRMER: ask(CONFIRMER)}
    split_of = {"trafilatura": split[0], FIRST_OPINION: split[1], CONFIRMER: words(got[CONFIRMER])}
    set_of = {"trafilatura": sets[0], FIRST_OPINION: sets[1], CONFIRMER: shingles_of(split_of[CONFIRMER])}
    confirmed = overlap(sets[0], set_of[CONFIRMER])
    if confirmed >= params.confirm_agreement:
        return Choice(trafilatura, "trafilatura", ("trafilatura", *ASK_ORDER[:2]),
                      f"{why}; {CONFIRMER} agrees ({confirmed:.2f})")
    for name in ASK_ORDER[2:]:
        got[name] = ask(name)
        split_of[name] = words(got[name])
        set_of[name] = shingles_of(split_of[name])
    names = ["trafilatura", *OPINION_ORDER]
    texts = [trafilatura, *(got[n] for n in OPINION_ORDER)]
    i = _medoid_of_sets([set_of[n] for n in names], [len(split_of[n]) for n in names], params.medoid_margin,
                        params.shorter_margin)
    return Choice(texts[i], names[i], ("trafilatura", *ASK_ORDER), f"{why}; medoid")
