"""The spike detector on synthetic series (pure functions, no I/O), and the NAB scorer the bench uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from balkanwatch.spikes import MIN_COUNT, SpikeSettings, score_series
from bench.nab import normalised, probation_rows, score_file

HOURLY = SpikeSettings(bucket_seconds=3600)
DAYS = 28


def overdispersed(rng: np.random.Generator, mean: np.ndarray, k: float = 4.0) -> np.ndarray:
    """Negative-binomial counts (variance mean + mean²/k): what mention counts look like."""
    return rng.negative_binomial(k, k / (k + mean)).astype(float)


def alerts(values) -> list[int]:
    return [s.index for s in score_series(values, HOURLY) if s.alert]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flat_overdispersed_noise_never_alerts(seed):
    rng = np.random.default_rng(seed)
    assert alerts(overdispersed(rng, np.full(DAYS * 24, 6.0))) == []


@pytest.mark.parametrize("seed", [1, 2])
def test_daily_cycle_is_expected_not_a_spike(seed):
    rng = np.random.default_rng(seed)
    hours = np.arange(DAYS * 24)
    mean = 8 + 7 * np.sin(2 * math.pi * (hours % 24) / 24)   # quiet nights, busy afternoons
    assert alerts(overdispersed(rng, mean)) == []


def weekly(rng: np.random.Generator, weeks: int, k: float = 4.0) -> np.ndarray:
    """Hourly counts with a daily cycle, four times quieter at weekends (days 5 and 6 of each week)."""
    hours = np.arange(weeks * 7 * 24)
    level = np.where((hours // 24) % 7 >= 5, 3.0, 12.0)
    return overdispersed(rng, level * (0.5 + np.sin(np.pi * (hours % 24) / 24) ** 2), k)


@pytest.mark.parametrize("seed", range(6))
def test_weekday_after_a_quiet_weekend_is_expected_not_a_spike(seed):
    """The weekly factor: once a week of history exists, Monday's return to weekday volume is not news
    (without it these series alerted on about one Monday in five)."""
    x = weekly(np.random.default_rng(seed), weeks=8)
    assert [i for i in alerts(x) if i >= 8 * 24] == []


def test_weekend_bursts_alert_against_the_weekend_level():
    """A burst on a Saturday afternoon is measured against the weekend's own level, not the week's: caught
    within its three hours in at least 9 of 10 series (8 of 30 before the weekly factor)."""
    caught = 0
    for seed in range(10):
        x = weekly(np.random.default_rng(seed), weeks=6, k=20.0)
        start = (5 * 7 + 5) * 24 + 14      # a Saturday afternoon in week six
        x[start:start + 3] += [25, 30, 20]
        caught += any(start <= i < start + 3 for i in alerts(x))
    assert caught >= 9


def test_a_burst_alerts_once_at_its_start_and_explains_itself():
    rng = np.random.default_rng(7)
    x = overdispersed(rng, np.full(DAYS * 24, 4.0))
    start = 25 * 24 + 10
    x[start:start + 4] += [30, 45, 40, 20]
    scored = score_series(x, HOURLY)
    fired = [s for s in scored if s.alert]
    assert [s.index for s in fired] == [start]
    spike = fired[0]
    assert spike.observed >= 30 and spike.baseline < 10 * spike.scale
    assert spike.score >= HOURLY.threshold


def test_a_slow_ramp_is_a_new_level_not_a_spike():
    rng = np.random.default_rng(11)
    mean = np.linspace(4, 16, DAYS * 24)
    assert alerts(overdispersed(rng, mean)) == []


def test_sparse_counts_need_the_volume_floor():
    rng = np.random.default_rng(5)
    x = (rng.random(DAYS * 24) < 0.05).astype(float)     # a story now and then
    assert alerts(x) == []
    small = x.copy()
    small[24 * 20 + 3] = MIN_COUNT - 1                    # two stories in one hour: unusual but too few
    assert alerts(small) == []
    burst = x.copy()
    burst[24 * 20 + 3] = 8
    assert alerts(burst) == [24 * 20 + 3]


def test_scores_are_causal_and_bounded():
    rng = np.random.default_rng(3)
    x = overdispersed(rng, np.full(20 * 24, 5.0))
    x[15 * 24] += 60
    full = score_series(x, HOURLY)
    prefix = score_series(x[: 15 * 24 + 1], HOURLY)
    assert [s.score for s in prefix] == pytest.approx([s.score for s in full[: len(prefix)]])
    assert all(0.0 <= s.score <= 1.0 for s in full)


def test_cooldown_and_rearm_give_one_alert_per_surge():
    x = np.full(DAYS * 24, 2.0)
    for day in (20, 20.25, 20.5):       # three peaks within half a day: one surge
        x[int(day * 24)] = 40
    x[26 * 24] = 40                     # a new surge days later
    assert alerts(x) == [20 * 24, 26 * 24]


def test_a_short_history_does_not_alert_on_ordinary_ups_and_downs():
    assert alerts([0, 1, 0, 2, 1, 0, 3, 1, 0, 0, 2, 1, 4, 1, 0]) == []
    assert score_series([]) == []


def test_nab_scorer_rewards_early_detection_and_charges_false_alerts():
    n = 2000
    window = (1000, 1099)
    assert probation_rows(n) == 300
    never = score_file([False] * n, [window])
    assert never.raw == -1.0 and normalised([never]) == 0.0
    early = [i == 1000 for i in range(n)]
    late = [i == 1090 for i in range(n)]
    assert score_file(early, [window]).raw == pytest.approx(1.0, abs=0.02)
    assert 0 < score_file(late, [window]).raw < 0.5
    noisy = [i in (500, 1000, 1001, 1500) for i in range(n)]
    s = score_file(noisy, [window])
    assert s.detected == 1 and s.false_alerts == 2
    assert s.raw == pytest.approx(1.0 - 0.11 - 0.11, abs=0.03)
    in_probation = [i == 100 for i in range(n)]
    assert score_file(in_probation, [window]).false_alerts == 0


def five_minute(rng: np.random.Generator, hourly: np.ndarray) -> np.ndarray:
    """The same counts in 5-minute buckets: each hour's items spread at random over its twelve buckets."""
    return np.concatenate([rng.multinomial(int(n), [1 / 12] * 12) for n in hourly]).astype(float)


def test_a_surge_means_the_same_in_hourly_and_five_minute_buckets():
    """Spans are time, not buckets. The 5-minute version of an hourly series alerts in the hour where the
    hourly series does, and not on an ordinary hour whose items all came in one 5-minute bucket; spans
    counted in buckets (5 min, 15 min, 1 h: the first design) alerted on that blip in most series."""
    rows = []
    for seed in range(1, 9):
        rng = np.random.default_rng(seed)
        hours = np.arange(DAYS * 24)
        hourly = overdispersed(rng, 8 + 6 * np.sin(2 * math.pi * (hours % 24) / 24), k=10.0)
        start, blip = 22 * 24 + 15, 18 * 24 + 6
        hourly[start:start + 3] += [60, 40, 20]
        fine = five_minute(rng, hourly)
        fine[blip * 12: blip * 12 + 12] = 0
        fine[blip * 12 + 5] = hourly[blip]
        in_buckets = SpikeSettings(bucket_seconds=300, scale_seconds=(300, 900, 3600))
        rows.append((alerts(hourly), [s.index // 12 for s in score_series(fine, SpikeSettings(bucket_seconds=300))
                                      if s.alert],
                     [s.index // 12 for s in score_series(fine, in_buckets) if s.alert]))
    assert all(hourly == fine == [start] for hourly, fine, _ in rows)
    assert sum(blip in old for *_, old in rows) >= 5


def test_a_twelve_hour_span_catches_day_long_builds_on_quiet_topics():
    """A topic with a story a day that gets 12 over 12 hours (one or two an hour, never a burst): the shipped
    spans (1 and 3 hours) see too little at once to be sure; adding a 12-hour span (alerts.surge_hours)
    catches it, and still stays quiet on noise."""
    long_spans = SpikeSettings(bucket_seconds=3600, scale_seconds=(3600, 3 * 3600, 12 * 3600))
    caught = {HOURLY: 0, long_spans: 0}
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        x = rng.poisson(1 / 24, DAYS * 24).astype(float)
        start = 24 * 24 + 8
        x[start:start + 12] += rng.multinomial(12, [1 / 12] * 12)
        for settings in caught:
            caught[settings] += any(start <= s.index < start + 12 and s.alert for s in score_series(x, settings))
    assert caught[long_spans] >= 18 and caught[HOURLY] <= 12
    for seed in range(10):
        noise = overdispersed(np.random.default_rng(seed), np.full(DAYS * 24, 6.0))
        assert not any(s.alert for s in score_series(noise, long_spans))
