"""What a reading of rising words costs on a DuckDB warehouse, with and without the stories' words stored.

`python -m bench.rising_cost [STORIES_A_DAY]` builds a warehouse file of 29 days of synthetic stories (one
article each, 300 words of a 20,000-word Zipf vocabulary, 12 sources), then times `rising_words` over the
last day against the 28 before:

- cold: no stored words (`story_words` empty: every story's text is split, as before session 39);
- stored: after `refresh_story_words` (what the alerts cycle runs first);
- the refresh after another hour of stories (what each alerts cycle splits);
and checks that the two readings are equal. The ratio stored / cold is the figure (same run, same file).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from balkanwatch.config import parse_config
from flows.maintenance import rising_words
from warehouse import Warehouse

DAYS = 29
WORDS = 300
VOCAB = 20_000
SOURCES = 12


def _fill(wh: Warehouse, rng: np.random.Generator, start: datetime, hours: float, per_day: int, first: int) -> int:
    """Stories (one article each) spread over `hours` from `start`; returns how many."""
    n = int(per_day * hours / 24)
    share = np.arange(1, VOCAB + 1) ** -1.0
    share /= share.sum()
    vocab = np.array([f"w{i}" for i in range(VOCAB)])
    ids = [f"{first + i}" for i in range(n)]
    picks = rng.choice(VOCAB, size=(n, WORDS), p=share)
    when = [start + timedelta(hours=hours * i / n) for i in range(n)]
    articles = pa.table({
        "article_id": [f"a{i}" for i in ids], "url": [f"https://s{int(i) % SOURCES}.example/{i}" for i in ids],
        "source": [f"s{int(i) % SOURCES}" for i in ids], "title": [" ".join(vocab[p[:8]]) for p in picks],
        "fetched_at": when, "text": [" ".join(vocab[p]) for p in picks], "content_hash": [f"h{i}" for i in ids],
        "story_id": [f"st{i}" for i in ids]})
    wh.con.register("bench_articles", articles)
    wh.con.execute("""INSERT INTO articles (article_id, url, source, title, published_from, fetched_at, text,
                                            content_hash, extractor_version, story_id)
                      SELECT article_id, url, source, title, 'page', fetched_at, text, content_hash, 'bench', story_id
                      FROM bench_articles""")
    wh.con.execute("""INSERT INTO article_sketches (article_id, story_time, hashes)
                      SELECT article_id, fetched_at, [] FROM bench_articles""")
    wh.con.unregister("bench_articles")
    return n


def measure(per_day: int = 1000) -> dict[str, float]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"warehouse": {"path": str(Path(tmp) / "bench.duckdb")}}, Path(tmp))
        now = datetime(2026, 12, 1)
        start = now - timedelta(days=DAYS)
        with Warehouse.for_config(config) as wh:
            stories = _fill(wh, rng, start, DAYS * 24, per_day, 0)
            t = time.perf_counter()
            cold = rising_words(wh, span=timedelta(days=1), now=now, limit=0)
            cold_s = time.perf_counter() - t
            t = time.perf_counter()
            wh.refresh_story_words(now - timedelta(days=DAYS))
            first_refresh_s = time.perf_counter() - t
            t = time.perf_counter()
            stored = rising_words(wh, span=timedelta(days=1), now=now, limit=0)
            stored_s = time.perf_counter() - t
            assert stored == cold, "the reading with stored words differs from the reading of the texts"
            _fill(wh, rng, now, 1, per_day, stories)
            t = time.perf_counter()
            wh.refresh_story_words(now + timedelta(hours=1) - timedelta(days=DAYS))
            hour_s = time.perf_counter() - t
    return {"stories": stories, "cold_s": cold_s, "stored_s": stored_s, "ratio": stored_s / cold_s,
            "first_refresh_s": first_refresh_s, "hour_refresh_s": hour_s}


STORED_RATIO_MAX = 0.6   # a reading with the words stored / one that splits every text (0.38-0.43 on a loaded
                         # two-core machine, session 39); the hour's refresh is reported, not gated


def checks(r: dict[str, float]) -> list[tuple[str, bool]]:
    return [(f"rising words with the stories' words stored ≤ {STORED_RATIO_MAX}× the time of splitting every text "
             f"({r['stories']:,} stories): {r['ratio']:.2f}× ({r['stored_s']:.2f} s against {r['cold_s']:.2f} s)",
             r["ratio"] <= STORED_RATIO_MAX)]


def render(r: dict[str, float]) -> list[str]:
    return ["", "## Rising words: what a reading costs (bench/rising_cost.py)", "",
            f"{r['stories']:,} synthetic stories over 29 days (1,000 a day, 300 words each) in a DuckDB file; "
            "`rising_words` over the last day against the 28 before, the same reading both ways.", "",
            "| stories' words | seconds |", "|---|---|",
            f"| split from every text (no `story_words`) | {r['cold_s']:.2f} |",
            f"| stored (`refresh_story_words` first) | {r['stored_s']:.2f} |",
            f"| storing them all (once) | {r['first_refresh_s']:.2f} |",
            f"| storing an hour's new stories (each alerts cycle) | {r['hour_refresh_s']:.2f} |", ""]


def main() -> None:
    per_day = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    r = measure(per_day)
    print(f"{r['stories']:,} stories: a reading {r['cold_s']:.2f} s cold, {r['stored_s']:.2f} s with the words "
          f"stored ({r['ratio']:.2f}×); storing them all {r['first_refresh_s']:.2f} s, an hour's new ones "
          f"{r['hour_refresh_s']:.2f} s")


if __name__ == "__main__":
    main()
