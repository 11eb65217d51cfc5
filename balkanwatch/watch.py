"""Watchlists: named topics with multilingual aliases and simple boolean rules. Pure: no I/O.

A watchlist matches a text when at least one `any` term occurs, one term of every `all_of_any` group
occurs, and no `none` term occurs. Terms and text are folded the same way (balkanwatch.textnorm:
Serbian Cyrillic → Latin, diacritics, case), so "Zvečan", "Zvecan" and "Звечан" are one term. Terms match
whole words or whole phrases ("Kosovo Force"); a trailing `*` matches any ending of the last word, for
inflected forms ("Zvečan*" → Zvečanu, Zvečana).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from balkanwatch.textnorm import fold


def _term_pattern(term: str) -> str:
    prefix = term.rstrip().endswith("*")
    words = fold(term.rstrip().rstrip("*")).split()
    if not words:
        raise ValueError(f"watchlist term {term!r} has no letters or digits")
    body = r" ".join(re.escape(w) for w in words)
    return body + (r"\w*" if prefix else "")


def compile_terms(terms: list[str]) -> re.Pattern[str]:
    """One regex matching any of the terms as whole words/phrases in folded text."""
    return re.compile(r"(?<!\w)(?:" + "|".join(_term_pattern(t) for t in terms) + r")(?!\w)")


@dataclass(frozen=True)
class Watchlist:
    """A compiled watchlist; build it with `Watchlist.build`."""

    name: str
    any_of: re.Pattern[str]
    all_of_any: tuple[re.Pattern[str], ...] = ()
    none_of: re.Pattern[str] | None = None

    @classmethod
    def build(cls, name: str, any_terms: list[str], all_of_any: list[list[str]] | None = None,
              none_terms: list[str] | None = None) -> Watchlist:
        if not any_terms:
            raise ValueError(f"watchlist {name!r} needs at least one `any` term")
        return cls(name, compile_terms(any_terms), tuple(compile_terms(g) for g in (all_of_any or []) if g),
                   compile_terms(none_terms) if none_terms else None)

    def matches(self, folded: str) -> list[str]:
        """The terms (as found in the folded text) that make this watchlist match, or [] when it does not."""
        first = self.any_of.search(folded)
        if first is None:
            return []
        hits = [first.group(0)]
        for group in self.all_of_any:
            m = group.search(folded)
            if m is None:
                return []
            hits.append(m.group(0))
        if self.none_of is not None and self.none_of.search(folded):
            return []
        return hits


def match_all(watchlists: list[Watchlist], text: str) -> dict[str, list[str]]:
    """{watchlist name: matched terms} for every watchlist the text matches (text folded once)."""
    folded = fold(text)
    return {w.name: hits for w in watchlists if (hits := w.matches(folded))}
