"""Text normalised for the region, so copies match across scripts and spellings.

`fold("Звечан, Zvečan")` == `fold("Zvecan zvecan")`: Serbian Cyrillic transliterated to Latin, diacritics
folded (č ć š ž đ ë ç → c c s z dj e c), case folded, punctuation to spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

# Serbian (and Macedonian) Cyrillic → Gaj's Latin, then folded like the Latin letters themselves.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z", "з": "z", "и": "i",
    "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "ћ": "c", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "c", "џ": "dz", "ш": "s",
    "ѓ": "g", "ќ": "k", "ѕ": "dz", "й": "j", "ы": "y", "э": "e", "ю": "ju", "я": "ja", "ь": "", "ъ": "",
    "ё": "e", "є": "je", "і": "i", "ї": "ji", "ґ": "g",
}
# Latin letters that NFKD does not decompose.
_LATIN = {"đ": "dj", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ı": "i", "þ": "th", "ð": "d"}
_TABLE = str.maketrans({**_CYRILLIC, **_LATIN})
_NON_WORD = re.compile(r"[^\w]+")

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=65_536)
def _fold_run(run: str) -> str:
    """A run of non-ASCII characters transliterated and stripped of accents (runs repeat: cached)."""
    t = unicodedata.normalize("NFKD", run.translate(_TABLE))
    return "".join(ch for ch in t if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case, transliterated, accent-free words separated by single spaces."""
    t = _NON_ASCII.sub(lambda m: _fold_run(m.group()), text.casefold())   # ASCII stays as it is, in C
    return _NON_WORD.sub(" ", t).replace("_", " ").strip()


_TOKEN = re.compile(r"[^\W_]+")


def spelled(words: Iterable[str], texts: Iterable[str]) -> dict[str, str]:
    """How the texts spell each folded word: its most frequent form among their words (the first of two as
    frequent), for showing a folded word ("zvecan") as people write it ("Zvečan"). A word the texts do not
    hold keeps no entry."""
    wanted = set(words)
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        for token in _TOKEN.findall(text):
            if (key := fold(token)) in wanted:
                forms.setdefault(key, Counter())[token] += 1
    return {w: c.most_common(1)[0][0] for w, c in forms.items()}


PHRASE_SHARE = 0.5   # words of one event written side by side, in one order, in at least half of the texts
                     # holding them all are shown as one phrase: "North Mitrovica", "Banjska monastery"
_GAP = re.compile(r"\s+")


def phrases(words: Sequence[str], texts: Iterable[str]) -> list[str]:
    """An event's folded words (`rising`: words of nearly the same stories) as the texts write them: words
    the texts mostly write side by side in one order (PHRASE_SHARE of the texts holding them all, at least
    two texts) become one phrase ("north", "mitrovica" → "North Mitrovica"), each phrase and word in its
    most frequent form (`spelled`). In the order of `words`, a phrase where its first word came; a word the
    texts do not hold stays as it is."""
    wanted = set(words)
    runs: Counter[tuple[str, ...]] = Counter()       # texts writing each run of wanted words side by side
    forms: dict[tuple[str, ...], Counter[str]] = {}
    texts = list(texts)
    present = [set(fold(text).split()) & wanted for text in texts]
    for text in texts:
        found: set[tuple[str, ...]] = set()
        run: list[tuple[str, str]] = []               # (folded, as written) of the current run
        last_end = -1
        for m in _TOKEN.finditer(text):
            key = fold(m.group())
            if key not in wanted:
                run, last_end = [], -1
                continue
            if last_end < 0 or not _GAP.fullmatch(text, last_end, m.start()) or any(k == key for k, _ in run):
                run = []
            run.append((key, m.group()))
            last_end = m.end()
            for i in range(len(run) - 1):             # every run of two or more ending here
                seq = tuple(k for k, _ in run[i:])
                found.add(seq)
                forms.setdefault(seq, Counter())[" ".join(w for _, w in run[i:])] += 1
        for seq in found:
            runs[seq] += 1
    used: set[str] = set()
    chosen: dict[str, str] = {}                       # first word of a phrase → the phrase
    for seq in sorted(runs, key=lambda q: (-len(q), -runs[q], q)):
        holding = sum(set(seq) <= p for p in present)   # texts holding its words, side by side or not
        if used.isdisjoint(seq) and runs[seq] >= 2 and runs[seq] >= PHRASE_SHARE * holding:
            used.update(seq)
            chosen[min(seq, key=list(words).index)] = forms[seq].most_common(1)[0][0]
    single = spelled([w for w in words if w not in used], texts)
    return [chosen.get(w) or single.get(w, w) for w in words if w in chosen or w not in used]


def fold_sql(expr: str) -> str:
    """A DuckDB SQL expression folding the letters of `expr` as `fold` does (case, Serbian Cyrillic → Latin,
    diacritics), for the full-text index and its plain scan: "Звечану" and "Zvečanu" → "zvecanu". Words
    are left to the index's tokenizer (punctuation is not turned into spaces here).

    What it costs decides how long an index rebuild takes (it folds every article): ASCII text (as many
    bytes as characters: most English articles) is only lower-cased; other text goes through one
    `translate` (one letter for one, or none: ь ъ) and `strip_accents`, and through the `replace` of each
    letter that becomes two (љ → lj, đ → dj, ß → ss) only when it holds one of them. Each `replace` reads
    the whole text, and curly quotes or a dash make most English articles non-ASCII: the guard took the
    fold of 905 WCXB pages from 1.10 s to 0.49 s on one thread (docs/design.md, "Where the time goes")."""
    table = {**_CYRILLIC, **_LATIN}
    multi = {k: v for k, v in table.items() if len(v) > 1}
    single = {k: v for k, v in table.items() if len(v) == 1}
    gone = "".join(k for k, v in table.items() if not v)   # translate deletes what has no letter to become
    low = f"lower({expr})"
    replaced = low
    for letter, latin in multi.items():
        replaced = f"replace({replaced}, '{letter}', '{latin}')"
    guarded = f"CASE WHEN regexp_matches({low}, '[{''.join(multi)}]') THEN {replaced} ELSE {low} END"
    sql = f"translate({guarded}, '{''.join(single)}{gone}', '{''.join(single.values())}')"
    return f"CASE WHEN strlen({expr}) = length({expr}) THEN {low} ELSE strip_accents({sql}) END"


def words(text: str) -> list[str]:
    """The folded words of a text."""
    return fold(text).split()
