"""NAB scoring (Numenta Anomaly Benchmark) as described in ../shared/data/spikes-dev/README.md.

Pure functions: rows, windows (row index ranges) and alert flags in, a normalised score out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PROFILES: dict[str, tuple[float, float, float]] = {  # (A_TP, A_FP, A_FN), NAB's three application profiles
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP": (1.0, 0.22, 1.0),
    "reward_low_FN": (1.0, 0.11, 2.0),
}


def sigma(y: float) -> float:
    """NAB's scaled sigmoid: +1 far before the window end, 0 at it, −1 well after (−1 for y > 3)."""
    return -1.0 if y > 3 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_rows(n: int) -> int:
    """Rows ignored at the start of a file: min(15 % of rows, 750)."""
    return min(int(math.floor(0.15 * n)), 750)


@dataclass(frozen=True)
class FileScore:
    raw: float          # S for this file
    windows: int
    detected: int
    false_alerts: int


def score_file(alerts: list[bool], windows: list[tuple[int, int]], profile: str = "standard") -> FileScore:
    """S for one file: earliest alert per window rewarded, each alert row outside windows charged."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    start = probation_rows(len(alerts))
    total, detected, false_alerts = 0.0, 0, 0
    rewarded: set[int] = set()
    for i in range(start, len(alerts)):
        if not alerts[i]:
            continue
        inside = next((k for k, (lo, hi) in enumerate(windows) if lo <= i <= hi), None)
        if inside is not None:
            if inside not in rewarded:
                lo, hi = windows[inside]
                width = hi - lo + 1
                total += a_tp * sigma(-(hi - i + 1) / width) / sigma(-1.0)
                rewarded.add(inside)
                detected += 1
            continue
        false_alerts += 1
        before = [(lo, hi) for lo, hi in windows if hi < i]
        if not before:
            total -= a_fp
        else:
            lo, hi = before[-1]
            total += a_fp * sigma((i - hi) / max(hi - lo, 1))
    total -= a_fn * (len(windows) - len(rewarded))
    return FileScore(total, len(windows), detected, false_alerts)


def normalised(scores: list[FileScore], profile: str = "standard") -> float:
    """100·(S − S_null)/(S_perfect − S_null) over a set of files."""
    a_tp, _, a_fn = PROFILES[profile]
    n = sum(s.windows for s in scores)
    raw = sum(s.raw for s in scores)
    perfect, null = a_tp * n, -a_fn * n
    return 100.0 * (raw - null) / (perfect - null)
