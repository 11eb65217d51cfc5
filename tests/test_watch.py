"""Watchlist matching: scripts, diacritics, word boundaries, boolean rules."""

import pytest

from balkanwatch.watch import Watchlist, match_all

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
