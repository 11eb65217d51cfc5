"""Earlier evidence in fine buckets, and persistent level shifts: a synthetic-only experiment (session 13,
issue #14), not part of `make bench`.

    .venv/bin/python -m bench.fine_spans_experiment [VARIANT;VARIANT...] [--hourly] [--fine-seeds=N]

Variants: the shipped spans (1 h, 3 h); a 30- or 15-minute span added in 5-minute buckets (one more chance
in the months arithmetic, as every span is); a shorter level memory (LEVEL_HALF_LIFE 12 h or 6 h, the crude
form of a drift-tracking level). Measured per variant: false alerts a month on burst-free families (hourly:
all 25, 4 seeds; 5-minute: plain / heavy / newsy at 5, 50, 500 an hour, 1 seed), detection and median delay
of 2-hour bursts per shape in 5-minute buckets, and on level shifts (×2, ×0.5 for good, hourly and 5-minute)
the alerts in the week after the shift and the hours until the expected day is within 25 % of the truth.
"""
import math
import sys
import time

import numpy as np

from balkanwatch import spikes
from balkanwatch.spikes import SpikeSettings, score_series
from bench.spikes_eval import SETTLED_DAYS, first_alert_delay
from bench.synthetic import DAY, MONTH_SECONDS, SHAPES, Profile, bursty, generate, quiet_profiles, shifted

SHIPPED = (3600, 10800)
VARIANTS = {  # name: (spans, level half-life)
    "shipped": (SHIPPED, spikes.DAY),
    "+30min": ((1800, *SHIPPED), spikes.DAY),
    "+15min": ((900, *SHIPPED), spikes.DAY),
    "level12h": (SHIPPED, spikes.DAY / 2),
    "level6h": (SHIPPED, spikes.DAY / 4),
    "twolevel": (SHIPPED, spikes.DAY),      # the slow level unless a fast one diverged persistently (below)
}
TWO_LEVEL = {"twolevel"}
RESETS: list[int] = []   # buckets where the slow level was moved (diagnostics)
FAST_HALF_LIFE = 3 * 3600     # the fast level's memory
DIVERGED = math.log(1.3)      # "diverged": the fast level is 1.3× the slow one or 1/1.3 of it…
PERSIST_SECONDS = 6 * 3600    # …for six hours running: then the slow level is moved onto the fast one


def two_level_model(x, season, s):
    """spikes._model with two memories: the slow level (LEVEL_HALF_LIFE, winsorised at CLIP_SD of its own
    prediction) is used, while a fast level (FAST_HALF_LIFE, winsorised at CLIP_SD of *its* prediction)
    follows; when the fast one has been DIVERGED from the slow one for PERSIST_SECONDS running, the slow
    level is reset onto it (its items rescaled, its exposure kept): a regime change is learnt in hours, a
    2-hour burst is not."""
    n = len(x)
    level_keep, disp_keep = spikes._discount(spikes.LEVEL_HALF_LIFE, s), spikes._discount(spikes.DISPERSION_HALF_LIFE, s)
    fast_keep = spikes._discount(FAST_HALF_LIFE, s)
    persist = s.buckets(PERSIST_SECONDS)
    memory = 1.0 / (1.0 - level_keep)
    items, exposure = spikes.PRIOR_ITEMS, spikes.PRIOR_ITEMS * memory
    f_items, f_exposure = spikes.PRIOR_ITEMS, spikes.PRIOR_ITEMS / (1.0 - fast_keep)
    run = 0
    spans = sorted({1, *s.scales})
    mu = np.zeros(n)
    cmu, cx = np.zeros(n + 1), np.concatenate([[0.0], np.cumsum(x)])
    num = dict.fromkeys(spans, 0.0)
    den = dict.fromkeys(spans, 0.0)
    seen = dict.fromkeys(spans, 0.0)
    prior = dict.fromkeys(spans, spikes.PRIOR_DISPERSION_SECONDS / s.bucket_seconds)
    phi = {m: np.zeros(n) for m in spans}
    last_phi = dict.fromkeys(spans, spikes.PRIOR_DISPERSION)
    warm = s.buckets(spikes.WARMUP_SECONDS)
    for t in range(n):
        rate = items / exposure
        mu[t] = rate * season[t]
        cmu[t + 1] = cmu[t] + mu[t]
        for m in spans:
            end = t - m
            if end >= m - 1:
                e = cmu[end + 1] - cmu[end + 1 - m]
                o = cx[end + 1] - cx[end + 1 - m]
                o = min(o, e + spikes.CLIP_SD * math.sqrt(e + (last_phi[m] + 1.0 / items) * e * e) + 1.0)
                num[m] = disp_keep * num[m] + (o - e) ** 2 - o
                den[m] = disp_keep * den[m] + e * e
                seen[m], prior[m] = disp_keep * seen[m] + 1.0, disp_keep * prior[m]
                moment = max(num[m] / den[m], 0.0) if den[m] > 0 else spikes.PRIOR_DISPERSION
                last_phi[m] = (seen[m] * moment + prior[m] * spikes.PRIOR_DISPERSION) / (seen[m] + prior[m])
            phi[m][t] = spikes.TAIL_INFLATION * last_phi[m] + 1.0 / items
        cap = mu[t] + spikes.CLIP_SD * math.sqrt(mu[t] + phi[1][t] * mu[t] ** 2) + 1.0
        items = level_keep * items + min(x[t], cap)
        exposure = level_keep * exposure + season[t]
        f_mu = f_items / f_exposure * season[t]
        f_cap = f_mu + spikes.CLIP_SD * math.sqrt(f_mu + phi[1][t] * f_mu ** 2) + 1.0
        f_items = fast_keep * f_items + min(x[t], f_cap)
        f_exposure = fast_keep * f_exposure + season[t]
        ratio = math.log(max(f_items / f_exposure, 1e-12) / max(items / exposure, 1e-12))
        run = run + 1 if t >= warm and abs(ratio) > DIVERGED else 0
        if run >= persist:
            items, run = f_items / f_exposure * exposure, 0
            RESETS.append(t)
    return mu, {m: phi[m] for m in s.scales}


def scored(values, bucket, variant):
    spans, half_life = VARIANTS[variant]
    spikes.LEVEL_HALF_LIFE = half_life          # read at call time by spikes._model
    shipped_model = spikes._model
    if variant in TWO_LEVEL:
        spikes._model = two_level_model
    try:
        return score_series(values, SpikeSettings(bucket_seconds=bucket, scale_seconds=spans))
    finally:
        spikes.LEVEL_HALF_LIFE, spikes._model = spikes.DAY, shipped_model


def quiet(variant, bucket, families, seeds):
    settled = SETTLED_DAYS * DAY // bucket
    rates = {}
    for fam, prof in quiet_profiles(bucket).items():
        if families and fam not in families:
            continue
        n, months = 0, 0.0
        for seed in range(seeds):
            syn = generate(np.random.default_rng(seed), prof)
            months += (len(syn.values) - settled) * bucket / MONTH_SECONDS
            n += sum(s.alert for s in scored(syn.values, bucket, variant)[settled:])
        rates[fam] = n / months
    return rates


def burst_delays(alerts_of, bucket=300, sizes=(2.0, 3.0, 5.0)):
    """2-hour bursts, 2 seeds per volume × size × shape (35 days: history for the weekly factor): for each
    (volume, size, shape) the bursts caught and their delays in minutes, `alerts_of(values)` the alerts."""
    out = {}
    for vol in (5.0, 50.0, 500.0):
        for size in sizes:
            for shape in SHAPES:
                caught, delays = 0, []
                for seed in range(2):
                    rng = np.random.default_rng(2000 + seed)
                    syn = bursty(rng, Profile(vol * bucket / 3600, bucket, 35), size, 2.0, shape)
                    [b] = syn.bursts
                    d = first_alert_delay(alerts_of(syn.values), b.start, b.length, bucket)
                    if d is not None:
                        caught, delays = caught + 1, [*delays, d]
                out[(vol, size, shape)] = (caught, delays)
    return out


def bursts(variant, bucket=300):
    return burst_delays(lambda values: [s.alert for s in scored(values, bucket, variant)], bucket)


def shifts(variant, bucket):
    out = {}
    per_day = DAY // bucket
    seeds = 4 if bucket == 3600 else 1
    for vol in (5.0, 50.0, 500.0):
        for factor in (2.0, 0.5):
            alerts, relearn = 0, []
            for seed in range(seeds):
                syn, start = shifted(np.random.default_rng(3000 + seed), Profile(vol * bucket / 3600, bucket, 42),
                                     factor)
                sc = scored(syn.values, bucket, variant)
                alerts += sum(s.alert for s in sc[start: start + 7 * per_day])
                exp = np.array([s.expected for s in sc])
                for t in range(start + per_day, len(exp)):
                    ratio = exp[t - per_day: t].sum() / syn.usual[t - per_day: t].sum()
                    if abs(ratio - 1) < 0.25:
                        relearn.append((t - start) * bucket / 3600)
                        break
                else:
                    relearn.append(float("nan"))
            out[(vol, factor)] = (alerts / seeds, float(np.median(relearn)))
    return out


def main() -> None:
    hourly_only = "--hourly" in sys.argv   # hourly buckets only (quiet families, bursts, shifts): a few minutes
    # --fine-seeds=N: N series per 5-minute family in the quiet table (1 by default; session 15 used 6)
    fine_seeds = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--fine-seeds=")), 1)
    args = [a for a in sys.argv[1:] if a != "--hourly" and not a.startswith("--fine-seeds=")]
    t0 = time.time()
    for variant in args[0].split(";") if args else VARIANTS:
        print(f"== {variant}", flush=True)
        hourly = quiet(variant, 3600, None, 4)
        kinds = {k: [v for f, v in hourly.items() if f.endswith(k) or (k == "plain" and f.endswith("/h"))]
                 for k in ("plain", "weekly", "trend", "heavy", "newsy")}
        print("  quiet hourly FA/month mean by kind", {k: round(float(np.mean(v)), 2) for k, v in kinds.items()},
              "max", round(max(hourly.values()), 2), flush=True)
        if not hourly_only:
            fine_fams = [f"{v:g}/h{k}" for v in (5, 50, 500) for k in ("", " heavy", " newsy")]
            fine = quiet(variant, 300, fine_fams, fine_seeds)
            print("  quiet 5-min FA/month", {k: round(v, 2) for k, v in fine.items()},
                  "mean", round(float(np.mean(list(fine.values()))), 2), flush=True)
        for bucket in (3600,) if hourly_only else (300,):
            b = bursts(variant, bucket)
            name = "hourly" if bucket == 3600 else "5-min"
            for key, idx in [(shape, 2) for shape in SHAPES] + [(size, 1) for size in (2.0, 3.0, 5.0)]:
                cells = [v for k, v in b.items() if k[idx] == key]
                d = [x for _, ds in cells for x in ds]
                print(f"  {name} bursts {key!s:6s} caught {sum(c for c, _ in cells)}/{2 * len(cells)} "
                      f"median delay {np.median(d) if d else float('nan'):.0f} min", flush=True)
        for bucket in (3600,) if hourly_only else (3600, 300):
            sh = shifts(variant, bucket)
            print(f"  level shifts ({bucket} s): alerts in the week after / hours to relearn",
                  {f"{v:g}/h x{f:g}": (round(a, 2), round(r, 1)) for (v, f), (a, r) in sh.items()}, flush=True)
        print(f"  {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
