"""Synthetic count series with known truth: where the spike detector's structure and constants are decided.

The issue's protocol (docs/design.md, "Spike detection: the protocol"): design and fix constants here, on
series whose ordinary noise and bursts are known, and only then score the labelled NAB files. A series is

    expected(t) = level × daily cycle × weekday/weekend factor × trend × latent drift
    counts(t)   ~ NegativeBinomial(mean = expected(t) + burst(t), size = k)

- the level covers what analysts meet: 0.05 to 500 items per bucket, hourly or 5-minute buckets;
- the latent drift is a slow AR(1) on the log rate (hours-long wobbles a week of history has seen before),
  the main source of overdispersion in real mention counts besides the negative-binomial size k;
- a burst adds (size − 1) × the usual volume of its buckets, in one of four shapes: a step, a spike (most
  of it in the first hour), a ramp that builds over its length, a jump that decays;
- *flashes* (`flashes_per_day`, experiments only): minutes-long clumps of items — a site publishing a
  backlog at once, a retweet storm — of Pareto sizes; an hourly window sums them with everything else;
- *news* (the `newsy` families) is part of the ordinary noise, not of the truth to detect: unlabelled bursts
  at random times, a few a week, 1 to 6 hours long, of Pareto-distributed sizes (most +50 % to +100 %, now
  and then ten times the volume). Real mention counts look like this — stories come in clusters all the
  time — and an analyst who asks for one alert a month wants the month's outstanding surge, not every
  cluster. The shipped detector alerts up to 4.4 times a month here (hourly, at 1 configured).

Pure functions of a numpy Generator: the same seed gives the same series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DAY = 86_400
MONTH_SECONDS = 30 * DAY
SHAPES = ("step", "spike", "ramp", "decay")
NEWS_MIN = 0.5                      # the smallest ordinary news burst adds half the usual volume
NEWS_HOURS = (1, 2, 3, 6)
FLASH_MIN = 0.2                     # the smallest flash adds a fifth of an hour's usual volume…
FLASH_BUCKETS = (1, 2, 3)           # …within one to three 5-minute buckets
FLASH_SECONDS = 300
# *flashy* series: *newsy* plus two flashes a day (Pareto index 1.2; bench/flash_cap_experiment.py). Fitted
# label-free (session 16)
# on how the five real 5-minute series spread an hour's items over its twelve buckets: the 99th percentile
# of the within-hour dispersion (χ² / 11 of the buckets against an even spread) is 45-957 on the three busy
# real series, 4-21 on *newsy* at 50-500 an hour, 19-202 with these flashes; the busiest bucket's share of its
# hour (99th percentile) 0.23-0.48 real, 0.18-0.28 newsy, 0.41-0.45 flashy. Their one-hour tails were
# already as heavy as the heaviest real series' on *newsy*; flashes add little there. Not a quiet family of
# the bench: treating flashes as noise lost 10 of 13 labelled catches on the dev files (docs/design.md).
FLASHY_PER_DAY = 2.0


@dataclass(frozen=True)
class Burst:
    start: int          # first bucket of the burst
    length: int         # buckets
    size: float         # the burst's buckets hold `size` × their usual volume (2 = twice as many items)
    shape: str = "step"
    basis: str = "local"  # "local": size × the usual volume of its own buckets (a night burst is a night's
                          # volume times size); "mean": (size − 1) × the topic's mean volume a bucket added
                          # (a burst of 3× the usual hourly volume brings two ordinary hours' items an hour)


@dataclass(frozen=True)
class Profile:
    """What a synthetic topic looks like without bursts."""

    level: float                    # mean items per bucket
    bucket_seconds: int = 3600
    days: int = 42
    daily: float = 0.5              # amplitude of the daily cycle (0 = flat, 0.9 = near-silent nights)
    weekend: float = 1.0            # weekend volume against weekdays (0.3 = news-like quiet weekends)
    trend: float = 0.0              # relative change over the whole series (+0.5 = half as much again)
    k: float = 20.0                 # negative-binomial size (variance mean + mean²/k); inf = Poisson
    drift_sd: float = 0.1           # sd of the latent log-rate wobble
    drift_hours: float = 6.0        # its correlation time
    news_per_week: float = 0.0      # ordinary unlabelled bursts a week (0 = none)
    news_alpha: float = 1.5         # Pareto index of their extra volume: P(extra > x·NEWS_MIN) = x ** -alpha
    flashes_per_day: float = 0.0    # ordinary flashes a day: minutes-long clumps of items (0 = none)
    flash_alpha: float = 1.2        # Pareto index of a flash's extra volume, in hours of usual volume


@dataclass(frozen=True)
class Synthetic:
    profile: Profile
    values: np.ndarray
    usual: np.ndarray               # expected counts without bursts (the truth the detector estimates)
    bursts: tuple[Burst, ...] = field(default=())

    @property
    def months(self) -> float:
        return len(self.values) * self.profile.bucket_seconds / MONTH_SECONDS


def usual_volume(rng: np.random.Generator, p: Profile) -> np.ndarray:
    """The expected count of every bucket: level × daily cycle × weekend × trend × latent drift."""
    n = p.days * DAY // p.bucket_seconds
    t = np.arange(n) * p.bucket_seconds
    hour = (t % DAY) / 3600
    daily = 1 + p.daily * np.sin(2 * math.pi * (hour - 9) / 24)          # peaks mid-afternoon
    weekend = np.where((t // DAY) % 7 >= 5, p.weekend, 1.0)
    trend = 1 + p.trend * t / max(t[-1], 1)
    rho = math.exp(-p.bucket_seconds / (p.drift_hours * 3600))
    shocks = rng.normal(0.0, p.drift_sd * math.sqrt(1 - rho**2), n)
    drift = np.empty(n)
    drift[0] = rng.normal(0.0, p.drift_sd)
    for i in range(1, n):
        drift[i] = rho * drift[i - 1] + shocks[i]
    mean = daily * weekend * trend * np.exp(drift - p.drift_sd**2 / 2)
    return p.level * mean / mean.mean()     # the level is the series' mean volume


def burst_volume(usual: np.ndarray, b: Burst) -> np.ndarray:
    """Extra items of one burst, per bucket: (size − 1) × the usual volume of its buckets, spread by shape."""
    n = len(usual)
    extra = np.zeros(n)
    lo, hi = b.start, min(b.start + b.length, n)
    if hi <= lo:
        return extra
    steps = np.arange(hi - lo, dtype=float)
    weights = {"step": np.ones(hi - lo),
               "spike": np.exp(-3.0 * steps / max(hi - lo, 1)),
               "ramp": steps + 1.0,
               "decay": np.exp(-1.5 * steps / max(hi - lo, 1))}[b.shape]
    basis = usual[lo:hi].sum() if b.basis == "local" else float(usual.mean()) * (hi - lo)
    total = (b.size - 1.0) * basis
    extra[lo:hi] = total * weights / weights.sum()
    return extra


def draw(rng: np.random.Generator, mean: np.ndarray, k: float) -> np.ndarray:
    """Negative-binomial counts of the given means (Poisson when k is infinite)."""
    if math.isinf(k):
        return rng.poisson(mean).astype(float)
    return rng.negative_binomial(k, k / (k + np.maximum(mean, 1e-12))).astype(float)


def news_volume(rng: np.random.Generator, usual: np.ndarray, p: Profile) -> np.ndarray:
    """Extra items of the ordinary news bursts of profile p (none when p.news_per_week is 0)."""
    extra = np.zeros(len(usual))
    if p.news_per_week <= 0:
        return extra
    per_hour = max(1, 3600 // p.bucket_seconds)
    for _ in range(rng.poisson(p.news_per_week * p.days / 7)):
        size = 1.0 + NEWS_MIN * (rng.pareto(p.news_alpha) + 1.0)
        length = int(rng.choice(NEWS_HOURS)) * per_hour
        start = int(rng.integers(0, max(1, len(usual) - length)))
        extra += burst_volume(usual, Burst(start, length, size, str(rng.choice(SHAPES))))
    return extra


def flash_volume(rng: np.random.Generator, usual: np.ndarray, p: Profile) -> np.ndarray:
    """Extra items of the ordinary flashes of profile p (none when p.flashes_per_day is 0): FLASH_MIN ×
    (Pareto(flash_alpha) + 1) hours of the usual volume arriving within 5 to 15 minutes, at random times. In
    hourly buckets a flash lands inside one hour's count."""
    extra = np.zeros(len(usual))
    if p.flashes_per_day <= 0:
        return extra
    per_hour = 3600 / p.bucket_seconds
    for _ in range(rng.poisson(p.flashes_per_day * p.days)):
        buckets = max(1, round(int(rng.choice(FLASH_BUCKETS)) * FLASH_SECONDS / p.bucket_seconds))
        start = int(rng.integers(0, max(1, len(usual) - buckets)))
        hours = FLASH_MIN * (rng.pareto(p.flash_alpha) + 1.0)
        extra[start: start + buckets] += hours * per_hour * usual[start] / buckets
    return extra


def ordinary_volume(rng: np.random.Generator, p: Profile) -> np.ndarray:
    """The expected count of every bucket without labelled bursts: the usual volume, its news bursts and its
    flashes (the unlabelled clusters are ordinary noise)."""
    usual = usual_volume(rng, p)
    usual = usual + news_volume(rng, usual, p)
    return usual + flash_volume(rng, usual, p)


def generate(rng: np.random.Generator, p: Profile, bursts: tuple[Burst, ...] = ()) -> Synthetic:
    """A series of profile p with the given bursts; `usual` includes the profile's ordinary news bursts
    and flashes."""
    usual = ordinary_volume(rng, p)
    extra = sum((burst_volume(usual, b) for b in bursts), np.zeros(len(usual)))
    return Synthetic(p, draw(rng, usual + extra, p.k), usual, bursts)


# -- the families the bench and the tests draw from ----------------------------------------------------------
VOLUMES = (0.05, 0.5, 5.0, 50.0, 500.0)     # items per bucket, from a story every 20 hours to a wire feed


def quiet_profiles(bucket_seconds: int = 3600, days: int = 56) -> dict[str, Profile]:
    """Burst-free families: each volume, plain and with news-like weekends, a trend, heavy overdispersion and
    ordinary news bursts (three a week, Pareto index 1.5). Flashes (FLASHY_PER_DAY) are not among them:
    on the real series they carry the labelled anomalies (docs/design.md, session 16)."""
    out = {}
    for v in VOLUMES:
        level = v * bucket_seconds / 3600
        out[f"{v:g}/h"] = Profile(level, bucket_seconds, days)
        out[f"{v:g}/h weekly"] = Profile(level, bucket_seconds, days, daily=0.7, weekend=0.3)
        out[f"{v:g}/h trend"] = Profile(level, bucket_seconds, days, trend=1.0)
        out[f"{v:g}/h heavy"] = Profile(level, bucket_seconds, days, k=3.0, drift_sd=0.25)
        out[f"{v:g}/h newsy"] = Profile(level, bucket_seconds, days, news_per_week=3.0)
    return out


def bursty(rng: np.random.Generator, p: Profile, size: float, hours: float, shape: str,
           first_day: int = 28, basis: str = "local") -> Synthetic:
    """A series of profile p with one burst of the given size, length, shape and basis (Burst) at a random
    time after `first_day` (enough history for the weekly factor), at least a day before the end."""
    per_day = DAY // p.bucket_seconds
    length = max(1, int(round(hours * 3600 / p.bucket_seconds)))
    start = int(rng.integers(first_day * per_day, (p.days - 1) * per_day - length))
    return generate(rng, p, (Burst(start, length, size, shape, basis),))


def after_outstanding(rng: np.random.Generator, p: Profile, size: float, shape: str = "step",
                      first_size: float = 10.0, basis: str = "local") -> Synthetic:
    """A series of profile p (hourly) with a 2-hour `first_size`× burst on day 28-33 and a 2-hour `size`×
    burst of the given shape 4-8 days later, both of the given basis (Burst): does one outstanding day hide
    the next surge?"""
    first = int(rng.integers(28 * 24, 33 * 24))
    second = first + int(rng.integers(4 * 24, 8 * 24))
    return generate(rng, p, (Burst(first, 2, first_size, "step", basis), Burst(second, 2, size, shape, basis)))


def shifted(rng: np.random.Generator, p: Profile, factor: float, first_day: int = 28) -> tuple[Synthetic, int]:
    """A series of profile p whose usual volume is multiplied by `factor` from a random bucket on days
    first_day to days − 7 on and stays there (a topic that doubles or halves for good): no labelled burst,
    the regime change is the ordinary noise to learn. Returns the series and the shift's first bucket."""
    per_day = DAY // p.bucket_seconds
    start = int(rng.integers(first_day * per_day, (p.days - 7) * per_day))
    usual = ordinary_volume(rng, p)
    usual[start:] *= factor
    return Synthetic(p, draw(rng, usual, p.k), usual), start
