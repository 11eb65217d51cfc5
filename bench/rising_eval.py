"""Rising words on synthetic corpora with known truth: how many ordinary words are called rising a day, and
how many new names and sudden rises are caught (`balkanwatch/rising.py`, SURPRISE chosen here).

`python -m bench.rising_eval [SEEDS]` prints, per volume (stories a day) and per SURPRISE threshold:
false rising words a day on ordinary days, and the share of injected names (k stories, never seen
before) and of injected rises (an ordinary word at r times its usual share) that are listed.

The corpus of a day: 20,000 words with Zipf-like story shares (0.7 × rank^-0.7: the commonest in 70% of
stories, rank 1,000 in 0.6%, rank 10,000 in 0.11%); each word's share varies from day to day by a gamma
multiplier (shape 2: ±70%, how content words move), 50 words are weekly (six times their share on one
weekday, a fifth of it otherwise: "tuesday", a weekly programme), and a tenth of the words are bursty
(gamma shape 0.3: mostly quiet, sometimes many times their share: the ordinary news of topics that come
and go, reported apart, since a word many times its usual share is arguably rising). Weekends have 60% of
a weekday's stories. Each story comes from one of 12 sources, at random. Counts are drawn per word as
binomials of the day's stories, as the warehouse counts them (stories holding the word).
"""

from __future__ import annotations

import sys

import numpy as np

from balkanwatch.rising import LIFT, SURPRISE, rising

VOCAB = 20_000
WEEKLY = 50
BURSTY_SHARE = 0.1
SOURCES = 12
DAYS = 28
VOLUMES = (50, 300, 1500)
THRESHOLDS = (4.0, 5.0, 6.0, 7.0)
LIFTS = (1.0, 1.5, 2.0)
NAMES = (3, 5, 8)            # stories of an injected new name in the window
RISES = (3.0, 5.0)           # an ordinary mid-frequency word at this many times its share


def _sources(rng: np.random.Generator, k: int) -> int:
    return len(set(rng.integers(0, SOURCES, size=k).tolist())) if k else 0


def _corpus(rng: np.random.Generator, volume: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(counts days+1 × vocab, stories a day, bursty mask, weekly mask); the last day is the window."""
    share = 0.7 * np.arange(1, VOCAB + 1) ** -0.7
    bursty = rng.random(VOCAB) < BURSTY_SHARE
    weekly = np.zeros(VOCAB, dtype=bool)
    weekly[rng.choice(np.arange(100, 5000), size=WEEKLY, replace=False)] = True
    bursty &= ~weekly
    weekday = rng.integers(0, 7, size=VOCAB)
    days = DAYS + 1
    start = int(rng.integers(0, 7))
    totals = np.array([volume if (start + d) % 7 < 5 else int(volume * 0.6) for d in range(days)])
    counts = np.zeros((days, VOCAB), dtype=np.int64)
    for d in range(days):
        shape = np.where(bursty, 0.3, 2.0)
        m = rng.gamma(shape, 1 / shape)
        m = np.where(weekly, np.where(weekday == (start + d) % 7, 6.0, 0.2), m)
        counts[d] = rng.binomial(totals[d], np.minimum(1.0, share * m))
    return counts, totals, bursty, weekly


def _run(counts: np.ndarray, totals: np.ndarray, rng: np.random.Generator, extra: dict[str, int],
         surprise: float, lift: float) -> list[str]:
    window = {f"w{i}": (int(k), _sources(rng, int(k))) for i, k in enumerate(counts[-1]) if k >= 3}
    for word, k in extra.items():
        window[word] = (k, _sources(rng, k))
    baseline = {w: counts[:-1, int(w[1:])].tolist() for w in window if w.startswith("w")}
    return [r.word for r in rising(window, int(totals[-1]), baseline, totals[:-1].tolist(), surprise=surprise,
                                        lift=lift)]


def evaluate(seeds: int = 20) -> list[dict[str, object]]:
    """One row per volume, SURPRISE and LIFT: means over `seeds` corpora (each scored at every setting)."""
    settings = [(t, f) for f in LIFTS for t in THRESHOLDS]
    rows = []
    for volume in VOLUMES:
        tally = {st: {"steady": 0, "bursty": 0, **{f"name_{k}": 0 for k in NAMES}, **{f"rise_{r:g}x": 0 for r in RISES}}
                 for st in settings}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            counts, totals, bursty, weekly = _corpus(rng, volume)
            risen = {}       # a mid-frequency ordinary word (rank 2,000-5,000) risen r times in the window
            for r in RISES:
                i = int(rng.integers(2000, 5000))
                while bursty[i] or weekly[i]:
                    i += 1
                risen[r] = i
                counts[-1, i] = max(3, int(rng.binomial(int(totals[-1]), min(1.0, 0.7 * (i + 1) ** -0.7 * r))))
            names_in = {f"name{k}": k for k in NAMES}
            for st in settings:
                listed = set(_run(counts, totals, np.random.default_rng(seed + 10_000), names_in, *st))
                t = tally[st]
                for k in NAMES:
                    t[f"name_{k}"] += f"name{k}" in listed
                for r, i in risen.items():
                    t[f"rise_{r:g}x"] += f"w{i}" in listed
                ordinary = [w for w in listed if w.startswith("w") and int(w[1:]) not in risen.values()]
                t["bursty"] += sum(bool(bursty[int(w[1:])]) for w in ordinary)
                t["steady"] += sum(not bursty[int(w[1:])] for w in ordinary)
        for (threshold, lift), t in tally.items():
            rows.append({"volume": volume, "surprise": threshold, "lift": lift,
                         "steady_false_a_day": t.pop("steady") / seeds, "bursty_listed_a_day": t.pop("bursty") / seeds,
                         **{k: v / seeds for k, v in t.items()}})
    return rows


STEADY_FLOORS = {50: 0.5, 300: 0.5, 1500: 2.0}   # ordinary steady words listed a day, at most (shipped settings)
NAME_FLOOR = 0.9                                  # share of new names in three stories listed, at least


def _shipped(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in rows if r["surprise"] == SURPRISE and r["lift"] == LIFT]


def checks(rows: list[dict[str, object]]) -> list[tuple[str, bool]]:
    """The floors `make bench` holds the shipped SURPRISE and LIFT to."""
    out = []
    for r in _shipped(rows):
        v = int(str(r["volume"]))
        steady, name = float(str(r["steady_false_a_day"])), float(str(r["name_3"]))
        out.append((f"rising words, {v} stories a day: {steady:.2f} ordinary steady words listed a day "
                    f"(≤ {STEADY_FLOORS[v]})", steady <= STEADY_FLOORS[v]))
        out.append((f"rising words, {v} stories a day: a new name in 3 stories listed {name:.0%} of days "
                    f"(≥ {NAME_FLOOR:.0%})", name >= NAME_FLOOR))
    return out


def render(rows: list[dict[str, object]], seeds: int) -> list[str]:
    cols = list(rows[0])
    lines = ["### Rising words (`balkanwatch rising`) on synthetic days with known truth (`bench/rising_eval.py`)", "",
             f"{seeds} corpora per volume (28 days of baseline, then the window day); shipped: SURPRISE {SURPRISE:g}, "
             f"LIFT {LIFT:g}. *steady* = ordinary words listed (false), *bursty* = words of topics that come and go, "
             "listed on one of their big days; *name_k* = a new name in k stories; *rise_r* = an ordinary word at r "
             "times its share.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |"
              for r in rows]
    return [*lines, ""]


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rows = evaluate(seeds)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
