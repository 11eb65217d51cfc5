"""Spike detection against the labelled NAB series (../shared/data/spikes-dev), scored the NAB way."""

from __future__ import annotations

import time
from dataclasses import replace

from balkanwatch.spikes import SpikeSettings, Surprise, decide, surprise
from bench.data import LabelledSeries, spikes_dev
from bench.nab import PROFILES, FileScore, normalised, score_file

BUCKET_SECONDS = 300            # the series are 5-minute buckets
LOO_GRID = [round(0.50 + 0.025 * i, 3) for i in range(9)]   # thresholds 0.50 … 0.70 for leave-one-out
# Every set of spans (seconds) measured on these files while the spans were chosen (session 7), the shipped
# one included. `structure_leave_one_out` picks spans *and* threshold on four files and scores the fifth: the
# honest estimate for a file the choice never saw.
FIRST_DESIGN = (300, 900, 3600)             # 1, 3 and 12 five-minute buckets: spans counted in buckets
WITH_12H = (3600, 3 * 3600, 12 * 3600)      # the shipped spans plus alerts.surge_hours' 12-hour option
SPANS_TRIED = [FIRST_DESIGN, (3600,), (900, 3600), (3600, 3 * 3600), WITH_12H, (300, 3600, 3 * 3600),
               (1800,), (1800, 3600), (7200,), (3600, 7200), (1800, 3600, 3 * 3600), (3600, 12 * 3600)]
ANCHORS = [("ARTime", 74.9), ("Numenta HTM", 70.0), ("CAD OSE", 69.9), ("KNN CAD", 58.0),
           ("Twitter ADVec", 47.1), ("windowed Gaussian", 39.6)]

# The same five files, from NAB's published per-file results (github.com/numenta/NAB,
# results/<detector>/<detector>_standard_scores.csv, column Score): each detector's raw S per file at its
# threshold optimised for the whole corpus. Normalised over these files by `five_file_anchors`, they say
# how hard these particular series are (much easier than the corpus as a whole).
PUBLISHED_RAW = {
    "ARTime": {"AAPL": 2.91610, "AMZN": 2.73663, "CRM": 2.10073, "CVS": 1.83809, "FB": 1.21424},
    "CAD OSE": {"AAPL": 1.58811, "AMZN": -0.38862, "CRM": 2.58271, "CVS": 2.71039, "FB": 1.72048},
    "Numenta HTM": {"AAPL": 1.20961, "AMZN": 0.94280, "CRM": 0.71958, "CVS": 2.30920, "FB": 1.38958},
    "KNN CAD": {"AAPL": 2.48335, "AMZN": 0.48966, "CRM": 1.36482, "CVS": 1.59161, "FB": 0.00985},
    "Twitter ADVec": {"AAPL": 0.16875, "AMZN": 1.66857, "CRM": 1.78270, "CVS": 1.65368, "FB": -0.14690},
    "windowed Gaussian": {"AAPL": 1.51400, "AMZN": 1.55848, "CRM": 0.76385, "CVS": 0.77368, "FB": 0.11975},
}


def ticker(name: str) -> str:
    return name.removeprefix("Twitter_volume_").removesuffix(".csv")


def five_file_anchors(data: list[LabelledSeries]) -> list[tuple[str, float]]:
    """Each published detector's standard score normalised over these files, best first."""
    windows = {ticker(s.name): len(s.windows) for s in data}
    out = []
    for detector, raw in PUBLISHED_RAW.items():
        scores = [FileScore(raw[t], n, 0, 0) for t, n in windows.items()]
        out.append((detector, normalised(scores, "standard")))
    return sorted(out, key=lambda pair: -pair[1])


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


SpanTable = dict[tuple[tuple[int, ...], float], list[FileScore]]


def span_table(data: list[LabelledSeries], base: SpikeSettings) -> SpanTable:
    """Standard-profile scores of every file for each set of spans tried and each threshold of the grid."""
    table = {}
    for spans in SPANS_TRIED:
        settings = replace(base, scale_seconds=spans)
        surprises = [surprise(s.values, settings) for s in data]
        for t in LOO_GRID:
            table[(spans, t)] = [score_file(_alerts(sur, replace(settings, threshold=t)), s.windows)
                                 for s, sur in zip(data, surprises, strict=True)]
    return table


def structure_leave_one_out(table: SpanTable) -> tuple[float, list[str]]:
    """Spans and threshold picked together on four files, the fifth scored with them; over all five."""
    files = len(next(iter(table.values())))
    held_out, chosen = [], []
    for k in range(files):
        best = max(table, key=lambda key: normalised([fs for j, fs in enumerate(table[key]) if j != k]))
        held_out.append(table[best][k])
        chosen.append(f"{'/'.join(_span(s) for s in best[0])} at {best[1]}")
    return normalised(held_out), chosen


def _span(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"


def variant(table: SpanTable, spans: tuple[int, ...], threshold: float) -> dict[str, float]:
    """Standard score, windows found and false alerts of other spans at the shipped threshold."""
    scores = table[(spans, threshold)]
    return {"score": normalised(scores), "detected": sum(f.detected for f in scores),
            "false_alerts": sum(f.false_alerts for f in scores)}


def run() -> dict[str, object]:
    data = spikes_dev()
    base = SpikeSettings(bucket_seconds=BUCKET_SECONDS)
    started = time.perf_counter()
    surprises = [surprise(s.values, base) for s in data]
    by_profile = {p: [score_file(_alerts(sur, base), s.windows, p) for s, sur in zip(data, surprises, strict=True)]
                  for p in PROFILES}
    seconds = time.perf_counter() - started
    loo, chosen = leave_one_out(data, surprises, base, "standard")
    table = span_table(data, base)
    structure_loo, structure_chosen = structure_leave_one_out(table)
    return {"structure_loo": structure_loo, "structure_chosen": structure_chosen,
            "first_design": variant(table, FIRST_DESIGN, base.threshold),
            "with_12h": variant(table, WITH_12H, base.threshold),
            "spans": "/".join(_span(s) for s in base.scale_seconds),
            "tried": len(SPANS_TRIED), "files": [s.name for s in data], "rows": sum(len(s.values) for s in data),
            "scores": {p: normalised(fs, p) for p, fs in by_profile.items()},
            "per_file": by_profile["standard"], "loo": loo, "loo_thresholds": chosen,
            "seconds": seconds, "threshold": base.threshold, "same_files": five_file_anchors(data)}
