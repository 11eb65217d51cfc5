"""What matching watchlists costs per article, with the word lookup first and with every regex alone.

`python -m bench.watch_cost`: the 710 WCXB dev pages' true texts (title and main content, as an article row
holds them) matched against the shipped default watchlists and 20 more drawn from the texts' own words (a
word, a `*` prefix of another and a phrase each; half with an `all_of_any` group of two, a third with a `none`
term), as ingest, the alerts cycle and `rematch` do (`balkanwatch.watch.match_all`: the text folded once, its
words split once, a watchlist none of whose terms' first words the text holds skipped without its regex),
against the same definitions with every regex searched over the whole folded text (the matching before
session 42). CPU time, the two interleaved text by text in alternating order, REPEATS passes, the median of
the per-pass ratios. Both must give the same matches on every text.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from statistics import median

from balkanwatch.config import load_config
from balkanwatch.textnorm import fold
from balkanwatch.watch import Watchlist, compile_terms, match_all
from bench.data import LabelledPage

REPEATS = 3
DRAWN = 20
DEFAULTS = Path(__file__).resolve().parent.parent / "balkanwatch" / "default.toml"
Definition = tuple[str, list[str], list[list[str]], list[str]]


def definitions(texts: list[str]) -> list[Definition]:
    """The shipped watchlists and DRAWN drawn from the texts' words (seeded)."""
    shipped: list[Definition] = [(w.name, w.any, w.all_of_any, w.none) for w in load_config(DEFAULTS).watchlists]
    rng = random.Random(42)
    vocab = sorted({w for t in texts[:200] for w in re.findall(r"[^\W\d_]{4,}", t)})
    drawn: list[Definition] = []
    for i in range(DRAWN):
        a, g = rng.sample(vocab, 3), rng.sample(vocab, 3)
        drawn.append((f"drawn{i}", [a[0], a[1][:4] + "*", f"{a[2]} {g[0]}"], [[g[1], g[2]]] if i % 2 else [],
                      [rng.choice(vocab)] if i % 3 == 0 else []))
    return shipped + drawn


class _RegexAlone:
    """A watchlist as it was matched before the word lookup: each regex over the whole folded text."""

    def __init__(self, name: str, any_terms: list[str], groups: list[list[str]], none_terms: list[str]) -> None:
        self.name = name
        self.any_of = compile_terms(any_terms)
        self.groups = [compile_terms(g) for g in groups if g]
        self.none_of = compile_terms(none_terms) if none_terms else None

    def matches(self, folded: str) -> list[str]:
        first = self.any_of.search(folded)
        if first is None:
            return []
        hits = [first.group(0)]
        for group in self.groups:
            m = group.search(folded)
            if m is None:
                return []
            hits.append(m.group(0))
        if self.none_of is not None and self.none_of.search(folded):
            return []
        return hits


def _regex_alone(watchlists: list[_RegexAlone], text: str) -> dict[str, list[str]]:
    folded = fold(text)
    return {w.name: hits for w in watchlists if (hits := w.matches(folded))}


def measure(pages: list[LabelledPage]) -> dict[str, float]:
    texts = [f"{p.title}\n{p.main_content}" for p in pages]
    defs = definitions(texts)
    ours = [Watchlist.build(n, a, g, x) for n, a, g, x in defs]
    before = [_RegexAlone(n, a, g, x) for n, a, g, x in defs]
    same = all(match_all(ours, t) == _regex_alone(before, t) for t in texts)
    matches = sum(len(match_all(ours, t)) for t in texts)
    ratios, spent = [], {"ours": [], "before": []}
    for r in range(REPEATS):
        cpu = {"ours": 0.0, "before": 0.0}
        for i, text in enumerate(texts):
            calls = [("ours", lambda t=text: match_all(ours, t)), ("before", lambda t=text: _regex_alone(before, t))]
            for name, call in (calls if (i + r) % 2 else calls[::-1]):
                t0 = time.process_time()
                call()
                cpu[name] += time.process_time() - t0
        ratios.append(cpu["ours"] / cpu["before"])
        for k in cpu:
            spent[k].append(cpu[k] * 1000 / len(texts))
    return {"texts": len(texts), "watchlists": len(defs), "matches": matches, "same": float(same),
            "ours_ms": median(spent["ours"]), "before_ms": median(spent["before"]), "ratio": median(ratios),
            "chars": sum(map(len, texts)) / len(texts)}


RATIO_MAX = 0.6   # ours / every regex alone (0.24-0.31 on a quiet two-core machine, session 42)


def checks(r: dict[str, float]) -> list[tuple[str, bool]]:
    return [(f"watchlist matching with the word lookup ≤ {RATIO_MAX}× every regex alone, the same matches "
             f"({r['texts']:.0f} texts × {r['watchlists']:.0f} watchlists): {r['ratio']:.2f}×, same: "
             f"{'yes' if r['same'] else 'NO'}", r["ratio"] <= RATIO_MAX and bool(r["same"]))]


def render(r: dict[str, float]) -> list[str]:
    return ["", "## Watchlist matching: what an article costs (bench/watch_cost.py)", "",
            f"The {r['texts']:.0f} WCXB dev pages' true texts ({r['chars']:,.0f} characters on average) against "
            f"{r['watchlists']:.0f} watchlists (the shipped defaults and {DRAWN} drawn from the texts' words), as "
            "ingest, the alerts cycle and `rematch` match them; CPU per text, medians of "
            f"{REPEATS} interleaved passes. Same matches on every text: {'yes' if r['same'] else 'NO'} "
            f"({r['matches']:.0f} in all).", "",
            "| matching | ms per text |", "|---|---|",
            f"| every regex over the whole folded text (before session 42) | {r['before_ms']:.2f} |",
            f"| the text's words looked up first (`balkanwatch.watch.Words`) | {r['ours_ms']:.2f} |",
            f"| ratio | {r['ratio']:.2f} |", ""]


def main() -> None:
    from bench.data import extraction_dev
    r = measure(extraction_dev())
    print("\n".join(render(r)))
    for text, ok in checks(r):
        print(("ok  " if ok else "FAIL") + " " + text)


if __name__ == "__main__":
    main()
