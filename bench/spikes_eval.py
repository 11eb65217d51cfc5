"""Spike detection against the labelled NAB series (../shared/data/spikes-dev), scored the NAB way."""

from __future__ import annotations

import time
from dataclasses import replace

from balkanwatch.spikes import SpikeSettings, Surprise, decide, surprise
from bench.data import LabelledSeries, spikes_dev
from bench.nab import PROFILES, normalised, score_file

BUCKET_SECONDS = 300            # the series are 5-minute buckets
LOO_GRID = [round(0.50 + 0.025 * i, 3) for i in range(9)]   # thresholds 0.50 … 0.70 for leave-one-out
ANCHORS = [("ARTime", 74.9), ("Numenta HTM", 70.0), ("CAD OSE", 69.9), ("KNN CAD", 58.0),
           ("Twitter ADVec", 47.1), ("windowed Gaussian", 39.6)]


def _alerts(sur: Surprise, settings: SpikeSettings) -> list[bool]:
    return [s.alert for s in decide(sur, settings)]


def leave_one_out(data: list[LabelledSeries], surprises: list[Surprise], base: SpikeSettings,
                  profile: str) -> tuple[float, list[float]]:
    """Pick the threshold on four files, score the fifth with it; the normalised score over all held-out files."""
    per_threshold = {t: [score_file(_alerts(sur, replace(base, threshold=t)), s.windows, profile)
                         for s, sur in zip(data, surprises, strict=True)] for t in LOO_GRID}
    held_out, chosen = [], []
    for k in range(len(data)):
        best = max(LOO_GRID, key=lambda t: (normalised([fs for j, fs in enumerate(per_threshold[t]) if j != k],
                                                       profile), -abs(t - base.threshold)))
        chosen.append(best)
        held_out.append(per_threshold[best][k])
    return normalised(held_out, profile), chosen


def run() -> dict[str, object]:
    data = spikes_dev()
    base = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    started = time.perf_counter()
    surprises = [surprise(s.values, base) for s in data]
    by_profile = {p: [score_file(_alerts(sur, base), s.windows, p) for s, sur in zip(data, surprises, strict=True)]
                  for p in PROFILES}
    seconds = time.perf_counter() - started
    loo, chosen = leave_one_out(data, surprises, base, "standard")
    return {"files": [s.name for s in data], "rows": sum(len(s.values) for s in data),
            "scores": {p: normalised(fs, p) for p, fs in by_profile.items()},
            "per_file": by_profile["standard"], "loo": loo, "loo_thresholds": chosen,
            "seconds": seconds, "threshold": base.threshold}
