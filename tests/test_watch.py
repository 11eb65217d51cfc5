"""Watchlist matching: scripts, diacritics, word boundaries, boolean rules."""

import random

import pytest

from balkanwatch.textnorm import fold
from balkanwatch.watch import Watchlist, compile_terms, match_all

KFOR = Watchlist.build("kfor", ["KFOR", "КФОР", "Kosovo Force"])
CLASH = Watchlist.build("north-kosovo-clash", ["Kosovo", "Kosova", "Косово"],
                        [["clash", "shooting", "sukob", "пуцњава", "përplasje"]])
ZVECAN = Watchlist.build("zvecan", ["Zvečan*"], none_terms=["Zvečan Fortress tourism"])


@pytest.mark.parametrize("text", ["KFOR troops patrol", "Војници КФОР-а патролирају", "the Kosovo   Force said",
                                  "kfor-a je saopštio", "(KFOR)"])
def test_kfor_matches_any_script_and_form(text: str) -> None:
    assert "kfor" in match_all([KFOR], text)


@pytest.mark.parametrize("text", ["KFORCE logistics", "the Kosovo forces", "Kosovo police force"])
def test_word_boundaries(text: str) -> None:
    assert match_all([KFOR], text) == {}


def test_boolean_rule_needs_both_groups() -> None:
    assert match_all([CLASH], "Sukob na severu Kosova") == {"north-kosovo-clash": ["kosova", "sukob"]}
    assert match_all([CLASH], "Пуцњава у Косову") == {}   # "Косову" (locative) is not a listed form: use "Косов*"
    assert "north-kosovo-clash" in match_all([CLASH], "Пуцњава на Косово граници")
    assert "north-kosovo-clash" in match_all([CLASH], "Përplasje në veri të Kosovës, Kosova reagon")
    assert match_all([CLASH], "Kosovo signs a trade deal") == {}
    assert match_all([CLASH], "A shooting in Belgrade") == {}


def test_prefix_terms_and_exclusions() -> None:
    assert match_all([ZVECAN], "Incident u Zvečanu") == {"zvecan": ["zvecanu"]}
    assert match_all([ZVECAN], "Инцидент у Звечану") == {"zvecan": ["zvecanu"]}
    assert match_all([ZVECAN], "Zvečan Fortress tourism is booming") == {}


def test_bad_watchlists_are_rejected() -> None:
    with pytest.raises(ValueError):
        Watchlist.build("empty", [])
    with pytest.raises(ValueError):
        Watchlist.build("punct", ["!!!"])


def _by_regex_alone(any_terms: list[str], groups: list[list[str]], none_terms: list[str], text: str) -> list[str]:
    """What a watchlist matches when every regex runs on the whole text (no word lookup first)."""
    folded = fold(text)
    first = compile_terms(any_terms).search(folded)
    hits = [first.group(0)] if first else []
    for group in groups:
        m = compile_terms(group).search(folded) if hits else None
        hits = hits + [m.group(0)] if m else []
    if hits and none_terms and compile_terms(none_terms).search(folded):
        return []
    return hits


def test_the_word_lookup_never_changes_what_matches() -> None:
    # Words first (`Words`): a watchlist none of whose first words the text holds is skipped without its
    # regex. Random texts and terms over a vocabulary of prefixes of one another, phrases, scripts, digits,
    # underscores and punctuation: every verdict and every matched term equal to the regexes' alone.
    rng = random.Random(14)
    vocab = ["kosovo", "kosova", "kos", "Kosovska", "Косово", "Косов", "force", "forces", "KFOR", "КФОР", "zvečan",
             "Zvecanu", "ibar", "ibarski", "north", "sjever", "2023", "a1", "x_y", "_", "-", "—", "U.S.", "'s"]
    checked = matched = 0
    for _ in range(3000):
        def term() -> str:
            words = " ".join(rng.choice(vocab) for _ in range(rng.choice([1, 1, 2, 3])))
            return words + ("*" if rng.random() < 0.4 else "")

        def terms() -> list[str]:
            found = [t for t in (term() for _ in range(rng.randint(1, 4))) if fold(t.rstrip("*"))]
            return found or ["kosovo"]
        any_terms, groups = terms(), [terms() for _ in range(rng.choice([0, 0, 1, 2]))]
        none_terms = terms() if rng.random() < 0.3 else []
        watchlist = Watchlist.build("w", any_terms, groups, none_terms)
        for _ in range(5):
            text = "".join(rng.choice(vocab) + rng.choice([" ", "  ", ", ", "\n", "-", ""]) for _ in range(rng.randint(0, 12)))
            expected = _by_regex_alone(any_terms, groups, none_terms, text)
            assert watchlist.matches(fold(text)) == expected, (any_terms, groups, none_terms, text)
            assert match_all([watchlist], text) == ({"w": expected} if expected else {})
            checked += 1
            matched += bool(expected)
    assert matched > checked // 10      # the draw matches often enough to test both sides
