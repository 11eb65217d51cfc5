"""Trying a watchlist on the stored articles before it goes into the config (`balkanwatch topics try`). Pure:
the caller reads the articles and hands them over one at a time.

A topic is only as good as its terms: "Mitrovic*" alone brings every football report from Mitrovica, a
`none` term meant for them may also drop the clash. So a trial says which term brings how many stories,
how many stories each `none` term keeps out, and (with the caller's detector replay) how often the topic
would have alerted. Matching is the alerts' own (balkanwatch.watch: the same folding, the same rule); a story
is in the topic when one of its articles matches, as `story_mentions` counts it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from balkanwatch.textnorm import fold
from balkanwatch.watch import Watchlist, Words, compile_terms

TERM_WORDS = 5   # a `*` term's commonest words shown ("kosovo 41, kosova 12, kosovska 3"): what the prefix catches


@dataclass(frozen=True)
class Term:
    part: str            # "any", "all_of_any 1", …, "none"
    term: str            # as written in the definition
    pattern: re.Pattern[str]


@dataclass
class TopicTrial:
    """A candidate watchlist's matches over articles, accumulated by `add` (one call per article)."""

    watchlist: Watchlist
    without_none: Watchlist
    terms: list[Term]
    articles: int = 0                                                  # articles seen
    matched_articles: int = 0
    # story → the terms its matching articles hold → the words each matched there (folded: "kosovo", "kosova")
    stories: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # story → the none terms that dropped an article of it → their words
    kept_out: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, any_terms: list[str], all_of_any: list[list[str]] | None = None,
           none_terms: list[str] | None = None) -> TopicTrial:
        """Raises ValueError for a definition the config would refuse (no `any` term, a term of no letters)."""
        groups = [g for g in (all_of_any or []) if g]
        terms = ([Term("any", t, compile_terms([t])) for t in any_terms]
                 + [Term(f"all_of_any {i}", t, compile_terms([t])) for i, g in enumerate(groups, 1) for t in g]
                 + [Term("none", t, compile_terms([t])) for t in none_terms or []])
        return cls(Watchlist.build(name, any_terms, groups, none_terms), Watchlist.build(name, any_terms, groups),
                   terms)

    def add(self, story_id: str, title: str, text: str) -> bool:
        """Match one article (of story `story_id`); True when it is in the topic."""
        self.articles += 1
        folded = fold(f"{title}\n{text}")
        words = Words(folded)
        if not self.without_none.matches(folded, words):
            return False
        if not self.watchlist.matches(folded, words):    # it matched but for a `none` term
            self._found(self.kept_out.setdefault(story_id, {}), folded, none=True)
            return False
        self.matched_articles += 1
        self._found(self.stories.setdefault(story_id, {}), folded, none=False)
        return True

    def _found(self, into: dict[str, set[str]], folded: str, *, none: bool) -> None:
        for t in self.terms:
            if (t.part == "none") == none:
                if words := {m.group(0) for m in t.pattern.finditer(folded)}:
                    into.setdefault(t.term, set()).update(words)

    def excluded_stories(self) -> set[str]:
        """Stories the `none` terms keep out of the topic: one of their articles matched but for them, and
        no other article of theirs is in the topic."""
        return set(self.kept_out) - set(self.stories)

    def term_rows(self) -> list[dict[str, object]]:
        """Per term of the definition, in its order: the stories in the topic whose matching articles hold it
        (`any` and `all_of_any` terms), or the stories it keeps out (`none` terms). A term that brings no
        story is misspelt or unused; one that brings nearly all of them is what the topic really is. `same_as`
        names an earlier term of the same part that folds to the same words ("КФОР" is "KFOR" once folded:
        one of them is redundant). `words`, for a `*` term: the words it matched, folded, with their stories,
        commonest first ("serbia 30, serbian 12, serbs 4"): a prefix catching words it was not meant for shows
        there ("turk*": "turkey 9, turkish 4, turkmenistan 2")."""
        out: list[dict[str, object]] = []
        excluded = self.excluded_stories()
        first: dict[tuple[str, str], str] = {}      # (part, folded pattern) → the first term written so
        for t in self.terms:
            same = first.setdefault((t.part, t.pattern.pattern), t.term)
            held = ([self.kept_out[s][t.term] for s in excluded if t.term in self.kept_out[s]] if t.part == "none"
                    else [found[t.term] for found in self.stories.values() if t.term in found])
            forms = Counter(word for words in held for word in words)
            out.append({"part": t.part, "term": t.term, "stories": len(held),
                        "share": round(len(held) / len(self.stories), 3) if self.stories and t.part != "none" else None,
                        "same_as": same if same != t.term else None,
                        "words": ", ".join(f"{w} {n}" for w, n in sorted(forms.items(), key=lambda wn: (-wn[1], wn[0]))
                                           [:TERM_WORDS]) if t.term.rstrip().endswith("*") else None})
        return out
