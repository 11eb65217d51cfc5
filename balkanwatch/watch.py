"""Watchlists: named topics with multilingual aliases and simple boolean rules. Pure: no I/O.

A watchlist matches a text when at least one `any` term occurs, one term of every `all_of_any` group
occurs, and no `none` term occurs. Terms and text are folded the same way (balkanwatch.textnorm:
Serbian Cyrillic → Latin, diacritics, case), so "Zvečan", "Zvecan" and "Звечан" are one term. Terms match
whole words or whole phrases ("Kosovo Force"); a trailing `*` matches any ending of the last word, for
inflected forms ("Zvečan*" → Zvečanu, Zvečana).
"""

from __future__ import annotations

import re
from bisect import bisect_left
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


_WORD = re.compile(r"\w+")


class Words:
    r"""The words of a folded text (maximal runs of `\w`, as the terms' lookarounds see them), split once per
    text: a term whose first word the text does not hold cannot match, whatever its regex would find, so most
    watchlists are ruled out by a set lookup and only the rest run their regex (`Terms.search`)."""

    __slots__ = ("_set", "_sorted")

    def __init__(self, folded: str) -> None:
        self._set = frozenset(_WORD.findall(folded))
        self._sorted: list[str] | None = None

    def has(self, word: str, prefix: bool) -> bool:
        """The text holds `word` (as a whole word, or as the start of one when `prefix`)."""
        if not prefix:
            return word in self._set
        if self._sorted is None:
            self._sorted = sorted(self._set)
        i = bisect_left(self._sorted, word)
        return i < len(self._sorted) and self._sorted[i].startswith(word)


def _key(term: str) -> tuple[str, bool]:
    r"""What a text must hold for `term` to match in it: its first folded word, whole, or as a word's start
    for a one-word `*` term. (A term's match starts where a word starts, `(?<!\w)`, and its first word is
    followed by a space, by the end of the match, `(?!\w)`, or, for a one-word `*` term, by `\w*`.)"""
    words = fold(term.rstrip().rstrip("*")).split()
    return words[0], term.rstrip().endswith("*") and len(words) == 1


@dataclass(frozen=True)
class Terms:
    """Terms compiled into one regex (`compile_terms`), with what a text must hold for any of them to match."""

    pattern: re.Pattern[str]
    keys: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, terms: list[str]) -> Terms:
        return cls(compile_terms(terms), tuple(dict.fromkeys(_key(t) for t in terms)))

    def search(self, folded: str, words: Words) -> re.Match[str] | None:
        """`pattern.search(folded)`, skipped (None) when `words`, the words of `folded`, rule every term out."""
        if not any(words.has(word, prefix) for word, prefix in self.keys):
            return None
        return self.pattern.search(folded)


@dataclass(frozen=True)
class Watchlist:
    """A compiled watchlist; build it with `Watchlist.build`."""

    name: str
    any_of: Terms
    all_of_any: tuple[Terms, ...] = ()
    none_of: Terms | None = None

    @classmethod
    def build(cls, name: str, any_terms: list[str], all_of_any: list[list[str]] | None = None,
              none_terms: list[str] | None = None) -> Watchlist:
        if not any_terms:
            raise ValueError(f"watchlist {name!r} needs at least one `any` term")
        return cls(name, Terms.of(any_terms), tuple(Terms.of(g) for g in (all_of_any or []) if g),
                   Terms.of(none_terms) if none_terms else None)

    def matches(self, folded: str, words: Words | None = None) -> list[str]:
        """The terms (as found in the folded text) that make this watchlist match, or [] when it does not.
        `words`: the words of `folded` (`Words`), when the caller has split them already."""
        words = words or Words(folded)
        first = self.any_of.search(folded, words)
        if first is None:
            return []
        hits = [first.group(0)]
        for group in self.all_of_any:
            m = group.search(folded, words)
            if m is None:
                return []
            hits.append(m.group(0))
        if self.none_of is not None and self.none_of.search(folded, words):
            return []
        return hits


def match_all(watchlists: list[Watchlist], text: str) -> dict[str, list[str]]:
    """{watchlist name: matched terms} for every watchlist the text matches (text folded and split once)."""
    folded = fold(text)
    words = Words(folded)
    return {w.name: hits for w in watchlists if (hits := w.matches(folded, words))}
