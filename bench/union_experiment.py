"""Experiment (issue #14, session 20, not shipped): the product's evidence or the sessions 8-17 NB evidence.

    .venv/bin/python -m bench.union_experiment [--budgets=0,1,0.25,0.1,0.03] [--seeds=48:144] [--dev]

The product judges a surge against an ordinary day's busiest hour, so a night surge that brings the night up
to an ordinary afternoon does not alert; the negative-binomial model of sessions 8-17 (bench/nb_detector.py)
judges it against its own hour. The union alerts on either: the product's months, or the NB months scaled so
that NB at `b` alerts a month meets the product's threshold (NB months × b / alerts_per_month), one cooldown
and re-arm (spikes.decide). b = 0 is the product alone.

On the synthetic NAB (bench/synthetic_nab.py) it scores per budget; `--dev` scores the five dev files once
(a look: counted in bench.spikes_eval.DEV_LOOKS). Results: docs/design.md, "Session 20, look 18".
"""

from __future__ import annotations

import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from balkanwatch.spikes import SpikeSettings, Surprise, decide, surprise
from bench import synthetic_nab
from bench.nab import PROFILES, FileScore, normalised, score_file
from bench.nb_detector import nb_surprise

BUCKET = 300


def union_alerts(values: list[float] | np.ndarray, bucket_seconds: int, nb_budget: float) -> list[bool]:
    """Alerts of the product's evidence or the NB evidence at `nb_budget` a month (0: the product alone)."""
    s = SpikeSettings(bucket_seconds=bucket_seconds)
    ours = surprise(values, s)
    if nb_budget > 0:
        nb = nb_surprise(values, SpikeSettings(bucket_seconds=bucket_seconds, alerts_per_month=nb_budget))
        scaled = nb.months * (s.months_needed * nb_budget)
        use_nb = scaled > ours.months
        ours = Surprise(ours.values, ours.expected, np.maximum(ours.months, scaled),
                        np.where(use_nb, nb.scale, ours.scale), ours.observed, ours.peak)
    return [r.alert for r in decide(ours, s)]


def _job(args: tuple[float, int]) -> tuple[float, FileScore]:
    budget, seed = args
    series = synthetic_nab.generate_series(seed)
    return budget, score_file(union_alerts(series.values, BUCKET, budget), series.windows)


def _arg(name: str, default: str) -> str:
    return next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default)


def main() -> None:
    budgets = [float(b) for b in _arg("budgets", "0,1,0.25,0.1,0.03").split(",")]
    first, last = (int(x) for x in _arg("seeds", "48:144").split(":"))
    results: dict[float, list[FileScore]] = defaultdict(list)
    with ProcessPoolExecutor(2) as pool:
        for budget, score in pool.map(_job, [(b, s) for b in budgets for s in range(first, last)]):
            results[budget].append(score)
    print(f"synthetic NAB, seeds {first}-{last - 1}")
    for b in budgets:
        every = results[b]
        print(f"  NB budget {b:g}: {normalised(every):.1f}, caught {sum(f.detected for f in every)}/"
              f"{sum(f.windows for f in every)}, false alerts {sum(f.false_alerts for f in every)}")
    if "--dev" in sys.argv:
        from bench.data import spikes_dev

        data = spikes_dev()
        for b in budgets:
            alerts = [union_alerts(s.values, BUCKET, b) for s in data]
            scores = ", ".join(f"{p} {normalised([score_file(a, s.windows, p) for s, a in zip(data, alerts, strict=True)], p):.1f}"
                               for p in PROFILES)
            print(f"  dev five, NB budget {b:g}: {scores}")


if __name__ == "__main__":
    main()
