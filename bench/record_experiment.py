"""The record detector's operating point on synthetic series: session 18's experiment (issue #14), not part
of `make bench` (about 20 s a variant on two cores).

    .venv/bin/python -m bench.record_experiment [VARIANT,VARIANT...] [--quick]

Variants: the shipped detector (4 alerts a month), the same at 1, 2 and 8 a month, with an escalation rule
(within the cooldown, alert again on a surge 10, 30 or 100 times rarer than the last alert), and the
sessions 8-17 negative-binomial detector (bench/nb_detector.py) at its 1 a month. Measured per variant:

- false alerts a month on the 25 burst-free hourly families (8 seeds, from day 21 as the flow reads 28
  days), on 5-minute plain / weekly / heavy / newsy families at 5, 50, 500 an hour (2 seeds), and in the
  cold start (days 3-21, the same families): what a new topic, or a NAB file, lives through;
- 2-hour bursts at 0.5 / 5 / 50 / 500 an hour, 2× / 3× / 5× / 10×, shapes in turn, 8 seeds, on two bases:
  *local* (size × the volume of the burst's own hours: a night burst is a few night hours) and *mean*
  (size − 1 ordinary hours' items added an hour: "three times the usual hourly volume"), caught and median
  delay, on settled series (day 28+) and in the cold start (day 4-14).

Session 18 (docs/design.md): the configured rate is what burst-free series get (shipped: 3.96 hourly,
3.57 5-minute a month at 4; 0.90 and 1.11 at 1); escalation ×10 caught 89-91 settled bursts of 128 against
79-80, at 4.08 / 4.11 false alerts a month, and was not shipped (it doubled the NB detector's false alerts
on the dev files, look 15).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from balkanwatch.spikes import SpikeSettings, decide, score_series
from bench.nb_detector import nb_surprise
from bench.spikes_eval import SETTLED_DAYS, first_alert_delay
from bench.synthetic import DAY, MONTH_SECONDS, SHAPES, Burst, Profile, generate, quiet_profiles

VARIANTS: dict[str, dict[str, Any]] = {   # name: SpikeSettings overrides, or "surprise": another detector
    "shipped": {},
    "rate1": {"alerts_per_month": 1.0},
    "esc10": {"escalation": 10.0},
    "esc30": {"escalation": 30.0},
    "esc100": {"escalation": 100.0},
    "rate2": {"alerts_per_month": 2.0},
    "rate8": {"alerts_per_month": 8.0},
    "nb": {"surprise": nb_surprise, "alerts_per_month": 1.0},
}
COLD_FROM_DAY = 3          # NAB's probation is 2.6 days of 5-minute rows; the warm-up is two days
VOLUMES = (0.5, 5.0, 50.0, 500.0)
SIZES = (2.0, 3.0, 5.0, 10.0)
SEEDS = 8


def settings_of(variant: str, bucket: int) -> SpikeSettings:
    overrides = {k: v for k, v in VARIANTS[variant].items() if k != "surprise"}
    return replace(SpikeSettings(bucket_seconds=bucket), **overrides)


def alerts_of(variant: str, values: np.ndarray, bucket: int) -> list[bool]:
    s = settings_of(variant, bucket)
    other = VARIANTS[variant].get("surprise")
    return [r.alert for r in (decide(other(values, s), s) if other else score_series(values, s))]


def _quiet_job(args: tuple[str, str, int, int]) -> tuple[str, int, int, int, float, float]:
    variant, family, bucket, seed = args
    profile = quiet_profiles(bucket)[family]
    syn = generate(np.random.default_rng(seed), profile)
    fired = alerts_of(variant, syn.values, bucket)
    per_day = DAY // bucket
    settled, cold = SETTLED_DAYS * per_day, COLD_FROM_DAY * per_day
    return (family, bucket, sum(fired[settled:]), sum(fired[cold:settled]),
            (len(fired) - settled) * bucket / MONTH_SECONDS, (settled - cold) * bucket / MONTH_SECONDS)


def _burst_job(args: tuple[str, float, float, str, int, bool]) -> tuple[float, float, str, bool, float | None]:
    variant, volume, size, basis, seed, cold = args
    rng = np.random.default_rng(1000 + seed)
    p = Profile(volume, days=21 if cold else 42)
    first, last = (4, 14) if cold else (28, p.days - 2)
    start = int(rng.integers(first * 24, last * 24))
    b = Burst(start, 2, size, SHAPES[seed % len(SHAPES)], basis)
    syn = generate(rng, p, (b,))
    return volume, size, basis, cold, first_alert_delay(alerts_of(variant, syn.values, 3600), b.start, b.length, 3600)


def run(variant: str, pool: ProcessPoolExecutor, quick: bool = False) -> dict[str, Any]:
    seeds = 3 if quick else SEEDS
    jobs = [(variant, f, 3600, seed) for f in quiet_profiles(3600) for seed in range(seeds)]
    five = [f for f in quiet_profiles(300) if f.split("/")[0] in ("5", "50", "500") and "trend" not in f]
    jobs += [] if quick else [(variant, f, 300, seed) for f in five for seed in range(2)]
    quiet: dict[tuple[str, int], list[float]] = {}
    for family, bucket, fired, cold_fired, months, cold_months in pool.map(_quiet_job, jobs):
        acc = quiet.setdefault((family, bucket), [0, 0, 0.0, 0.0])
        acc[0] += fired
        acc[1] += cold_fired
        acc[2] += months
        acc[3] += cold_months
    bjobs = [(variant, v, z, basis, seed, cold) for v in VOLUMES for z in SIZES for basis in ("local", "mean")
             for cold in (False, True) for seed in range(seeds)]
    bursts: dict[tuple[float, float, str, bool], list[float | None]] = {}
    for volume, size, basis, cold, delay in pool.map(_burst_job, bjobs):
        bursts.setdefault((volume, size, basis, cold), []).append(delay)
    return {"quiet": quiet, "bursts": bursts}


def report(name: str, r: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(f"### {name}")
    rows = sorted(r["quiet"].items(), key=lambda kv: (kv[0][1], kv[0][0]))
    for bucket in (3600, 300):
        sel = [(f, v) for (f, b), v in rows if b == bucket]
        if not sel:
            continue
        rates = [v[0] / v[2] for _, v in sel]
        cold = [v[1] / v[3] for _, v in sel]
        out(f"quiet {bucket}s: mean {np.mean(rates):.2f} max {max(rates):.2f}; cold start mean {np.mean(cold):.2f} "
            f"max {max(cold):.2f} a month")
        out("  " + "; ".join(f"{f} {v[0] / v[2]:.2f}/{v[1] / v[3]:.2f}" for f, v in sel))
    for cold in (False, True):
        for basis in ("local", "mean"):
            cells = []
            for v in VOLUMES:
                row = []
                for z in SIZES:
                    d = r["bursts"][(v, z, basis, cold)]
                    hit = [x for x in d if x is not None]
                    row.append(f"{len(hit)}/{len(d)}" + (f" {np.median(hit):.0f}m" if hit else ""))
                cells.append(f"{v:g}/h: " + ", ".join(row))
            total = sum(x is not None for k, d in r["bursts"].items() if k[2] == basis and k[3] == cold for x in d)
            out(f"bursts {'cold' if cold else 'settled'} {basis} (sizes {SIZES}) caught {total}: " + " | ".join(cells))


def main() -> None:
    names = [a for a in sys.argv[1:] if not a.startswith("--")]
    names = names[0].split(",") if names else list(VARIANTS)
    quick = "--quick" in sys.argv
    with ProcessPoolExecutor(2) as pool:
        for name in names:
            started = time.perf_counter()
            r = run(name, pool, quick)
            report(name, r)
            print(f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
