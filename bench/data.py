"""Benchmark inputs read from ../shared/data (never copied into the repository)."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

SHARED_ENV = "BALKANWATCH_SHARED"


def shared_dir() -> Path:
    if os.environ.get(SHARED_ENV):
        return Path(os.environ[SHARED_ENV])
    return Path(__file__).resolve().parent.parent.parent / "shared"


@dataclass(frozen=True)
class LabelledPage:
    file_id: str
    url: str
    html: bytes
    title: str
    author: str
    date: str
    main_content: str


def extraction_dev() -> list[LabelledPage]:
    """The WCXB dev pages in ../shared with their ground truth (710; CC-BY-4.0, see its LICENSE)."""
    root = shared_dir() / "data" / "extraction-dev"
    pages = []
    for gt_path in sorted((root / "ground-truth").glob("*.json")):
        doc = json.loads(gt_path.read_text(encoding="utf-8"))
        gt = doc["ground_truth"]
        html = gzip.decompress((root / "html" / f"{gt_path.stem}.html.gz").read_bytes())
        pages.append(LabelledPage(gt_path.stem, doc["url"], html, gt.get("title") or "", gt.get("author") or "",
                                  gt.get("publish_date") or "", gt.get("main_content") or ""))
    return pages


@dataclass(frozen=True)
class LabelledSeries:
    name: str
    timestamps: list[str]
    values: list[float]
    windows: list[tuple[int, int]]   # row index ranges, inclusive


def spikes_dev() -> list[LabelledSeries]:
    """The five NAB realTweets series with their labelled anomaly windows (MIT, see LICENSE-NAB.txt)."""
    root = shared_dir() / "data" / "spikes-dev"
    windows = json.loads((root / "windows.json").read_text(encoding="utf-8"))
    out = []
    for name in sorted(windows):
        rows = (root / name).read_text(encoding="utf-8").splitlines()[1:]
        stamps = [r.split(",")[0] for r in rows]
        index = {t: i for i, t in enumerate(stamps)}
        spans = [(index[lo[:19]], index[hi[:19]]) for lo, hi in windows[name]]
        out.append(LabelledSeries(name, stamps, [float(r.split(",")[1]) for r in rows], spans))
    return out
