"""A synthetic NAB: labelled mention-count series scored as NAB scores the real ones (issue #14, session 18).

    .venv/bin/python -m bench.synthetic_nab ["DETECTOR;DETECTOR..."] [--series=N] [--basis=salient|mean]

Where the operating point of a detector (its default rate, its re-arming) is decided without the labelled
dev files. Each series is 56 days of 5-minute counts (as NAB's realTweets files) at one of three volumes (a
tenth, one and ten items a bucket on average: CVS-, CRM- and AMZN-like), with a daily cycle, news-like
weekends, a latent drift, negative-binomial noise, ordinary news clusters (three a week, Pareto sizes, as
the *newsy* families) and flashes (two a day, as the *flashy* ones): the real series' ordinary surges,
which nobody labels. On top, three labelled incidents at random times from day 4 on, at least five days
apart, each one of four shapes (a flash of 15 minutes, a 2-hour spike, a 4-hour step, a 6-hour ramp) and
of a size drawn log-uniformly between 2 and 12 times the topic's mean volume a bucket, added over its
length ("incidents are big against the topic's usual volume, not against the hour they fall in": what
NAB's labellers mark, session 18's look 13). Windows as NAB makes them: 10 % of the file's rows shared
between its incidents, each centred on its incident's first bucket; the first 15 % of rows (at most 750)
are probation.

These are assumptions, written down: that incidents are sized against the topic's mean volume, that their
sizes spread over 2-12×, that ordinary clusters and flashes come at the rates the synthetic families fitted
label-free to the real series. A detector tuned here is tuned to them; the dev files are the check.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from balkanwatch.spikes import _window_sums
from bench.nab import FileScore, normalised, score_file
from bench.spikes_eval import DETECTORS
from bench.synthetic import (
    DAY,
    FLASHY_PER_DAY,
    Burst,
    Profile,
    burst_volume,
    draw,
    ordinary_volume,
)

BUCKET = 300
DAYS = 56
VOLUMES = (0.1, 1.0, 10.0)          # mean items a 5-minute bucket
INCIDENTS = 3
FIRST_DAY, SPACING_DAYS = 4, 5
SIZES = (2.0, 12.0)                 # log-uniform, × the topic's mean volume a bucket, over the incident
INCIDENT_SHAPES = (("flash", 3, "spike"), ("spike", 24, "spike"), ("step", 48, "step"), ("ramp", 72, "ramp"))
WINDOW_SHARE = 0.10                 # NAB: 10 % of a file's rows are inside its windows
BASIS = "salient"                   # "salient": an incident's busiest hour is SALIENT × the ordinary day's
SALIENT = (1.25, 8.0)               # busiest hour around it (log-uniform); "mean": SIZES × the mean volume


@dataclass(frozen=True)
class NabSeries:
    values: np.ndarray
    windows: list[tuple[int, int]]
    volume: float


def profile(volume: float) -> Profile:
    """A topic's ordinary noise: daily cycle, news-like weekends, drift, news clusters and flashes."""
    return Profile(volume, BUCKET, DAYS, daily=0.6, weekend=0.6, k=10.0, drift_sd=0.15,
                   news_per_week=3.0, flashes_per_day=FLASHY_PER_DAY)


def generate_series(seed: int, basis: str = BASIS) -> NabSeries:
    rng = np.random.default_rng(50_000 + seed)
    volume = VOLUMES[seed % len(VOLUMES)]
    p = profile(volume)
    usual = ordinary_volume(rng, p)
    per_day = DAY // BUCKET
    n = len(usual)
    starts: list[int] = []
    while len(starts) < INCIDENTS:
        start = int(rng.integers(FIRST_DAY * per_day, n - per_day))
        if all(abs(start - s) >= SPACING_DAYS * per_day for s in starts):
            starts.append(start)
    extra = np.zeros(n)
    mean = float(usual.mean())
    hour = 3600 // BUCKET
    hourly = _window_sums(usual, hour)[hour - 1:]              # hourly[i]: usual items in buckets i … i+11
    for start in sorted(starts):
        _, length, shape = INCIDENT_SHAPES[int(rng.integers(len(INCIDENT_SHAPES)))]
        if basis == "mean":
            size = math.exp(rng.uniform(math.log(SIZES[0]), math.log(SIZES[1])))
            flat = np.full(n, mean)     # sized against the topic's mean volume, not the hour's
            extra += burst_volume(flat, Burst(start, length, size + 1.0, shape))
            continue
        # salient: the incident's busiest hour holds F × the ordinary day's busiest hour around it
        factor = math.exp(rng.uniform(math.log(SALIENT[0]), math.log(SALIENT[1])))
        day_peak = float(hourly[max(0, start - per_day // 2): start + per_day // 2].max())
        unit = burst_volume(np.ones(n), Burst(start, length, 2.0, shape))   # the shape, total = length
        share = float(np.nanmax(_window_sums(unit, hour))) / unit.sum()     # its busiest hour's share
        local = float(hourly[start: start + max(1, length - hour + 1)].mean())
        total = max(factor * day_peak - local, 0.0) / share
        extra += unit / unit.sum() * total
    values = draw(rng, usual + extra, p.k)
    width = int(WINDOW_SHARE * n / INCIDENTS)
    windows = [(max(0, s - width // 2), min(n - 1, s + width // 2)) for s in sorted(starts)]
    return NabSeries(values, windows, volume)


def _score_job(args: tuple[str, int, str]) -> tuple[str, int, float, FileScore]:
    name, seed, basis = args
    series = generate_series(seed, basis)
    alerts = DETECTORS[name](series.values, BUCKET)
    return name, seed, series.volume, score_file(list(alerts), series.windows)


def run(names: Sequence[str], n_series: int, pool: ProcessPoolExecutor,
        basis: str = BASIS) -> dict[str, dict[float, list[FileScore]]]:
    out: dict[str, dict[float, list[FileScore]]] = {name: {} for name in names}
    jobs = [(name, seed, basis) for name in names for seed in range(n_series)]
    for name, _, volume, score in pool.map(_score_job, jobs):
        out[name].setdefault(volume, []).append(score)
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    names = args[0].split(";") if args else list(DETECTORS)
    n_series = next((int(a.split("=")[1]) for a in sys.argv if a.startswith("--series=")), 24)
    basis = next((a.split("=")[1] for a in sys.argv if a.startswith("--basis=")), BASIS)
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        results = run(names, n_series, pool, basis)
    print(f"{n_series} synthetic series, {INCIDENTS} incidents each ({time.perf_counter() - started:.0f} s)")
    for name, by_volume in results.items():
        every = [s for scores in by_volume.values() for s in scores]
        per = ", ".join(f"{v:g}/bucket {normalised(scores):.1f}" for v, scores in sorted(by_volume.items()))
        caught = sum(s.detected for s in every)
        windows = sum(s.windows for s in every)
        fa = sum(s.false_alerts for s in every)
        months = len(every) * DAYS / 30
        print(f"{name:40s} NAB {normalised(every):5.1f} "
              f"caught {caught}/{windows}, false alerts {fa} ({fa / months:.1f} a month) | {per}")


if __name__ == "__main__":
    main()
