"""The negative-binomial detector balkanwatch shipped in sessions 8-17 (issue #14), kept as a bench baseline.

For every bucket: the window sums over the last 1 and 3 hours against the count model's expectation at that
time of day (spikes._model: a Poisson–gamma level × seasonal profile, each span's dispersion learnt online),
the negative-binomial mid-p tail of each, checked against the series' own record (p ** β, β from how often
p < 1 % came), turned into months between such windows (w / p over the spans); alert at months ≥
1 / rate with the product's volume floor, cooldown and re-arming. Its rate was "false alerts a month on
ordinary noise": honest on synthetic noise, about three times that on real mention counts, and it ranked
ordinary surges at quiet hours above labelled incidents (docs/design.md, session 18). The bench scores it
beside the detector that replaced it, on the same files in the same run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from balkanwatch.spikes import (
    MONTH_SECONDS,
    WARMUP_SECONDS,
    SpikeSettings,
    Surprise,
    _discount,
    _model,
    _window_sums,
    decide,
    seasonal_factor,
)

CAL_LEVEL = 0.01               # the tail is checked against the series' own record at p = 1 %…
CAL_HALF_LIFE = 14 * 86_400    # …over about two weeks of windows…
CAL_PRIOR_SECONDS = 2 * 86_400  # …starting from two days' worth of windows that were exactly honest
BETA_MIN = 0.5                 # a record can at most halve the tail's exponent


def nb_mid_p(observed: np.ndarray, mean: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """P(X > observed) + ½ P(X = observed) for X negative binomial of this mean and dispersion φ
    (variance mean + φ·mean²); Poisson where φ·mean is negligible (scipy.special's closed forms)."""
    k = np.floor(np.maximum(observed, 0.0))
    mean = np.maximum(mean, 1e-12)
    phi = np.maximum(dispersion, 1e-12)
    size = 1.0 / phi
    prob = size / (size + mean)
    poisson = phi * mean < 1e-6
    with np.errstate(all="ignore"):
        lgk = special.gammaln(k + 1)
        nb = (special.betainc(k + 1, size, 1 - prob)
              + 0.5 * np.exp(special.gammaln(k + size) - special.gammaln(size) - lgk
                             + size * np.log(prob) + k * np.log1p(-prob)))
        po = special.gammainc(k + 1, mean) + 0.5 * np.exp(k * np.log(mean) - mean - lgk)
    return np.asarray(np.clip(np.where(poisson, po, nb), 1e-300, 1.0), dtype=float)


def _decayed_sum(x: np.ndarray, keep: float) -> np.ndarray:
    """y[t] = x[t] + keep · y[t-1]."""
    y = np.empty(len(x))
    acc = 0.0
    for t, v in enumerate(x.tolist()):
        acc = v + keep * acc
        y[t] = acc
    return y


def tail_exponent(p: np.ndarray, valid: np.ndarray, m: int, s: SpikeSettings) -> np.ndarray:
    """Per bucket, β in [BETA_MIN, 1] mapping CAL_LEVEL onto how often p < CAL_LEVEL came in the history."""
    keep = _discount(CAL_HALF_LIFE, s)
    hits = _decayed_sum(((p < CAL_LEVEL) & valid).astype(float), keep)
    seen = _decayed_sum(valid.astype(float), keep)

    def shift(a: np.ndarray) -> np.ndarray:   # windows ended ≥ m buckets ago
        return np.concatenate([np.zeros(m), a])[: len(a)]

    prior = CAL_PRIOR_SECONDS / s.bucket_seconds
    freq = (shift(hits) + CAL_LEVEL * prior) / (shift(seen) + prior)
    return np.asarray(np.clip(np.log(freq) / math.log(CAL_LEVEL), BETA_MIN, 1.0))


def nb_surprise(values: Sequence[float], s: SpikeSettings) -> Surprise:
    """Months between windows as rare as each bucket's (the best span), at its time of day."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mu, phi = _model(x, seasonal_factor(x, s), s, s.scales)
    best, best_m = np.zeros(n), np.full(n, s.scales[0], dtype=int)
    observed = {}
    for m in s.scales:
        obs, base = _window_sums(x, m), _window_sums(mu, m)
        p = nb_mid_p(np.nan_to_num(obs), np.nan_to_num(base), phi[m])
        p = p ** tail_exponent(p, np.isfinite(obs), m, s)
        chances = MONTH_SECONDS / (m * s.bucket_seconds) * len(s.scales)   # windows of this span a month
        months = np.where(np.isfinite(obs), 1.0 / (p * chances), 0.0)
        observed[m] = obs
        better = months > best
        best, best_m = np.where(better, months, best), np.where(better, m, best_m)
    best[: min(n, s.buckets(WARMUP_SECONDS))] = 0.0
    return Surprise(x, mu, best, best_m, observed)


def nb_alerts(values: Sequence[float], bucket_seconds: int, rate_per_month: float = 1.0) -> list[bool]:
    """The sessions 8-17 default: one false alert a month on ordinary noise, spans 1 h and 3 h."""
    s = SpikeSettings(bucket_seconds=bucket_seconds, alerts_per_month=rate_per_month, escalation=math.inf)
    if len(values) == 0:
        return []
    return [r.alert for r in decide(nb_surprise(values, s), s)]
