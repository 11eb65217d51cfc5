"""The dev five at a fraction of their volume: does a detector's score hold on quieter series? (issue #14)

    .venv/bin/python -m bench.thinned_nab

The held-out five lost most of the session-7 detector's windows "on the quieter series". Keeping each tweet
of a dev series with probability f (binomial thinning) gives a quieter series with the same real shape:
its daily cycle, its flashes and unlabelled surges, and its labelled incidents at the same rows, each now
f times as big against a Poisson noise that is relatively √(1/f) times louder. Every detector scores the
same thinned series (three thinning seeds per fraction) at the shipped budget, beside the full-volume
score. A look at the dev labels, counted in `bench.spikes_eval.DEV_LOOKS`; rule fixed before the first
run (session 20): a diagnostic only, nothing in the detector changes because of it.
"""

from __future__ import annotations

import time
import zlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.data import LabelledSeries, spikes_dev
from bench.nab import FileScore, normalised, score_file
from bench.spikes_eval import BEFORE_AT_OURS, BUCKET_SECONDS, DETECTORS, ticker

FRACTIONS = (1.0, 0.25, 1 / 16)
SEEDS = 3
NAMES = ("balkanwatch", BEFORE_AT_OURS, "EWMA z-score + cooldown", "windowed Gaussian")


def thinned(values: list[float], fraction: float, seed: int) -> np.ndarray:
    """Each item kept with probability `fraction` (the series itself at 1)."""
    counts = np.asarray(values, dtype=np.int64)
    if fraction >= 1.0:
        return counts.astype(float)
    return np.random.default_rng(seed).binomial(counts, fraction).astype(float)


def _job(args: tuple[str, float, int, LabelledSeries]) -> tuple[str, float, int, str, FileScore]:
    name, fraction, seed, series = args
    alerts = DETECTORS[name](thinned(series.values, fraction, 1000 * seed + zlib.crc32(series.name.encode())),
                             BUCKET_SECONDS)
    return name, fraction, seed, ticker(series.name), score_file(list(alerts), series.windows)


def run() -> dict[str, dict[float, dict[str, list[FileScore]]]]:
    """Per detector, fraction and file: the NAB standard FileScore of each seed."""
    data = spikes_dev()
    jobs = [(name, f, seed, s) for name in NAMES for f in FRACTIONS for seed in range(1 if f >= 1 else SEEDS)
            for s in data]
    out: dict[str, dict[float, dict[str, list[FileScore]]]] = {n: {f: {} for f in FRACTIONS} for n in NAMES}
    with ProcessPoolExecutor(2) as pool:
        for name, f, _, file, score in pool.map(_job, jobs):
            out[name][f].setdefault(file, []).append(score)
    return out


def table(results: dict[str, dict[float, dict[str, list[FileScore]]]]) -> list[str]:
    """Markdown: NAB standard over the five files per fraction (mean over seeds), windows caught, false alerts."""
    lines = ["| detector | " + " | ".join(f"volume × {f:g}" for f in FRACTIONS) + " |",
             "|---|" + "---|" * len(FRACTIONS)]
    for name, by_fraction in results.items():
        cells = []
        for f in FRACTIONS:
            files = by_fraction[f]
            seeds = len(next(iter(files.values())))
            per_seed = [[files[t][k] for t in sorted(files)] for k in range(seeds)]
            score = float(np.mean([normalised(fs) for fs in per_seed]))
            caught = np.mean([sum(x.detected for x in fs) for fs in per_seed])
            windows = sum(x.windows for x in per_seed[0])
            fa = np.mean([sum(x.false_alerts for x in fs) for fs in per_seed])
            cells.append(f"{score:.1f} ({caught:.1f}/{windows}, {fa:.0f} false)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    started = time.perf_counter()
    results = run()
    print("\n".join(table(results)))
    for name, by_fraction in results.items():
        for f, files in by_fraction.items():
            per_file = ", ".join(f"{t} {np.mean([normalised([x]) for x in fs]):.1f}" for t, fs in sorted(files.items()))
            print(f"{name:32s} × {f:<6g} {per_file}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
