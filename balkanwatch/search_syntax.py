"""What an analyst's search query asks for (`balkanwatch search`). Pure: no I/O.

    Zvečan KFOR                 articles ranked by BM25 over these words (any of them; more and rarer first)
    "northern Kosovo"           …that hold this phrase (whole words, folded as watchlists fold them)
    -football  -"Red Star"      …that hold none of these (a trailing * matches any ending: -Serbia*)

Quoted phrases and exclusions are the watchlists' terms (balkanwatch.watch): whole words or phrases in
folded text, so "Zvečan", "Zvecan" and "Звечан" are one term. The words of quoted phrases are ranked too;
excluded words are not. The most common words (SEARCH_STOPWORDS) are neither indexed nor searched for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from balkanwatch.errors import BalkanwatchError
from balkanwatch.textnorm import fold
from balkanwatch.watch import compile_terms

# Words too common to search for: not in the full-text index, dropped from a query's words (a phrase holding
# them is still checked whole: "the Hague"). The English function words among the 40 most frequent words of
# the 710 extraction-dev articles' text, each in 70% of them or more (together 29% of all words): indexing
# them as well made an index build 14% slower and queries holding one 2.6 times slower (9,800 articles,
# session 36; docs/design.md).
# Not DuckDB's default English list (571 words), which holds "un", "us", "who" and "it": "UN" and "US" were
# dropped from every query and "WHO" found nothing.
SEARCH_STOPWORDS = frozenset(
    "the and to a of in for you is your that with s on or can are this as be from an at if by have we but "
    "they t their not what how will".split())

# A search word of PREFIX_MIN letters or more also matches the longer words it begins (lake_search.expanded
# for the index, `word_start` for the plain scan and excerpts): "Zvecan" finds Zvečanu and Zveçanit
# (Serbian and Albanian endings), "kosov" Kosovo, Kosova and Kosovës, without letting "eu" or "un" expand.
PREFIX_MIN = 4
EXCERPT_CHARS = 200   # an excerpt (`search`'s column) is at most this long: about two lines of a terminal


def word_start(word: str) -> tuple[str, bool]:
    """How a folded search word is matched outside the index (the plain scan, excerpts), about as the index
    does without its stemmer: (what a word must begin with, whether it must also end there, a plural "s"
    allowed). A word of PREFIX_MIN letters or more begins a word, its plural's "s" dropped ("troops" finds
    "troop"); a shorter one is a whole word or its plural ("un" finds "UN", not "fun" or "until")."""
    if len(word) >= PREFIX_MIN:
        return (word[:-1] if word.endswith("s") and len(word) > PREFIX_MIN else word), False
    return word, True


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


class SearchSyntaxError(BalkanwatchError):
    """A search query with nothing to find (only exclusions, or no letters at all)."""

    kind = "search"


@dataclass(frozen=True)
class SearchQuery:
    words: str                                   # folded, for BM25 and the plain scan
    required: tuple[re.Pattern[str], ...] = ()   # each must occur in the folded title and text
    excluded: re.Pattern[str] | None = None      # must not occur
    since: datetime | None = None                # only articles of this time or later (naive UTC; store.ARTICLE_TIME)
    sources: tuple[str, ...] = ()                # only articles of these sources (none: any)
    topics: tuple[str, ...] = ()                 # only articles of stories these watchlists matched (none: any)

    def to_check(self, *, where_in_sql: bool) -> bool:
        """Whether hits must be checked after they are found: against phrases and exclusions always, against
        the time, sources and topics unless the finder's SQL already kept to them (`where_in_sql`)."""
        return (bool(self.required) or self.excluded is not None
                or (not where_in_sql and (self.since is not None or bool(self.sources) or bool(self.topics))))

    def keeps(self, folded: str, source: str | None = None, time: datetime | None = None,
              in_topics: bool = True) -> bool:
        """Whether an article whose folded title and text is `folded`, of `source`, of article time `time`,
        of a story one of the topics matched (`in_topics`), meets the phrases, exclusions, time, sources
        and topics."""
        if self.sources and source not in self.sources:
            return False
        if self.topics and not in_topics:
            return False
        if self.since is not None and (time is None or time < self.since):
            return False
        if any(p.search(folded) is None for p in self.required):
            return False
        return self.excluded is None or self.excluded.search(folded) is None


def parse_search(query: str, *, since: datetime | None = None, sources: tuple[str, ...] = (),
                 topics: tuple[str, ...] = ()) -> SearchQuery:
    """The words to rank by, the phrases required and the terms excluded (and the time, sources and topics
    the articles must have, given apart: `search --since`, `--source`, `--topic`); SearchSyntaxError when
    nothing is left to find."""
    words: list[str] = []
    required: list[str] = []
    excluded: list[str] = []
    for m in _TOKEN.finditer(query):
        negated, quoted, bare = m.group(1), m.group(2), m.group(3)
        if quoted is not None:
            if not fold(quoted):
                continue
            (excluded if negated else required).append(quoted)
            if not negated:
                words += fold(quoted).split()
        elif bare.startswith("-") and fold(bare[1:]):
            excluded.append(bare[1:])
        elif fold(bare):
            words += fold(bare).split()
    common = [w for w in words if w in SEARCH_STOPWORDS]
    words = [w for w in words if w not in SEARCH_STOPWORDS]
    if not words:
        what = (f"only words too common to search for: {', '.join(dict.fromkeys(common))}" if common
                else "only exclusions" if excluded else "no letters or digits")
        raise SearchSyntaxError(f"nothing to search for in {query!r} ({what}): give at least one word to find")
    return SearchQuery(" ".join(words), tuple(compile_terms([p]) for p in required),
                       compile_terms(excluded) if excluded else None, since, tuple(sources), tuple(topics))


# A sentence ends at a line break, or at . ! ? … followed by a space and a capital, a digit or an opening
# quote — unless what ends in "." is an initial or an abbreviation ("U.S. Army", "Gen. Smith", "J. Doe"):
# a period inside "U.S. troops" or "3.5" never ends one.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[^\W_a-zß-ÿ]|\s*\n|\s*$)|\n")
_ABBREVIATION = re.compile(r"(?:\b[^\W\d_]\.)+$|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Gen|Lt|Col|Maj|Capt|Sgt|Adm|Gov|Sen|Rep|Rev|"
                           r"Jr|Sr|No|Vol|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$")
_WORD = re.compile(r"\w+")


def sentences(text: str) -> Iterator[str]:
    """`text`'s sentences, stripped, none empty (see _SENTENCE_END)."""
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group() != "\n" and _ABBREVIATION.search(text, start, m.start() + 1):
            continue
        if sentence := text[start:m.end()].strip():
            yield sentence
        start = m.end()
    if sentence := text[start:].strip():
        yield sentence


def excerpt(text: str, q: SearchQuery, width: int = EXCERPT_CHARS) -> str:
    """The sentence of `text` that holds the most of the query's words (as `word_start` matches them, each
    word folded on its own, so the sentence is shown as written), the first of equals; cut to `width`
    characters around its first match. The text's first sentence when no sentence holds one (a match in
    the title only)."""
    rules = [word_start(w) for w in dict.fromkeys(q.words.split())]
    best: tuple[int, str, int] | None = None   # (words held, sentence, offset of its first match)
    for sentence in sentences(text):
        held: set[int] = set()
        first = -1
        for w in _WORD.finditer(sentence):
            for folded in fold(w.group()).split():
                for i, (begin, whole) in enumerate(rules):
                    if folded.startswith(begin) and (not whole or folded in (begin, begin + "s")):
                        held.add(i)
                        first = w.start() if first < 0 else first
        if best is None or len(held) > best[0]:
            best = (len(held), sentence, max(first, 0))
        if held and len(held) == len(rules):
            break
    if best is None:
        return ""
    _, sentence, at = best
    if len(sentence) <= width:
        return sentence
    start = max(0, min(at - width // 3, len(sentence) - width + 1))
    cut = sentence[start:start + width - 2].strip()
    return ("…" if start else "") + cut + ("…" if start + width - 2 < len(sentence) else "")
