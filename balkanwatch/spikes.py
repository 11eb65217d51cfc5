"""Spike detection on count series: pure functions, no I/O.

A series is one count per time bucket (unique stories of a topic per hour, tweets per 5 minutes). For every
bucket the detector says how outstanding the last hour or three are against what the topic's ordinary days
bring at their busiest, from that bucket and the ones before it only:

    counts | window sums over the last 1 and 3 hours | the ordinary daily peak of each span
           | how far above it, on a log scale | against the topic's own record of daily peaks
           | months between days with a surge that big | alert (≥ 1 / alerts.alerts_per_month, volume floor,
           cooldown, re-arm)

- **The ordinary daily peak** of a span: the median of the busiest window in each of the last
  `REFERENCE_DAYS` day-long stretches, or, when the last two stretches were both busier, the lesser of those
  two (a topic whose volume has doubled for two days running has a new ordinary: `PEAK_FOLLOWS_DAYS`).
  A surge is judged against the top of an ordinary day, not against the hour it falls in: twice the usual
  3 a.m. volume is not news when the afternoon brings that every day.
- **How far above it**: u = ln((window + 1) / (ordinary peak + 1)), 0 for a window as busy as an ordinary
  day's busiest, ln 2 for one twice as busy (+1 keeps a topic with a story a day on a sane scale).
- **The record**: the day-long maxima of u over the last `RECORD_DAYS` days (weighted by age, half-life
  `RECORD_HALF_LIFE_DAYS`) plus `RECORD_PRIOR_DAYS` ordinary days for a new topic, fitted with the Gumbel law
  of maxima through their median and `RECORD_QUANTILE` quantile (quantiles, not moments: one outstanding day
  must not hide the next surge). Its scale never drops below what Poisson noise of the ordinary peak's count
  gives (`POISSON_SCALE` / √(peak + 1)): a topic with a story a day is not precise about its peaks. Where
  the record varies less than that (a story a day, every day), counting noise says how rare a surge is:
  the Poisson tail of each of the day's windows with the ordinary peak as its mean.
- **Months**: the Gumbel gives the chance that a day's peak reaches this u; the waiting time between such
  days is 1 / (30 × that chance) months. An alert needs months ≥ 1 / alerts_per_month: with the default 4,
  about one alert a week per topic, on its most outstanding surge. score = months / (1 + months).
- **Alert**: outstanding enough, at least `min_count` items in the window that fired, not within the
  cooldown of the previous alert, and re-armed (months fell below a third of the threshold, or below 2
  days for budgets above 5 a month, for `rearm_seconds`): one alert per surge, not one per bucket of it.

Why the topic's own record and not a count model's tail (issue #14, docs/design.md session 18): the
negative-binomial tails of sessions 8-17 were honest on synthetic noise and 10-140 times too light on real
mention counts at p = 10⁻⁴; their surprise ranked the labelled incidents of the five dev NAB series below
many ordinary surges at quiet hours (where each labelled window ranks among its file's days: rank sum 56,
against 20 for this detector; `make bench`). Measured against the ordinary daily peak, the labelled
incidents are each series' top days.

`expected` (the chart's baseline, the e-mail's "expected N") is a separate count model: a discounted
Poisson–gamma level times a seasonal profile (time of day, day of week), winsorised so that a surge does not
become its own baseline within the hour.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DAY = 86_400
MONTH_SECONDS = 30 * DAY
MONTH_DAYS = MONTH_SECONDS / DAY

# The threshold is a budget the analyst sets: about this many alerts a month per topic, on its biggest surges.
ALERTS_PER_MONTH = 4.0     # about one a week; on burst-free synthetic series every alert is a false one, and
                           # they come at this rate (bench/spikes_eval.py)
COOLDOWN_SECONDS = DAY     # at most one alert a day per topic; a news surge lasts hours to a day
REARM_SECONDS = 6 * 3600   # …and only after the evidence stayed calm for six hours:
CALM_FRACTION = 1 / 3      # below a third of the threshold (months < CALM_FRACTION / alerts_per_month)…
CALM_DAYS = 2.0            # …or below what every other ordinary day's peak reaches (months < 2 days), which ever
                           # is higher: a bucket's evidence never goes under 1 day (a day's peak always reaches
                           # an ordinary level), so above 5 alerts a month a third of the threshold (< 2 days)
                           # could never be met, and the topic would stay disarmed after its first alert
MIN_COUNT = 3              # volume floor: never alert on one or two items, however quiet the topic
SCALE_SECONDS = (3600, 3 * 3600)  # spans a surge is judged over, whatever the bucket width: news arriving
                           # over an hour or a few, not one 5-minute blip. alerts.surge_hours sets them.

# The ordinary daily peak and the record (docs/design.md, session 18).
REFERENCE_DAYS = 7         # the ordinary peak: median of the busiest window of each of the last seven day-long
                           # stretches (a whole week: a quiet weekend is two of seven, not the median)
PEAK_FOLLOWS_DAYS = 2      # …unless the last two stretches were both busier: then the lesser of them (a topic
                           # that doubles for good alerts at most twice, not every day for four)
RECORD_DAYS = 28           # the record: day-long maxima of the last four weeks (what the alerts flow reads)…
RECORD_HALF_LIFE_DAYS = 28.0  # …weighted by age…
RECORD_QUANTILE = 0.9      # …fitted through their median and 90th percentile (the Gumbel of daily maxima)…
RECORD_PRIOR_DAYS = 4      # …with four ordinary days for a new topic, whose peaks vary with…
PRIOR_SCALE = 0.2          # …Gumbel scale 0.2 on the log scale (a peak 20 % above or below the ordinary)
POISSON_SCALE = 1 / math.sqrt(2 * math.log(24))   # the record's scale ≥ this / √(ordinary peak + 1): the
                           # spread of the largest of a day's 24 hourly Poisson counts, ln-scale (≈ 0.40)
WARMUP_SECONDS = 2 * DAY   # no evidence before two days of history (two day-long stretches for the peak)

# The expected-count model (the baseline drawn and quoted; not part of the alert decision).
LEVEL_HALF_LIFE = DAY          # memory of the level
DISPERSION_HALF_LIFE = 7 * DAY  # memory of the spread that winsorises what enters the level
CLIP_SD = 3.0                  # winsorising of what enters the level, in predictive sds
PRIOR_DISPERSION = 0.25        # a new topic's dispersion (negative-binomial size 4, ordinary for news counts)…
PRIOR_DISPERSION_SECONDS = 2 * DAY  # …weighted as two days of windows
PRIOR_ITEMS = 0.5              # the level's prior: half an item over one memory length
TAIL_INFLATION = 1.1           # the spread against the moment estimate (estimated parameters widen it)
PROFILE_TRIM = 0.1             # the profile is a mean without the top tenth of its values (a burst a day ago is
                               # not a time-of-day pattern)
PROFILE_DAYS = 14              # days of same-time-of-day history in the daily profile
PROFILE_HALF_SECONDS = 5400    # ± this around the time of day for the profile
WEEKLY_WEEKS = 4               # weeks of same-time-of-week history in the weekly factor (used from one week on)
WEEKLY_WINDOW_SECONDS = 12 * 3600  # the same time of week ± 6 hours
WEEKLY_LIMITS = (0.2, 5.0)     # the weekly factor is clipped to these: a holiday week must not zero the baseline


def span_seconds(hours: Iterable[float]) -> tuple[int, ...]:
    """Spans given in hours (alerts.surge_hours, --surge-hours) as SpikeSettings.scale_seconds."""
    return tuple(int(h * 3600) for h in hours)


@dataclass(frozen=True)
class SpikeSettings:
    bucket_seconds: int = 3600
    alerts_per_month: float = ALERTS_PER_MONTH
    cooldown_seconds: int = COOLDOWN_SECONDS
    rearm_seconds: int = REARM_SECONDS
    min_count: float = MIN_COUNT
    scale_seconds: tuple[int, ...] = field(default=SCALE_SECONDS)
    escalation: float = math.inf    # off: within the cooldown, alert again on a surge this many times rarer than
                                    # the last alert (10 caught more synthetic bursts, and added false alerts on
                                    # the dev NAB files, 22 → 29: docs/design.md, session 18)

    def buckets(self, seconds: float) -> int:
        return max(1, int(round(seconds / self.bucket_seconds)))

    @property
    def scales(self) -> tuple[int, ...]:
        """The spans in buckets (an hour is 1 hourly bucket or 12 five-minute ones)."""
        return tuple(sorted({self.buckets(seconds) for seconds in self.scale_seconds}))

    @property
    def months_needed(self) -> float:
        """The rarity an alert needs: days with a surge this big come once in this many months of the record."""
        return 1.0 / self.alerts_per_month

    @property
    def calm_months(self) -> float:
        """Evidence below this for `rearm_seconds` re-arms a topic after an alert (CALM_FRACTION, CALM_DAYS)."""
        return max(CALM_FRACTION * self.months_needed, CALM_DAYS / MONTH_DAYS)

    @property
    def threshold(self) -> float:
        """The score at which a topic alerts (score = months / (1 + months))."""
        return self.months_needed / (1.0 + self.months_needed)


@dataclass(frozen=True)
class Scored:
    """The detector's view of one bucket."""

    index: int
    value: float
    expected: float     # expected count in this bucket (the count model's baseline)
    score: float        # in [0, 1], causal: months / (1 + months)
    alert: bool
    scale: int          # buckets in the window that gave the strongest evidence
    observed: float     # count in that window
    baseline: float     # an ordinary day's busiest window of that span
    months: float = 0.0  # days with a surge this big come about once in `months` months of the record


CENTURY_MONTHS = 1200.0   # rarer than this is "rarer than once in a century" (and shown as 1200 months): a
                          # Gumbel's far tail gives 3e54 months for 6 stories on a topic with none a day


def shown_months(months: float) -> float:
    """`months` as tables show it (backtest, `spikes score --explain`): three significant digits, at most
    CENTURY_MONTHS."""
    return float(f"{min(months, CENTURY_MONTHS):.3g}")


def rarity(months: float) -> str:
    """How an alert is explained (e-mail, backtest): 'about once in 9 days on this topic's record'."""
    if months >= CENTURY_MONTHS:
        return "rarer than once in a century on this topic's record"
    if months >= 24:
        return f"about once in {months / 12:.0f} years on this topic's record"
    if months >= 2:
        return f"about once in {months:.1f} months on this topic's record"
    return f"about once in {months * MONTH_DAYS:.0f} days on this topic's record"


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


def _model(x: np.ndarray, season: np.ndarray, s: SpikeSettings,
           spans: Sequence[int] = ()) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """One causal pass: the expected count of every bucket and, for each of `spans` (in buckets), the moment
    estimate of its window sum's dispersion (the bucket's own spread winsorises what enters the level).

    Bucket t's expectation and the dispersions used at t come from buckets before t only; a span's
    dispersion from windows that ended before the current window began. (bench/nb_detector.py, the
    negative-binomial detector of sessions 8-17, reads the spans' dispersions.)
    """
    n = len(x)
    level_keep, disp_keep = _discount(LEVEL_HALF_LIFE, s), _discount(DISPERSION_HALF_LIFE, s)
    memory = 1.0 / (1.0 - level_keep)
    items, exposure = PRIOR_ITEMS, PRIOR_ITEMS * memory      # prior: half an item in one memory length
    wanted = sorted({1, *spans})
    mu = np.zeros(n)
    cmu, cx = np.zeros(n + 1), np.concatenate([[0.0], np.cumsum(x)])
    num = dict.fromkeys(wanted, 0.0)
    den = dict.fromkeys(wanted, 0.0)
    seen = dict.fromkeys(wanted, 0.0)                         # discounted count of windows in num, den
    prior = dict.fromkeys(wanted, PRIOR_DISPERSION_SECONDS / s.bucket_seconds)  # the prior's weight, in
                                                                                # windows, forgotten alike
    phi = {m: np.zeros(n) for m in wanted}
    last_phi = dict.fromkeys(wanted, PRIOR_DISPERSION)
    for t in range(n):
        rate = items / exposure
        mu[t] = rate * season[t]
        cmu[t + 1] = cmu[t] + mu[t]
        for m in wanted:
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
    return mu, {m: phi[m] for m in spans}


def expected_counts(values: Sequence[float] | np.ndarray, settings: SpikeSettings | None = None) -> np.ndarray:
    """The count model's expected count of every bucket: level × seasonal profile, causal."""
    s = settings or SpikeSettings()
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return x
    mu, _ = _model(x, seasonal_factor(x, s), s)
    return mu


@dataclass(frozen=True)
class Surprise:
    """Per-bucket arrays of the scoring pass; the alert pass only reads them (cheap to re-run per rate)."""

    values: np.ndarray
    expected: np.ndarray
    months: np.ndarray              # the strongest evidence's waiting time in months (0 in the warm-up)
    scale: np.ndarray               # buckets of the window that gave it
    observed: dict[int, np.ndarray]
    peak: dict[int, np.ndarray] = field(default_factory=dict)   # each span's ordinary daily peak (NaN: none yet)

    @property
    def score(self) -> np.ndarray:
        return self.months / (1.0 + self.months)


def _window_sums(x: np.ndarray, m: int) -> np.ndarray:
    """The sum of each bucket and the m − 1 before it (NaN before the first full window)."""
    csum = np.concatenate([[0.0], np.cumsum(x)])
    out = np.full(len(x), np.nan)
    out[m - 1:] = csum[m:] - csum[:-m]
    return out


def _stretch_maxima(y: np.ndarray, per: int) -> np.ndarray:
    """The largest y over each day-long stretch ending at a bucket (NaN where the stretch is incomplete)."""
    out = np.full(len(y), np.nan)
    if len(y) >= per:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN stretches
            out[per - 1:] = np.nanmax(sliding_window_view(y, per), axis=1)
    return out


def _lagged(a: np.ndarray, lags: Iterable[int]) -> np.ndarray:
    """Rows a[t − lag] for each lag (NaN before the series began)."""
    n = len(a)
    return np.vstack([np.concatenate([np.full(min(lag, n), np.nan), a])[:n] for lag in lags])


def ordinary_peak(sums: np.ndarray, s: SpikeSettings) -> np.ndarray:
    """Per bucket, an ordinary day's busiest window of these window sums, from the day-long stretches that
    ended before this bucket: the median of the last REFERENCE_DAYS stretches' maxima, or the lesser of the
    last PEAK_FOLLOWS_DAYS when all of those were higher (a new level). NaN with fewer than two stretches."""
    per = s.buckets(DAY)
    tops = _lagged(_stretch_maxima(sums, per), [1 + d * per for d in range(REFERENCE_DAYS)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # columns with no stretch yet
        median = np.nanmedian(tops, axis=0)
        recent = np.min(tops[:PEAK_FOLLOWS_DAYS], axis=0)        # NaN unless all recent stretches exist
    enough = np.isfinite(tops).sum(axis=0) >= 2
    peak: np.ndarray = np.where(enough, np.fmax(median, recent), np.nan)
    return peak


def _weighted_quantiles(rows: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Per column of `rows`, the weighted quantiles qs of its finite values (midpoint ranks, interpolated)."""
    w = np.where(np.isfinite(rows), weights[:, None], 0.0)
    order = np.argsort(np.where(np.isfinite(rows), rows, np.inf), axis=0)
    v = np.take_along_axis(rows, order, axis=0)
    w = np.take_along_axis(w, order, axis=0)
    total = w.sum(axis=0)
    rank = (np.cumsum(w, axis=0) - 0.5 * w) / np.where(total > 0, total, 1.0)
    rank = np.where(w > 0, rank, np.inf)                         # missing values sort last, never chosen
    cols = np.arange(rows.shape[1])
    out = []
    for q in qs:
        hi = np.clip((rank < q).sum(axis=0), 1, rows.shape[0] - 1)   # first rank at or above q
        lo = hi - 1
        r0, r1 = rank[lo, cols], rank[hi, cols]
        v0, v1 = v[lo, cols], v[hi, cols]
        frac = np.clip(np.where(np.isfinite(r1) & (r1 > r0), (q - r0) / np.where(r1 > r0, r1 - r0, 1.0), 0.0), 0, 1)
        out.append(np.where(np.isfinite(v1), v0 + frac * (v1 - v0), v0))
    return out


def _gumbel_quantile(q: float) -> float:
    """The standard Gumbel's q-quantile."""
    return -math.log(-math.log(q))


def _counting_months(sums: np.ndarray, peak: np.ndarray, m: int, s: SpikeSettings) -> np.ndarray:
    """Months between days on which counting noise alone brings one of the day's windows of m buckets to
    this sum: each window Poisson with the ordinary peak as its mean (generous: most windows are quieter)."""
    from scipy import special  # imported here: only scoring pays its load time

    windows = max(1, s.buckets(DAY) // m)
    k = np.nan_to_num(sums)
    with np.errstate(all="ignore"):
        tail = np.where(k >= 1, special.gammainc(np.maximum(k, 1.0), np.maximum(np.nan_to_num(peak), 1e-9)), 1.0)
        per_day = -np.expm1(windows * np.log1p(-np.minimum(tail, 1 - 1e-16)))
    months: np.ndarray = 1.0 / (MONTH_DAYS * np.maximum(per_day, 1e-300))
    return months


def record_months(u: np.ndarray, peak: np.ndarray, s: SpikeSettings,
                  counting: np.ndarray | None = None) -> np.ndarray:
    """Months between days whose peak reaches u, on the topic's record: the day-long maxima of u over the last
    RECORD_DAYS (weights halving every RECORD_HALF_LIFE_DAYS) and RECORD_PRIOR_DAYS ordinary days, through a
    Gumbel by their median and RECORD_QUANTILE quantile, scale at least POISSON_SCALE / √(peak + 1). Where
    the record varies less than counting noise would (a topic with a story a day, every day), it knows no
    more than the counting noise does: the rarer of the two (`counting`, `_counting_months`) is taken."""
    per = s.buckets(DAY)
    n = len(u)
    days = _lagged(_stretch_maxima(u, per), [d * per for d in range(1, RECORD_DAYS + 1)])
    mid, top = _gumbel_quantile(0.5), _gumbel_quantile(RECORD_QUANTILE)
    prior = [PRIOR_SCALE * (_gumbel_quantile((i + 0.5) / RECORD_PRIOR_DAYS) - mid) for i in range(RECORD_PRIOR_DAYS)]
    rows = np.vstack([days, np.repeat(np.asarray(prior, dtype=float)[:, None], n, axis=1)])
    weights = np.concatenate([0.5 ** (np.arange(1, RECORD_DAYS + 1) / RECORD_HALF_LIFE_DAYS), np.ones(len(prior))])
    median, upper = _weighted_quantiles(rows, weights, (0.5, RECORD_QUANTILE))
    spread = (upper - median) / (top - mid)
    floor = POISSON_SCALE / np.sqrt(np.nan_to_num(peak) + 1.0)
    scale = np.maximum(spread, floor)
    location = median - mid * scale
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        per_day = -np.expm1(-np.exp(-(u - location) / scale))     # P(a day's peak reaches u)
    months: np.ndarray = np.where(np.isfinite(u), 1.0 / (MONTH_DAYS * np.maximum(per_day, 1e-300)), 0.0)
    if counting is not None:
        months = np.where(np.isfinite(u) & (spread < floor), np.maximum(months, counting), months)
    return months


def surprise(values: Sequence[float], settings: SpikeSettings | None = None) -> Surprise:
    """Causal expected counts and evidence of every bucket, oldest first."""
    s = settings or SpikeSettings()
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Surprise(x, x, x, np.zeros(0, dtype=int), {m: x for m in s.scales}, {m: x for m in s.scales})
    best, best_m = np.zeros(n), np.full(n, s.scales[0], dtype=int)
    observed, peaks = {}, {}
    for m in s.scales:
        sums = _window_sums(x, m)
        peak = ordinary_peak(sums, s)
        u = np.log((sums + 1.0) / (peak + 1.0))
        months = record_months(u, peak, s, _counting_months(sums, peak, m, s))
        observed[m], peaks[m] = sums, peak
        better = months > best
        best, best_m = np.where(better, months, best), np.where(better, m, best_m)
    best[: min(n, s.buckets(WARMUP_SECONDS))] = 0.0
    return Surprise(x, expected_counts(x, s), best, best_m, observed, peaks)


def decide(sur: Surprise, settings: SpikeSettings | None = None) -> list[Scored]:
    """Apply the rate threshold, volume floor, cooldown and re-arming to the evidence."""
    s = settings or SpikeSettings()
    cooldown, rearm = s.buckets(s.cooldown_seconds), s.buckets(s.rearm_seconds)
    needed, calm_below = s.months_needed, s.calm_months
    score = sur.score.tolist()
    # Per bucket, the window that gave the evidence: its sum and its ordinary peak (NaN before a full window or
    # a peak: 0), read as lists once (a NumPy scalar call per bucket was nine tenths of a year's replay).
    scale = sur.scale.tolist()
    observed_of = {m: np.nan_to_num(v).tolist() for m, v in sur.observed.items()}
    peak_of = {m: np.nan_to_num(v).tolist() for m, v in sur.peak.items()}
    months_of, expected, values = sur.months.tolist(), sur.expected.tolist(), sur.values.tolist()
    out: list[Scored] = []
    last, armed, calm, last_months = -(10**9), True, 0, math.inf
    for i, value in enumerate(values):
        m = int(scale[i])
        observed = float(observed_of[m][i])
        baseline = float(peak_of[m][i]) if m in peak_of else 0.0
        months = float(months_of[i])
        if not armed:
            calm = calm + 1 if months < calm_below else 0
            armed = calm >= rearm
        free = armed and i - last >= cooldown
        fire = (free or months >= s.escalation * last_months) and months >= needed and observed >= s.min_count
        if fire:
            last, armed, calm, last_months = i, False, 0, months
        out.append(Scored(i, float(value), float(expected[i]), float(score[i]), fire, m, observed, baseline, months))
    return out


def score_series(values: Sequence[float], settings: SpikeSettings | None = None) -> list[Scored]:
    """Score every bucket of a series and decide its alerts; each bucket sees itself and earlier ones only."""
    return decide(surprise(values, settings), settings)


# -- CSV in and out (`balkanwatch spikes score`) ------------------------------------------------------------
def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


MAX_GRID_BUCKETS = 10_000_000   # a CSV spread over more buckets than this has a wrong bucket width (or dates)


@dataclass(frozen=True)
class Series:
    """A timestamp,value CSV on the detector's grid: one count per bucket from the first row's to the last's.

    Exports of count series often leave out the buckets with nothing in them; a bucket without a row is 0
    here, so that a day is still `86400 / bucket` buckets and the quiet hours count as quiet."""

    stamps: list[str]       # the rows' timestamps as written
    rows: list[int]         # each row's bucket on the grid
    values: list[float]     # one count per bucket of the grid
    bucket_seconds: int

    @property
    def filled(self) -> int:
        """Buckets of the grid no row gave (counted as 0)."""
        return len(self.values) - len(self.rows)

    def per_row(self, scored: Sequence[Scored]) -> list[Scored]:
        """The grid's verdicts, one per row: each row's own bucket's, with an alert raised in a bucket no row
        gave reported on the next row (so that none is lost)."""
        out, last = [], -1
        for row in self.rows:
            fired = any(s.alert for s in scored[last + 1:row + 1])
            out.append(scored[row] if scored[row].alert == fired else replace(scored[row], alert=fired))
            last = row
        return out


def read_series(lines: Iterable[str], bucket_seconds: int | None = None) -> Series:
    """A timestamp,value CSV as a Series. Timestamps must increase. The bucket width is `bucket_seconds`, or
    read from the rows: the largest width every step between two rows is a whole number of (their greatest
    common divisor, so that left-out buckets do not widen it), or the median step when the timestamps are
    irregular below a minute (to the nearest minute). Each row goes to the bucket nearest its time from the first row's."""
    import csv

    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
        raise ValueError("expected a header row 'timestamp,value'")
    stamps: list[str] = []
    values: list[float] = []
    seconds: list[float] = []
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            when = _parse_time(row[0])
            value = float(row[1])
        except (ValueError, IndexError) as exc:
            raise ValueError(f"line {n}: expected timestamp,value, got {','.join(row)!r}") from exc
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"line {n}: a count must be a number ≥ 0, got {row[1]!r}")
        at = when.timestamp() if when.tzinfo else (when - datetime(1970, 1, 1)).total_seconds()
        if seconds and at <= seconds[-1]:
            raise ValueError(f"line {n}: timestamp {row[0]!r} is not after the previous row's")
        stamps.append(row[0])
        values.append(value)
        seconds.append(at)
    steps = [round(b - a) for a, b in zip(seconds, seconds[1:], strict=False)]
    bucket = bucket_seconds or _bucket_width(steps)
    rows = [round((t - seconds[0]) / bucket) for t in seconds]
    if any(b <= a for a, b in zip(rows, rows[1:], strict=False)):
        raise ValueError(f"two rows fall in one {bucket}-second bucket: give --bucket-seconds")
    size = rows[-1] + 1 if rows else 0
    if size > MAX_GRID_BUCKETS:
        raise ValueError(f"the rows span {size:,} buckets of {bucket} seconds: give --bucket-seconds")
    grid = [0.0] * size
    for r, v in zip(rows, values, strict=True):
        grid[r] = v
    return Series(stamps, rows, grid, bucket)


def _bucket_width(steps: Sequence[int]) -> int:
    """The bucket width of a series from its steps (see read_series); an hour for a single row."""
    if not steps:
        return 3600
    common = math.gcd(*steps)
    if common >= 60:
        return common
    median = int(sorted(steps)[len(steps) // 2])
    return 60 * round(median / 60) if median >= 60 else median   # bucket widths are whole minutes


EXPLAIN_COLUMNS = ["span_hours", "observed", "ordinary_peak", "once_in_months"]


def write_scores(out: IO[str], stamps: Sequence[str], scored: Sequence[Scored], bucket_seconds: int = 0) -> None:
    """timestamp,value,score,alert rows (alert as 0/1). Given the bucket width, also EXPLAIN_COLUMNS: the span
    that gave the strongest evidence, its count, an ordinary day's busiest window of that span, and how many
    months come between days with a surge that big (`shown_months`)."""
    import csv

    w = csv.writer(out, lineterminator="\n")
    w.writerow(["timestamp", "value", "score", "alert", *(EXPLAIN_COLUMNS if bucket_seconds else [])])
    for stamp, s in zip(stamps, scored, strict=True):
        row: list[object] = [stamp, f"{s.value:g}", f"{s.score:.4f}", int(s.alert)]
        if bucket_seconds:
            row += [f"{s.scale * bucket_seconds / 3600:g}", f"{s.observed:g}", f"{s.baseline:g}",
                    f"{shown_months(s.months):g}"]
        w.writerow(row)
