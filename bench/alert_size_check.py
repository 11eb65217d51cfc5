"""Label-free checks of where the shipped detector alerts on the dev series (#14, session 17; no labels read).

`python -m bench.alert_size_check`: for every alert of the shipped defaults on the five dev series, the
window's excess over its expectation against the mean window volume of the day before it (would a floor on
the surge's size against the topic's usual volume remove any?), and the model's own one-hour tail honesty,
P(p < q) / q, in the quiet, middle and busy thirds of hours by expected volume.
"""

from __future__ import annotations

import numpy as np

from balkanwatch.spikes import WARMUP_SECONDS, SpikeSettings, _model_tails, score_series
from bench.data import spikes_dev
from bench.spikes_eval import BUCKET_SECONDS, ticker

LEVELS = (0.01, 0.001)


def excess_over_usual(values: np.ndarray, s: SpikeSettings) -> list[float]:
    """(observed − expected) of each alert's window / the mean sum of a window that long over the day before."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    day = s.buckets(86_400)
    out = []
    for r in score_series(values, s):
        if r.alert:
            end = r.index + 1 - r.scale
            usual = (csum[end] - csum[max(0, end - day)]) / day * r.scale
            out.append((r.observed - r.baseline) / max(usual, 1e-9))
    return sorted(out)


def tails_by_volume(values: np.ndarray, s: SpikeSettings) -> list[list[float]]:
    """P(p < q) / q of the one-hour span's tail in each third of windows by expected volume."""
    mu, tails = _model_tails(values, s)
    m = s.buckets(3600)
    _, p = tails[m]
    cmu = np.concatenate([[0.0], np.cumsum(mu)])
    base = np.full(len(values), np.nan)
    base[m - 1:] = cmu[m:] - cmu[:-m]
    keep = np.arange(len(values)) >= max(s.buckets(WARMUP_SECONDS), m - 1)
    thirds = np.digitize(base[keep], np.quantile(base[keep], [1 / 3, 2 / 3]))
    return [[float((p[keep][thirds == c] < q).mean() / q) for q in LEVELS] for c in range(3)]


def main() -> None:
    s = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    print("| series | alerts | excess / usual window volume | tails, quiet third | middle | busy |")
    print("|---|---|---|---|---|---|")
    for series in spikes_dev():
        x = np.asarray(series.values, dtype=float)
        ex = excess_over_usual(x, s)
        tails = [" / ".join(f"{v:.1f}" for v in row) for row in tails_by_volume(x, s)]
        print(f"| {ticker(series.name)} | {len(ex)} | {' '.join(f'{v:.1f}' for v in ex)} | " + " | ".join(tails) + " |")


if __name__ == "__main__":
    main()
