"""Spike detection: the synthetic tables, then NAB on the dev five beside re-implemented baselines.

The protocol (docs/design.md, "Spike detection: the protocol"): constants are decided on synthetic series
with known truth (bench/synthetic.py) — false alerts per month on burst-free series against the configured
rate, detection rate and delay per burst size — and only then are the labelled NAB files
scored, with the shipped defaults, beside the detector of sessions 8-17 and re-implemented baselines given
the same alert budget.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from balkanwatch.spikes import ALERTS_PER_MONTH, MONTH_SECONDS, SpikeSettings, score_series, surprise
from bench.data import LabelledSeries, spikes_dev
from bench.nab import PROFILES, FileScore, normalised, probation_rows, score_file
from bench.nb_detector import nb_alerts, nb_surprise
from bench.synthetic import SHAPES, Profile, after_outstanding, bursty, generate, quiet_profiles

BUCKET_SECONDS = 300            # the NAB series are 5-minute buckets
# How many times a score on the five dev files was looked at while this detector was built (session 8).
# Every look is counted here and in the report; a change after a look is re-justified on the synthetic table.
DEV_LOOKS = 18   # session 8: 4; session 9: 2 (the record check, by moments then by quantiles; not shipped on);
                 # session 11: 2 (a per-window diagnostic of the shipped detector; a two-level tail check, not shipped);
                 # session 15: 2 (make bench after the scipy.special tails, a numerical rewrite: 67.3, unchanged;
                 # then the 30-minute span as a default, decided on six synthetic seeds first);
                 # session 16: 1 (a per-bucket flash cap, decided on six synthetic seeds, and the NB tail
                 # baseline beside it: 11.8, not shipped);
                 # session 17: 1 (a per-window diagnostic of the three missed windows; nothing changed);
                 # session 18: 4 (13: where the labelled windows rank among each file's days under candidate
                 # measures, no NAB score; 14: NAB of eight prototypes of the record detector and the crossing
                 # view; 15: the product's record detector with an escalation rule, 77.2, and the NB detector
                 # under the same decide, 57.9; 16: the record detector without escalation, 80.9, shipped);
                 # session 20: 2 (17: the dev five thinned to 1/4 and 1/16 of their volume, bench/thinned_nab.py,
                 # a diagnostic decided before it ran: 80.4 and 72.4; nothing changed. 18: a union with the NB
                 # evidence at one in 10 months, decided on synthetic NAB (56.0 -> 61.2): 78.8, not shipped)

ANCHORS = [("ARTime", 74.9), ("Numenta HTM", 70.0), ("CAD OSE", 69.9), ("KNN CAD", 58.0),
           ("Twitter ADVec", 47.1), ("windowed Gaussian", 39.6)]
# The same five files, from NAB's published per-file results (github.com/numenta/NAB,
# results/<detector>/<detector>_standard_scores.csv, column Score): each detector's raw S per file at its
# threshold optimised for the whole corpus. Normalised over these files by `five_file_anchors`.
PUBLISHED_RAW = {
    "ARTime": {"AAPL": 2.91610, "AMZN": 2.73663, "CRM": 2.10073, "CVS": 1.83809, "FB": 1.21424},
    "CAD OSE": {"AAPL": 1.58811, "AMZN": -0.38862, "CRM": 2.58271, "CVS": 2.71039, "FB": 1.72048},
    "Numenta HTM": {"AAPL": 1.20961, "AMZN": 0.94280, "CRM": 0.71958, "CVS": 2.30920, "FB": 1.38958},
    "KNN CAD": {"AAPL": 2.48335, "AMZN": 0.48966, "CRM": 1.36482, "CVS": 1.59161, "FB": 0.00985},
    "Twitter ADVec": {"AAPL": 0.16875, "AMZN": 1.66857, "CRM": 1.78270, "CVS": 1.65368, "FB": -0.14690},
    "windowed Gaussian": {"AAPL": 1.51400, "AMZN": 1.55848, "CRM": 0.76385, "CVS": 0.77368, "FB": 0.11975},
}

# The synthetic table. False alerts are counted from day 21 on (the alerts flow always reads
# alerts.history_days = 28 days before its window; cold start is a one-off, measured separately).
SETTLED_DAYS = 21
QUIET_SEEDS = {3600: 8, 300: 2}          # seeds per burst-free family, hourly and 5-minute buckets
BURST_VOLUMES = (0.5, 5.0, 50.0, 500.0)  # usual items per hour of the bursty series
BURST_SIZES = (1.5, 2.0, 3.0, 5.0, 10.0)  # the burst's buckets hold this many times their usual volume
BURST_HOURS = 2.0
BURST_SEEDS = 8
WGAUSS_WINDOW, WGAUSS_STEP = 6400, 100   # NAB's windowed Gaussian: window and step, in rows
EWMA_HALF_LIFE = 86_400                  # the EWMA baseline's memory of mean and variance


def ticker(name: str) -> str:
    return name.removeprefix("Twitter_volume_").removesuffix(".csv")


def five_file_anchors(data: list[LabelledSeries]) -> list[tuple[str, float]]:
    """Each published detector's standard score normalised over these files, best first."""
    windows = {ticker(s.name): len(s.windows) for s in data}
    out = []
    for detector, raw in PUBLISHED_RAW.items():
        scores = [FileScore(raw[t], n, 0, 0) for t, n in windows.items()]
        out.append((detector, normalised(scores, "standard")))
    return sorted(out, key=lambda pair: -pair[1])


# -- baselines, re-implemented, given the same false-alarm budget as ours ----------------------------------
def _gaussian_z(rate_per_month: float, bucket_seconds: int) -> float:
    """The one-sided normal z whose tail is the per-bucket share of the false-alarm budget."""
    from scipy.stats import norm

    return float(norm.isf(rate_per_month * bucket_seconds / MONTH_SECONDS))


def windowed_gaussian(values: Sequence[float], bucket_seconds: int, rate_per_month: float = 1.0) -> list[bool]:
    """NAB's windowed Gaussian: mean and sd of the last WGAUSS_WINDOW rows, refreshed every WGAUSS_STEP rows;
    alert where the value's z exceeds the budget's normal quantile (no cooldown, as in NAB)."""
    x = np.asarray(values, dtype=float)
    z_alert = _gaussian_z(rate_per_month, bucket_seconds)
    out, mean, sd = [], None, None
    for i, v in enumerate(x):
        if i < WGAUSS_WINDOW or (i - WGAUSS_WINDOW) % WGAUSS_STEP == 0:
            window = x[max(0, i - WGAUSS_WINDOW): i]
            if len(window) > 1:
                mean, sd = float(window.mean()), float(window.std()) or 1.0
        out.append(mean is not None and (v - mean) / sd >= z_alert)
    return out


def ewma_zscore(values: Sequence[float], bucket_seconds: int, rate_per_month: float = 1.0,
                cooldown_seconds: int = 86_400) -> list[bool]:
    """A plain EWMA z-score: exponentially weighted mean and variance (half-life EWMA_HALF_LIFE), alert where
    the z of the bucket exceeds the budget's normal quantile, then not again within the cooldown."""
    keep = 0.5 ** (bucket_seconds / EWMA_HALF_LIFE)
    z_alert = _gaussian_z(rate_per_month, bucket_seconds)
    cooldown = max(1, cooldown_seconds // bucket_seconds)
    warmup = 2 * 86_400 // bucket_seconds
    mean, var, last, out = None, 0.0, -(10**9), []
    for i, v in enumerate(values):
        fire = False
        if mean is not None and i >= warmup:
            z = (v - mean) / math.sqrt(var) if var > 0 else 0.0
            fire = z >= z_alert and i - last >= cooldown
            last = i if fire else last
        out.append(fire)
        if mean is None:
            mean = float(v)
        else:
            diff = v - mean
            mean += (1 - keep) * diff
            var = keep * (var + (1 - keep) * diff * diff)
    return out


NB_DAYS = 7      # the NB-tail baseline's profile and dispersion look back a week
PRIOR_NB_DISPERSION = 0.25   # its φ before the first hourly window has ended


def nb_tail_p(values: Sequence[float], bucket_seconds: int) -> np.ndarray:
    """The upper-tail probability of every trailing hourly sum under the NB-tail baseline's model (1 in the
    first two days): expected = a robust level (the median of the hourly sums that ended in the day before
    this hour began) × a daily profile (the median, over the same time of day in the last week, of the hour
    against its own day's level); dispersion φ by moments over the disjoint hourly windows of the last week
    that ended before this one began; P(X ≥ observed) for X negative binomial of that mean and variance
    E + φE²."""
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.stats import nbinom, poisson

    x = np.asarray(values, dtype=float)
    n, h, day = len(x), max(1, 3600 // bucket_seconds), 86_400 // bucket_seconds
    if n < 2 * day + h:
        return np.ones(n)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    hourly = np.full(n, np.nan)
    hourly[h - 1:] = csum[h:] - csum[:-h]
    level = np.full(n, np.nan)
    medians = np.median(sliding_window_view(hourly[h - 1:], day), axis=1)   # medians[i]: hours ending h-1+i ..
    first = 2 * h - 2 + day                                 # level[t] = median of hours ending t-h-day+1 .. t-h
    level[first:] = medians[: n - first]
    ratio = hourly / np.where(level > 0, level, np.nan)
    back = np.full((NB_DAYS, n), np.nan)
    for d in range(1, NB_DAYS + 1):
        back[d - 1, d * day:] = ratio[: n - d * day]
    enough = np.isfinite(back).sum(axis=0) >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN columns before the first week
        profile = np.where(enough, np.nanmedian(back, axis=0), 1.0)
    expected = np.maximum(np.nan_to_num(level * profile, nan=0.0), 1.0 / 24)
    valid = np.isfinite(hourly) & np.isfinite(level)
    excess = np.where(valid, (np.nan_to_num(hourly) - expected) ** 2 - expected, 0.0)
    square = np.where(valid, expected**2, 0.0)
    weeks = NB_DAYS * 24                                    # disjoint hourly windows in a week
    num, den = np.zeros(n), np.zeros(n)
    for r in range(h):                                      # windows k·h buckets back share a residue class
        for src, dst in ((excess, num), (square, den)):
            c = np.concatenate([[0.0], np.cumsum(src[r::h])])
            j = np.arange(len(c) - 1)
            dst[r::h] = c[j] - c[np.maximum(0, j - weeks)]  # windows ending t-h, t-2h, … t-weeks·h
    phi = np.where(den > 0, np.maximum(num, 0.0) / np.where(den > 0, den, 1.0), PRIOR_NB_DISPERSION)
    k = np.nan_to_num(hourly)
    size = 1.0 / np.maximum(phi, 1e-9)
    p = np.where(phi * expected < 1e-6, poisson.sf(k - 1, expected), nbinom.sf(k - 1, size, size / (size + expected)))
    p[~valid] = 1.0
    p[: 2 * day] = 1.0
    return p


def nb_tail(values: Sequence[float], bucket_seconds: int, rate_per_month: float = 1.0,
            cooldown_seconds: int = 86_400) -> list[bool]:
    """The issue's yardstick, re-implemented from its description ("a 30-line causal negative-binomial tail
    test on trailing hourly sums: robust level × daily profile, dispersion from the last week, one
    threshold, nothing else tuned"; session 16, written before it was run on anything): alert where the
    trailing hour's tail (`nb_tail_p`) is below the budget's share for disjoint hours, rate × 1 h / month
    (10^-2.9 at one a month, inside the issue's 10^-2.5 to 10^-4), then not again within the cooldown."""
    p = nb_tail_p(values, bucket_seconds)
    theta = rate_per_month * 3600 / MONTH_SECONDS
    cooldown = max(1, cooldown_seconds // bucket_seconds)
    out, last = [], -(10**9)
    for i, pi in enumerate(p):
        fire = bool(pi < theta) and i - last >= cooldown
        last = i if fire else last
        out.append(fire)
    return out


def _ours(values: Sequence[float], bucket_seconds: int) -> list[bool]:
    return [s.alert for s in score_series(values, SpikeSettings(bucket_seconds=bucket_seconds))]


def _at_ours(detector: Callable[..., list[bool]]) -> Callable[[Sequence[float], int], list[bool]]:
    """A baseline given our budget: its threshold is the same number of alerts a month."""
    return lambda values, bucket_seconds: detector(values, bucket_seconds, ALERTS_PER_MONTH)


BEFORE = "NB detector of sessions 8-17 (1 a month)"     # bench/nb_detector.py: what shipped before session 18
BEFORE_AT_OURS = f"NB detector at {ALERTS_PER_MONTH:g} a month"   # the same at our budget: is it only the rate?
NB_TAIL = "NB tail (the issue's yardstick)"
DETECTORS: dict[str, Callable[[Sequence[float], int], list[bool]]] = {
    "balkanwatch": _ours, BEFORE: nb_alerts, BEFORE_AT_OURS: _at_ours(nb_alerts), NB_TAIL: _at_ours(nb_tail),
    "EWMA z-score + cooldown": _at_ours(ewma_zscore), "windowed Gaussian": _at_ours(windowed_gaussian)}


# -- the synthetic table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuietRow:
    family: str
    bucket_seconds: int
    months: float
    false_alerts: dict[str, int]     # per detector

    def rate(self, detector: str = "balkanwatch") -> float:
        return self.false_alerts[detector] / self.months


def _quiet_series(args: tuple[str, int, int, tuple[str, ...]]) -> tuple[str, float, dict[str, int]]:
    """One burst-free series: its months after SETTLED_DAYS and each detector's alerts in them."""
    family, bucket_seconds, seed, detectors = args
    settled = SETTLED_DAYS * 86_400 // bucket_seconds
    syn = generate(np.random.default_rng(seed), quiet_profiles(bucket_seconds)[family])
    months = (len(syn.values) - settled) * bucket_seconds / MONTH_SECONDS
    return family, months, {d: int(sum(DETECTORS[d](syn.values, bucket_seconds)[settled:])) for d in detectors}


def quiet_table(bucket_seconds: int, seeds: int, detectors: Sequence[str] = tuple(DETECTORS)) -> list[QuietRow]:
    """False alerts per month of each detector on each burst-free family (after SETTLED_DAYS), the series
    shared between two processes."""
    from concurrent.futures import ProcessPoolExecutor

    families = list(quiet_profiles(bucket_seconds))
    jobs = [(f, bucket_seconds, seed, tuple(detectors)) for f in families for seed in range(seeds)]
    counts = {f: dict.fromkeys(detectors, 0) for f in families}
    months = dict.fromkeys(families, 0.0)
    with ProcessPoolExecutor(2) as pool:
        for family, m, fired in pool.map(_quiet_series, jobs):
            months[family] += m
            for d, n in fired.items():
                counts[family][d] += n
    return [QuietRow(f, bucket_seconds, months[f], counts[f]) for f in families]


@dataclass(frozen=True)
class BurstRow:
    volume: float
    size: float
    bursts: int
    caught: int
    delays_minutes: tuple[float, ...]   # from the burst's first bucket to the alert, caught bursts only
    caught_before: int = 0              # the sessions 8-17 NB detector's catches on the same series
    basis: str = "mean"                 # bench/synthetic.py Burst.basis

    @property
    def median_delay(self) -> float | None:
        return float(np.median(self.delays_minutes)) if self.delays_minutes else None


def first_alert_delay(alerts: Sequence[bool], start: int, length: int, bucket_seconds: int) -> float | None:
    """Minutes from a burst's start to the first alert in it (or within an hour after it), None if none."""
    stop = min(len(alerts), start + length + max(1, 3600 // bucket_seconds))
    hits = [i for i in range(start, stop) if alerts[i]]
    return (hits[0] - start) * bucket_seconds / 60 if hits else None


def burst_table(seeds: int = BURST_SEEDS, hours: float = BURST_HOURS,
                bases: Sequence[str] = ("mean", "local")) -> list[BurstRow]:
    """Detection rate and delay of ours per usual volume and burst size (hourly buckets, shapes in turn), and
    the sessions 8-17 detector's catches, for bursts sized against the topic's mean volume ("three times the
    usual hourly volume") and against their own hours (a night burst is a few night hours)."""
    rows = []
    for basis in bases:
        for volume in BURST_VOLUMES:
            for size in BURST_SIZES:
                caught, delays, before = 0, [], 0
                for seed in range(seeds):
                    rng = np.random.default_rng(1000 + seed)
                    syn = bursty(rng, Profile(volume), size, hours, SHAPES[seed % len(SHAPES)], basis=basis)
                    [b] = syn.bursts
                    delay = first_alert_delay(_ours(syn.values, 3600), b.start, b.length, 3600)
                    if delay is not None:
                        caught, delays = caught + 1, [*delays, delay]
                    before += first_alert_delay(nb_alerts(syn.values, 3600), b.start, b.length, 3600) is not None
                rows.append(BurstRow(volume, size, seeds, caught, tuple(delays), before, basis))
    return rows


SECOND_VOLUMES = (5.0, 50.0, 500.0)
SECOND_SIZES = (2.0, 3.0, 5.0)
FIRST_SIZE = 10.0
SECOND_SEEDS = 32          # 8 left the 10× day's effect inside the seed-to-seed spread (session 41)
CONTROL = "without the first burst"


@dataclass(frozen=True)
class SecondRow:
    volume: float
    size: float
    bursts: int
    caught: dict[str, int]          # per detector (ours, the sessions 8-17 one) and ours on the CONTROL series


def second_burst_table(seeds: int = SECOND_SEEDS) -> list[SecondRow]:
    """A burst of the given size 4-8 days after a 10× one (2 h each, sized against the topic's mean volume,
    hourly buckets): is it still caught? A record that over-learns one outstanding day would hide the next
    surge for weeks. The CONTROL is the same series drawn from the same seed with the first burst at 1× (no
    burst): what the 10× day costs is the difference, not the misses, most of which are second bursts that do
    not top an ordinary day's busiest hours."""
    rows = []
    for volume in SECOND_VOLUMES:
        for size in SECOND_SIZES:
            caught = dict.fromkeys(("balkanwatch", BEFORE, CONTROL), 0)
            for seed in range(seeds):
                for first_size, names in ((FIRST_SIZE, ("balkanwatch", BEFORE)), (1.0, (CONTROL,))):
                    syn = after_outstanding(np.random.default_rng(2000 + seed), Profile(volume), size,
                                            SHAPES[seed % len(SHAPES)], first_size, basis="mean")
                    second = syn.bursts[1]
                    for name in names:
                        alerts = DETECTORS["balkanwatch" if name == CONTROL else name](syn.values, 3600)
                        caught[name] += first_alert_delay(alerts, second.start, second.length, 3600) is not None
            rows.append(SecondRow(volume, size, seeds, caught))
    return rows


# -- NAB on the dev five ---------------------------------------------------------------------------------
def nab(data: list[LabelledSeries]) -> dict[str, object]:
    """Every detector on every file: standard, low-FP and low-FN scores and per-file detections."""
    out: dict[str, object] = {}
    for name, detector in DETECTORS.items():
        started = time.perf_counter()
        alerts = [detector(s.values, BUCKET_SECONDS) for s in data]
        seconds = time.perf_counter() - started
        by_profile = {p: [score_file(a, s.windows, p) for s, a in zip(data, alerts, strict=True)] for p in PROFILES}
        inside = [[a and any(lo <= i <= hi for lo, hi in s.windows) for i, a in enumerate(al)]
                  for s, al in zip(data, alerts, strict=True)]
        out[name] = {"scores": {p: normalised(fs, p) for p, fs in by_profile.items()},
                     "without_false_alerts": normalised([score_file(a, s.windows) for s, a in
                                                         zip(data, inside, strict=True)]),
                     "per_file": by_profile["standard"], "seconds": seconds,
                     "file_scores": [normalised([f]) for f in by_profile["standard"]]}
    return out


def window_ranks(data: list[LabelledSeries]) -> dict[str, list[int]]:
    """Where each labelled window ranks among its file's days (session 18's look 13, made a table): for each
    detector's evidence, how many days outside the windows (after NAB's probation) reach a higher peak than
    the window does. 0 everywhere is a detector whose threshold could be set to catch every window and
    nothing else; ours ranks by the record, the sessions 8-17 detector by its tail at that time of day."""
    day = 86_400 // BUCKET_SECONDS
    settings = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    evidence = {"balkanwatch": lambda v: surprise(v, settings).months,
                BEFORE: lambda v: nb_surprise(v, settings).months}
    out: dict[str, list[int]] = {name: [] for name in evidence}
    for s in data:
        inside = np.zeros(len(s.values), dtype=bool)
        for lo, hi in s.windows:
            inside[lo:hi + 1] = True
        for name, months_of in evidence.items():
            months = months_of(s.values)
            days = [months[lo:lo + day][~inside[lo:lo + day]].max()
                    for lo in range(probation_rows(len(months)), len(months), day)
                    if (~inside[lo:lo + day]).sum() > day // 2]
            out[name] += [int(sum(d >= months[lo:hi + 1].max() for d in days)) for lo, hi in s.windows]
    return out


def real_rates(data: list[LabelledSeries]) -> list[tuple[str, float]]:
    """Label-free: alerts a month of ours on each dev series after NAB's probation (the budget is 4)."""
    settings = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    out = []
    for s in data:
        start = probation_rows(len(s.values))
        fired = sum(r.alert for r in score_series(s.values, settings)[start:])
        out.append((ticker(s.name), fired / ((len(s.values) - start) * BUCKET_SECONDS / MONTH_SECONDS)))
    return out


def surge_free_windows(data: list[LabelledSeries]) -> int:
    """Labelled windows in which the model's evidence never reaches the shipped threshold (no surge to see)."""
    settings = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    count = 0
    for s in data:
        months = surprise(s.values, settings).months
        count += sum(months[lo:hi + 1].max() < settings.months_needed for lo, hi in s.windows)
    return count


def run() -> dict[str, object]:
    started = time.perf_counter()
    quiet = {b: quiet_table(b, n) for b, n in QUIET_SEEDS.items()}
    bursts = burst_table()
    second = second_burst_table()
    synthetic_seconds = time.perf_counter() - started
    data = spikes_dev()
    return {"quiet": quiet, "bursts": bursts, "second": second, "synthetic_seconds": synthetic_seconds,
            "nab": nab(data), "ranks": window_ranks(data), "real_rates": real_rates(data),
            "surge_free": surge_free_windows(data), "files": [s.name for s in data],
            "rows": sum(len(s.values) for s in data),
            "windows": sum(len(s.windows) for s in data), "looks": DEV_LOOKS,
            "same_files": five_file_anchors(data), "settings": SpikeSettings(bucket_seconds=BUCKET_SECONDS)}
