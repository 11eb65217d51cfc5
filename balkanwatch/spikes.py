"""Spike detection on count series: pure functions, no I/O.

A series is one count per time bucket (unique stories of a topic per hour, tweets per 5 minutes). For every
bucket the detector says how rare the last hour or three would be at the topic's usual volume, from that
bucket and the ones before it only:

    counts | seasonal profile (time of day × day of week) | level (discounted Poisson–gamma)
           | expected count of every bucket | window sums over the last 1 and 3 hours
           | negative-binomial tail with each span's dispersion learnt online | checked against the series'
           own record | months between such surges | capped by the topic's record of daily maxima
           | alert (≥ 1 / alerts.false_alerts_per_month, volume floor, cooldown, re-arm)

- **Expected**: the topic's level times its seasonal profile. The profile is the median of the same time
  of day (± half an hour) over the last week against the week's median, times the weekly factor (the day
  around the same time of week in the last four weeks against an ordinary day): news is quieter at night
  and at weekends. The level is a Poisson–gamma estimate of the deseasonalised rate with a memory of
  `LEVEL_HALF_LIFE`: discounted items over discounted exposure. Each bucket enters it winsorised at
  `CLIP_SD` predictive standard deviations, so a surge does not become its own baseline within the hour,
  while a lasting rise (a ramp, a new level) does within a day or two.
- **Dispersion**: mention counts vary more than Poisson (a plain Poisson tail floods with false alarms).
  For every span the variance of its window sum is E + φ·E², with φ the moment estimate over the last
  `DISPERSION_HALF_LIFE` of windows that ended before the current one began (winsorised the same way), plus
  the level's own uncertainty (1/items in its memory: a topic with a story a day knows its rate poorly).
  A new topic starts from `PRIOR_DISPERSION`, forgotten as windows arrive; the tail uses the estimate ×
  `TAIL_INFLATION` (estimated parameters make the predictive heavier-tailed than a fitted negative binomial).
  So a series' dispersion at the hour and three-hour scale is learnt at that scale, whatever the bucket.
- **Evidence**: for each span (`SCALE_SECONDS`, `alerts.surge_hours`) the window sum ending at this bucket
  against the negative binomial of that mean and dispersion (mid-p, since counts are discrete). A surge
  that builds over an hour alerts as soon as the last hour's sum is rare enough, a slower one when the
  three-hour sum is: the scan over window lengths is the likelihood-ratio test of "the rate went up at
  some point in the last few hours".
- **Honest tails**: a real series can be heavier-tailed than any negative binomial. Each span's p is
  checked against the series' own record: if windows with p < 1 % came more often than 1 % of the time,
  p ** β (β < 1) maps 1 % onto the observed frequency and extends the same power law into the tail.
- **The record of surges** (opt-in, `alerts.record_check`): a topic where stories cluster every few days (ordinary news) has surges the
  counts' own tails do not predict. The biggest surprise of each day, as log-months, follows a Gumbel law
  when the model is honest (location ln 1/30, scale 1: "once a month" is exceeded on one day in 30). The
  last weeks' daily maxima are fitted with the same law (through their median and 90th percentile, days
  discounted over `RECORD_HALF_LIFE_DAYS`, prior `RECORD_PRIOR_DAYS` of honest days); where they say a
  surprise is commoner on this topic than the model thinks, the record wins — never the other way. On the
  synthetic `newsy` families (three ordinary news bursts a week, Pareto sizes) false alerts fell from
  0.6-4.4 to 0.4-2.4 a month at 1 configured (hourly), heavy families from 1.3-1.8 to 0.8-1.0, and a 3× or 5×
  burst a few days after a 10× one is caught about as often as without the record. It is not the default:
  on the five dev NAB series it brought false alerts from 26 to 7 (0.8 a month, the configured rate) and
  missed 6 of 16 labelled windows instead of 3 — those surges were not outstanding against their series'
  own last weeks (docs/design.md, looks 5 and 6).
- **Months**: a tail probability p over a window of w seconds is turned into the expected waiting time
  between windows as rare, w / p seconds, divided by the number of spans looked at (Bonferroni). Sliding
  the window bucket by bucket was measured to add no chances worth counting (a factor (w/bucket)^γ fitted
  γ ≈ 0 on 5-minute synthetic series). `months` is that waiting time; an alert needs months ≥
  1 / false_alerts_per_month, so the threshold is the false-alarm rate an analyst chooses.
  score = months / (1 + months): 0.5 is "once a month".
- **Alert**: rare enough, at least `min_count` items in the window that fired, not within the cooldown of
  the previous alert, and re-armed (months fell below a third of the threshold for `rearm_seconds`): one
  alert per surge, not one per bucket of it.

The constants were fixed on synthetic series with known truth (bench/synthetic.py, bench/spikes_eval.py's
synthetic table) before the labelled NAB files were scored; docs/design.md has the protocol and the count
of looks at those files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import numpy as np
from scipy import special

DAY = 86_400
MONTH_SECONDS = 30 * DAY

# The alert threshold is a rate, not a score: the analyst's "about once a month on ordinary noise".
FALSE_ALERTS_PER_MONTH = 1.0
COOLDOWN_SECONDS = DAY     # at most one alert a day per topic; a news surge lasts hours to a day
REARM_SECONDS = 6 * 3600   # …and only after the evidence stayed below a third of the threshold for six hours
CALM_FRACTION = 1 / 3      # "below a third of the threshold": months < CALM_FRACTION / false_alerts_per_month
MIN_COUNT = 3              # volume floor: never alert on one or two items, however quiet the baseline
SCALE_SECONDS = (3600, 3 * 3600)  # spans the evidence is judged over, whatever the bucket width: a surge is
                           # news arriving over an hour or a few, not one 5-minute blip (feeds deliver in
                           # bursts at poll time). alerts.surge_hours adds 12 for day-long builds.

# Model constants, fixed on the synthetic families (bench/spikes_eval.py, synthetic table).
LEVEL_HALF_LIFE = DAY          # memory of the level
DISPERSION_HALF_LIFE = 7 * DAY  # memory of each span's dispersion: a whole week, weekend included
CLIP_SD = 3.0                  # winsorising of what enters the level and the dispersion, in predictive sds
PRIOR_DISPERSION = 0.25        # a new topic's dispersion (negative-binomial size 4, ordinary for news counts)…
PRIOR_DISPERSION_SECONDS = 2 * DAY  # …weighted as two days of windows: the moment estimate takes over in a week
PRIOR_ITEMS = 0.5              # the level's prior: half an item over one memory length (a silent topic's
                               # level is small but not zero, and very uncertain)
TAIL_INFLATION = 1.1           # the tail's dispersion against the moment estimate: estimated parameters make the
                               # predictive heavier-tailed than a negative binomial of the same variance
CAL_LEVEL = 0.01               # the tail is checked against the series' own record at p = 1 %…
CAL_HALF_LIFE = 14 * DAY       # …over about two weeks of windows (10-20 such windows a fortnight when honest)…
CAL_PRIOR_SECONDS = 2 * DAY    # …starting from two days' worth of windows that were exactly honest
RECORD_HALF_LIFE_DAYS = 14     # the daily record of surprises is remembered over about two weeks…
RECORD_PRIOR_DAYS = 7          # …starting from a week of days whose maxima were exactly what the model predicts
                               # (both measured insensitive: 14/7, 21/3, 28/4 and 14/2 gave the same tables)
RECORD_QUANTILE = 0.9          # the record's Gumbel goes through its median and 90th percentile (0.8: newsy
                               # families 0.3-3.0 false alerts a month; 0.9: 0.4-2.4, second bursts as caught)
BETA_MIN = 0.5                 # p ** β, β ≥ 0.5: a record can at most halve the tail's exponent. On the heavy
                               # synthetic families (size 3, strong drift) false alerts fell from 1.7-2.4 to
                               # 1.0-1.6 a month, plain families and burst detection unchanged
PROFILE_TRIM = 0.1             # the profile is a mean without the top tenth of its values (a burst a day ago is
                               # not a time-of-day pattern); a median of the same values was noisier (below)
PROFILE_DAYS = 14              # days of same-time-of-day history in the daily profile
PROFILE_HALF_SECONDS = 5400    # ± this around the time of day for the profile (± 30 min gave hourly topics
                               # one value a day: 24-31 % noise in every expectation)
WARMUP_SECONDS = 2 * DAY       # no evidence before two days of history (level and profile need it)
WEEKLY_WEEKS = 4               # weeks of same-time-of-week history in the weekly factor (used from one week on)
WEEKLY_WINDOW_SECONDS = 12 * 3600  # the same time of week ± 6 hours (a day blurred Monday morning into the
                               # weekend: 2-3 false alerts a month; 4 h was noisy on every other series)
WEEKLY_LIMITS = (0.2, 5.0)     # the weekly factor is clipped to these: a holiday week must not zero the baseline


def span_seconds(hours: Iterable[float]) -> tuple[int, ...]:
    """Spans given in hours (alerts.surge_hours, --surge-hours) as SpikeSettings.scale_seconds."""
    return tuple(int(h * 3600) for h in hours)


@dataclass(frozen=True)
class SpikeSettings:
    bucket_seconds: int = 3600
    false_alerts_per_month: float = FALSE_ALERTS_PER_MONTH
    cooldown_seconds: int = COOLDOWN_SECONDS
    rearm_seconds: int = REARM_SECONDS
    min_count: float = MIN_COUNT
    scale_seconds: tuple[int, ...] = field(default=SCALE_SECONDS)
    record_check: bool = False      # also judge against the topic's record of daily peaks (opt-in, below)

    def buckets(self, seconds: float) -> int:
        return max(1, int(round(seconds / self.bucket_seconds)))

    @property
    def scales(self) -> tuple[int, ...]:
        """The spans in buckets (an hour is 1 hourly bucket or 12 five-minute ones)."""
        return tuple(sorted({self.buckets(seconds) for seconds in self.scale_seconds}))

    @property
    def months_needed(self) -> float:
        """The rarity an alert needs: surges this unusual happen once in this many months of ordinary noise."""
        return 1.0 / self.false_alerts_per_month

    @property
    def threshold(self) -> float:
        """The score at which a topic alerts (score = months / (1 + months))."""
        return self.months_needed / (1.0 + self.months_needed)


@dataclass(frozen=True)
class Scored:
    """The detector's view of one bucket."""

    index: int
    value: float
    expected: float     # expected count in this bucket
    score: float        # in [0, 1], causal: months / (1 + months)
    alert: bool
    scale: int          # buckets in the window that gave the strongest evidence
    observed: float     # count in that window
    baseline: float     # expected count in that window
    months: float = 0.0  # ordinary noise is this rare about once in `months` months


def rarity(months: float) -> str:
    """How an alert is explained (e-mail, backtest): 'about once in 14 months at this topic's usual volume'."""
    if months >= 1200:
        return "rarer than once in a century at this topic's usual volume"
    if months >= 24:
        return f"about once in {months / 12:.0f} years at this topic's usual volume"
    return f"about once in {months:.1f} months at this topic's usual volume"


def weekly_factor(x: np.ndarray, s: SpikeSettings) -> np.ndarray:
    """Causal day-of-week factor per bucket: the median count of the WEEKLY_WINDOW_SECONDS window centred on
    the same time of week in the last WEEKLY_WEEKS weeks, against the median count of the same window on
    every day of those weeks (+1 per bucket to both, so sparse series stay near 1). Needs no calendar alignment; 1 where a week of history is missing
    or buckets are a day or longer."""
    n = len(x)
    if s.bucket_seconds >= DAY or n == 0:
        return np.ones(n)
    period, width = s.buckets(DAY), s.buckets(WEEKLY_WINDOW_SECONDS)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(n)

    def day_sum(lag_days: int) -> np.ndarray:    # the window centred on this time of day lag_days before
        lo = t - lag_days * period - width // 2
        out = np.full(n, np.nan)
        ok = lo >= 0
        out[ok] = csum[lo[ok] + width] - csum[lo[ok]]
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN rows: no history yet
        same = np.nanmedian(np.vstack([day_sum(7 * w) for w in range(1, WEEKLY_WEEKS + 1)]), axis=0)
        usual = np.nanmedian(np.vstack([day_sum(d) for d in range(1, 7 * WEEKLY_WEEKS + 1)]), axis=0)
    factor = (same + width) / (usual + width)
    clipped: np.ndarray = np.clip(np.nan_to_num(factor, nan=1.0), *WEEKLY_LIMITS)
    return clipped


def _span_mean(y: np.ndarray, width: int) -> np.ndarray:
    """Mean of each bucket and the width − 1 before it (fewer at the start); y itself when width is 1.

    Buckets finer than the shortest span (5-minute counts against a 1-hour span) hold small integers, and
    a median of small integers is 0 or 1, not the level: an expected hour of 6.4 for a true 3.8 made a
    burst of 60 in an hour score below the threshold (tests/test_spikes.py, 5-minute buckets).
    """
    if width <= 1:
        return y
    csum = np.concatenate([[0.0], np.cumsum(y)])
    t = np.arange(1, len(y) + 1)
    mean: np.ndarray = (csum[t] - csum[np.maximum(t - width, 0)]) / np.minimum(t, width)
    return mean


def seasonal_factor(x: np.ndarray, s: SpikeSettings) -> np.ndarray:
    """Causal time-of-day × day-of-week factor per bucket (1 = an ordinary bucket of this topic).

    The daily profile: the trimmed mean of the shortest span's running mean around the same time of day
    (± PROFILE_HALF_SECONDS, centred) over the last PROFILE_DAYS days, against the mean of those slot values
    over the last day (+1 to both, so sparse series stay flat); from two days of history on. Times the
    weekly factor. On flat negative-binomial series the expectation's relative sd was 24–31 % with a median
    of 7 days × ± 30 min and is 10–13 % with this, and the predictive tails came out calibrated
    (P(p < 0.001) / 0.001 = 0.8–1.4, against 2–3.4 before).
    """
    weekly = weekly_factor(x, s)
    width = s.scales[0]
    y = _span_mean(x / weekly, width)
    period = s.buckets(DAY)
    if period < 2:
        return weekly
    half = s.buckets(PROFILE_HALF_SECONDS) if PROFILE_HALF_SECONDS >= s.bucket_seconds else 0
    centre = width // 2     # y[t] is the mean of the span ending at t: a day ago, look half a span later
    lagged = [np.concatenate([np.full(d * period - o - centre, np.nan), y])[: len(y)]
              for d in range(1, PROFILE_DAYS + 1) for o in range(-half, half + 1)]
    slot = _trimmed_mean(np.vstack(lagged).T, PROFILE_TRIM)
    typical = _span_mean(np.nan_to_num(slot), period)      # the slots' mean over the last day of buckets
    factor = (slot + 1.0) / (typical + 1.0)
    have_profile = np.arange(len(y)) >= 2 * period
    seasonal: np.ndarray = np.where(have_profile & np.isfinite(factor), factor, 1.0) * weekly
    return seasonal


def _trimmed_mean(rows: np.ndarray, trim: float) -> np.ndarray:
    """Mean of each row's values without its largest `trim` share (NaNs ignored; NaN for an all-NaN row)."""
    ordered = np.sort(rows, axis=1)                       # NaNs sort last
    count = np.isfinite(rows).sum(axis=1)
    keep = np.maximum(np.floor(count * (1 - trim)), 1).astype(int)
    csum = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(np.nan_to_num(ordered), axis=1)], axis=1)
    out = csum[np.arange(len(rows)), keep] / keep
    return np.where(count > 0, out, np.nan)


def _discount(half_life: float, s: SpikeSettings) -> float:
    return float(0.5 ** (s.bucket_seconds / half_life))   # float ** float is typed Any (it may be complex)


def _nb_mid_p(observed: np.ndarray, mean: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """P(X > observed) + ½ P(X = observed) for X negative binomial of this mean and dispersion φ
    (variance mean + φ·mean²); Poisson where φ·mean is negligible."""
    k = np.floor(np.maximum(observed, 0.0))
    mean = np.maximum(mean, 1e-12)
    phi = np.maximum(dispersion, 1e-12)
    size = 1.0 / phi
    prob = size / (size + mean)
    poisson = phi * mean < 1e-6
    # The closed forms of scipy.stats' nbinom/poisson sf and pmf (scipy.special imports in a quarter of the
    # time scipy.stats takes, ~1 s of every command that scores): P(X > k) = I_{1-p}(k+1, n) and
    # Q(k+1, mean) = gammainc(k+1, mean) for the Poisson.
    with np.errstate(all="ignore"):
        lgk = special.gammaln(k + 1)
        nb = (special.betainc(k + 1, size, 1 - prob)
              + 0.5 * np.exp(special.gammaln(k + size) - special.gammaln(size) - lgk
                             + size * np.log(prob) + k * np.log1p(-prob)))
        po = special.gammainc(k + 1, mean) + 0.5 * np.exp(k * np.log(mean) - mean - lgk)
    return np.asarray(np.clip(np.where(poisson, po, nb), 1e-300, 1.0), dtype=float)


@dataclass(frozen=True)
class Surprise:
    """Per-bucket arrays of the scoring pass; the alert pass only reads them (cheap to re-run per rate)."""

    values: np.ndarray
    expected: np.ndarray
    months: np.ndarray              # the strongest evidence's waiting time in months (0 in the warm-up)
    scale: np.ndarray               # buckets of the window that gave it
    observed: dict[int, np.ndarray]

    @property
    def score(self) -> np.ndarray:
        return self.months / (1.0 + self.months)


def _model(x: np.ndarray, season: np.ndarray, s: SpikeSettings) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """One causal pass: the expected count of every bucket and, per span, the dispersion of its window sum.

    Bucket t's expectation and the dispersions used at t come from buckets before t only; a span's
    dispersion from windows that ended before the current window began.
    """
    n = len(x)
    level_keep, disp_keep = _discount(LEVEL_HALF_LIFE, s), _discount(DISPERSION_HALF_LIFE, s)
    memory = 1.0 / (1.0 - level_keep)
    items, exposure = PRIOR_ITEMS, PRIOR_ITEMS * memory      # prior: half an item in one memory length
    spans = sorted({1, *s.scales})
    mu = np.zeros(n)
    cmu, cx = np.zeros(n + 1), np.concatenate([[0.0], np.cumsum(x)])
    num = dict.fromkeys(spans, 0.0)
    den = dict.fromkeys(spans, 0.0)
    seen = dict.fromkeys(spans, 0.0)                          # discounted count of windows in num, den
    prior = dict.fromkeys(spans, PRIOR_DISPERSION_SECONDS / s.bucket_seconds)   # the prior's weight, in
                                                                                # windows, forgotten alike
    phi = {m: np.zeros(n) for m in spans}
    last_phi = dict.fromkeys(spans, PRIOR_DISPERSION)
    for t in range(n):
        rate = items / exposure
        mu[t] = rate * season[t]
        cmu[t + 1] = cmu[t] + mu[t]
        for m in spans:
            end = t - m                       # the newest window that does not overlap the one ending at t
            if end >= m - 1:
                e = cmu[end + 1] - cmu[end + 1 - m]
                o = cx[end + 1] - cx[end + 1 - m]
                o = min(o, e + CLIP_SD * math.sqrt(e + (last_phi[m] + 1.0 / items) * e * e) + 1.0)
                num[m] = disp_keep * num[m] + (o - e) ** 2 - o
                den[m] = disp_keep * den[m] + e * e
                seen[m], prior[m] = disp_keep * seen[m] + 1.0, disp_keep * prior[m]
                moment = max(num[m] / den[m], 0.0) if den[m] > 0 else PRIOR_DISPERSION
                last_phi[m] = (seen[m] * moment + prior[m] * PRIOR_DISPERSION) / (seen[m] + prior[m])
            phi[m][t] = TAIL_INFLATION * last_phi[m] + 1.0 / items
        cap = mu[t] + CLIP_SD * math.sqrt(mu[t] + phi[1][t] * mu[t] ** 2) + 1.0
        items = level_keep * items + min(x[t], cap)
        exposure = level_keep * exposure + season[t]
    return mu, {m: phi[m] for m in s.scales}


def _decayed_sum(x: np.ndarray, keep: float) -> np.ndarray:
    """y[t] = x[t] + keep · y[t-1] (what scipy.signal.lfilter([1], [1, -keep], x) computes, without the
    1.6 s import of scipy.signal)."""
    y = np.empty(len(x))
    acc = 0.0
    for t, v in enumerate(x.tolist()):
        acc = v + keep * acc
        y[t] = acc
    return y


def _tail_exponent(p: np.ndarray, valid: np.ndarray, m: int, s: SpikeSettings) -> np.ndarray:
    """Per bucket, the exponent β that makes the model's tail honest on this series' own record.

    If windows with p < CAL_LEVEL came with frequency f in the history (windows that ended before the
    current one began, discounted with CAL_HALF_LIFE, plus a calibrated prior of CAL_PRIOR_SECONDS of
    windows), p ** β with β = log f / log CAL_LEVEL maps CAL_LEVEL onto f and extrapolates the same power
    law further into the tail. β is kept in [BETA_MIN, 1]: a series may be heavier-tailed than the model,
    never trusted to be lighter.
    """
    keep = _discount(CAL_HALF_LIFE, s)
    hits = _decayed_sum(((p < CAL_LEVEL) & valid).astype(float), keep)
    seen = _decayed_sum(valid.astype(float), keep)

    def shift(a: np.ndarray) -> np.ndarray:   # windows ended ≥ m buckets ago
        return np.concatenate([np.zeros(m), a])[: len(a)]

    prior = CAL_PRIOR_SECONDS / s.bucket_seconds
    freq = (shift(hits) + CAL_LEVEL * prior) / (shift(seen) + prior)
    return np.clip(np.log(freq) / math.log(CAL_LEVEL), BETA_MIN, 1.0)


def _model_tails(x: np.ndarray, s: SpikeSettings) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Expected counts, and per span the window sums (NaN before the first full window) and the model's
    own negative-binomial mid-p of each, before the series' record adjusts it."""
    n = len(x)
    mu, phi = _model(x, seasonal_factor(x, s), s)
    csum, cmu = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(mu)])
    tails = {}
    for m in s.scales:
        obs, base = np.full(n, np.nan), np.full(n, np.nan)
        obs[m - 1:], base[m - 1:] = csum[m:] - csum[:-m], cmu[m:] - cmu[:-m]
        tails[m] = (obs, _nb_mid_p(np.nan_to_num(obs), np.nan_to_num(base), phi[m]))
    return mu, tails


def tail_calibration(values: Sequence[float], levels: Sequence[float],
                     settings: SpikeSettings | None = None) -> dict[int, list[float]]:
    """How honest the model's own tails are on a series, per span: P(p < q) / q for each level q over the
    windows after the warm-up (1 = honest; 20 = windows that rare come twenty times as often as the
    model says). A diagnostic needing no labels: bench/spikes_eval.py compares real series with synthetic."""
    s = settings or SpikeSettings()
    x = np.asarray(values, dtype=float)
    _, tails = _model_tails(x, s)
    warm = s.buckets(WARMUP_SECONDS)
    out = {}
    for m, (obs, p) in tails.items():
        keep = p[max(warm, m - 1):][np.isfinite(obs[max(warm, m - 1):])]
        out[m] = [float((keep < q).mean() / q) if len(keep) else float("nan") for q in levels]
    return out


def surprise(values: Sequence[float], settings: SpikeSettings | None = None) -> Surprise:
    """Causal expected counts and evidence of every bucket, oldest first."""
    s = settings or SpikeSettings()
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Surprise(x, x, x, np.zeros(0, dtype=int), {m: x for m in s.scales})
    mu, tails = _model_tails(x, s)
    best, best_m = np.zeros(n), np.full(n, s.scales[0], dtype=int)
    observed = {}
    for m, (obs, p) in tails.items():
        observed[m] = obs
        p = p ** _tail_exponent(p, np.isfinite(obs), m, s)
        chances = MONTH_SECONDS / (m * s.bucket_seconds) * len(s.scales)   # windows of this span a month
        months = np.where(np.isfinite(obs), 1.0 / (p * chances), 0.0)
        better = months > best
        best, best_m = np.where(better, months, best), np.where(better, m, best_m)
    best[: min(n, s.buckets(WARMUP_SECONDS))] = 0.0
    return Surprise(x, mu, _against_record(best, s) if s.record_check else best, best_m, observed)


def _gumbel_quantile(q: float) -> float:
    """The standard Gumbel's q-quantile."""
    return -math.log(-math.log(q))


def _against_record(months: np.ndarray, s: SpikeSettings) -> np.ndarray:
    """Months capped by what the topic's own record of daily maxima says (docstring: the record of surges).

    Days are blocks of one day from the series' first bucket; the buckets of day d are judged against the
    maxima (u = ln months) of the days before d after the warm-up, weighted by age (half-life
    RECORD_HALF_LIFE_DAYS), plus RECORD_PRIOR_DAYS of honest days placed at the honest law's quantiles. The
    Gumbel through their weighted median and RECORD_QUANTILE-quantile (location a, scale b; never lighter
    than the honest a = ln 1/30, b = 1) gives a day's chance of exceeding u, 1 − exp(−exp(−(u − a) / b));
    surprises that common come once in 1 / (30 × that) months. Quantiles, not moments: one outstanding day
    moves a moment fit's scale enough to hide the next surge for weeks (a 5× burst days after a 10× one
    was caught 1-3 times in 8 with moments, 7-8 with quantiles, as without any record).
    """
    n, per_day = len(months), s.buckets(DAY)
    if n == 0 or s.bucket_seconds >= DAY:
        return months
    u = np.log(np.maximum(months, 1e-300))
    honest_loc = math.log(1 / 30)
    keep = 0.5 ** (1 / RECORD_HALF_LIFE_DAYS)
    ranks = (np.arange(RECORD_PRIOR_DAYS) + 0.5) / RECORD_PRIOR_DAYS
    values = [honest_loc + _gumbel_quantile(q) for q in ranks]
    ages = [0.0] * RECORD_PRIOR_DAYS                    # the prior ages like a week of days before the series
    mid, top = _gumbel_quantile(0.5), _gumbel_quantile(RECORD_QUANTILE)
    warm_days = math.ceil(s.buckets(WARMUP_SECONDS) / per_day)
    out = months.copy()
    for day, lo in enumerate(range(0, n, per_day)):
        hi = min(n, lo + per_day)
        order = np.argsort(values)
        v = np.asarray(values)[order]
        w = keep ** np.asarray(ages)[order]
        rank = (np.cumsum(w) - 0.5 * w) / w.sum()
        median, upper = np.interp(0.5, rank, v), np.interp(RECORD_QUANTILE, rank, v)
        scale = max((upper - median) / (top - mid), 1.0)
        loc = max(median - mid * scale, honest_loc)
        with np.errstate(over="ignore", under="ignore"):
            per_day_p = -np.expm1(-np.exp(-(u[lo:hi] - loc) / scale))
        out[lo:hi] = np.minimum(months[lo:hi], 1.0 / (30 * np.maximum(per_day_p, 1e-300)))
        ages = [age + 1 for age in ages]
        if day >= warm_days and hi - lo == per_day:
            values.append(float(u[lo:hi].max()))
            ages.append(0.0)
    return out


def decide(sur: Surprise, settings: SpikeSettings | None = None) -> list[Scored]:
    """Apply the rate threshold, volume floor, cooldown and re-arming to the evidence."""
    s = settings or SpikeSettings()
    cooldown, rearm = s.buckets(s.cooldown_seconds), s.buckets(s.rearm_seconds)
    needed, calm_below = s.months_needed, CALM_FRACTION * s.months_needed
    cexp = np.concatenate([[0.0], np.cumsum(sur.expected)])
    score = sur.score
    out: list[Scored] = []
    last, armed, calm = -(10**9), True, 0
    for i, value in enumerate(sur.values):
        m = int(sur.scale[i])
        observed = float(np.nan_to_num(sur.observed[m][i]))
        baseline = float(cexp[i + 1] - cexp[max(0, i - m + 1)])
        months = float(sur.months[i])
        if not armed:
            calm = calm + 1 if months < calm_below else 0
            armed = calm >= rearm
        fire = armed and months >= needed and observed >= s.min_count and i - last >= cooldown
        if fire:
            last, armed, calm = i, False, 0
        out.append(Scored(i, float(value), float(sur.expected[i]), float(score[i]), fire, m, observed, baseline,
                          months))
    return out


def score_series(values: Sequence[float], settings: SpikeSettings | None = None) -> list[Scored]:
    """Score every bucket of a series and decide its alerts; each bucket sees itself and earlier ones only."""
    return decide(surprise(values, settings), settings)


# -- CSV in and out (`balkanwatch spikes score`) ------------------------------------------------------------
def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def read_series(lines: Iterable[str]) -> tuple[list[str], list[float], int]:
    """(timestamps as written, values, bucket seconds inferred from the median step) of a timestamp,value CSV."""
    import csv

    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
        raise ValueError("expected a header row 'timestamp,value'")
    stamps, values = [], []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            _parse_time(row[0])
            values.append(float(row[1]))
        except (ValueError, IndexError) as exc:
            raise ValueError(f"line {n}: expected timestamp,value, got {','.join(row)!r}") from exc
        stamps.append(row[0])
    steps = sorted((_parse_time(b) - _parse_time(a)).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False))
    bucket = int(steps[len(steps) // 2]) if steps else 3600
    if bucket <= 0:
        raise ValueError("timestamps must increase")
    return stamps, values, bucket


def write_scores(out: IO[str], stamps: Sequence[str], scored: Sequence[Scored]) -> None:
    """timestamp,value,score,alert rows (alert as 0/1)."""
    import csv

    w = csv.writer(out, lineterminator="\n")
    w.writerow(["timestamp", "value", "score", "alert"])
    for stamp, s in zip(stamps, scored, strict=True):
        w.writerow([stamp, f"{s.value:g}", f"{s.score:.4f}", int(s.alert)])
