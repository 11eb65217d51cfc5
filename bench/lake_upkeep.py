"""`warehouse maintain` on a lake that many small loads have grown (issue #16): how long it takes, what it
leaves, and what it buys the readers — on a throwaway PostgreSQL catalog on loopback (tests/postgres.py)
and a local data path.

COMMITS loads of PER_COMMIT synthetic articles each (a poll's worth, through `Warehouse.load_articles`, the
load path ingest takes: articles, raw pages, sketches, one DuckLake commit each) build the lake: many small
Parquet files and inlined rows, a snapshot per commit. Then, in the same process: a reader's queries
before maintenance (QUERY_REPEATS each, in an open read-only session: a day-by-source count over every
article, and one article's row by id), `maintain` (grace 0, snapshots kept, so only the flush, merges and
rewrites work), and the same queries after. The ratio after / before is the readers' gain, measured in the
same run. `python -m bench.lake_upkeep`.
"""

from __future__ import annotations

import json
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from balkanwatch.config import load_config
from balkanwatch.models import ExtractedArticle
from balkanwatch.urls import article_id

COMMITS = 300            # ~300 polls that brought articles (a few days of a 60-feed desk)
PER_COMMIT = 20
QUERY_REPEATS = 15
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WORDS = ("border patrol KFOR Mitrovica election council bridge police customs Pristina Belgrade dialogue "
         "barricade mayor EULEX vote parliament crossing Jarinje Ibar").split()
DAY_BY_SOURCE = """SELECT source, date_trunc('day', fetched_at) AS day, count(*) AS n, sum(length(text)) AS chars
                   FROM articles GROUP BY ALL ORDER BY ALL"""
ONE_ARTICLE = "SELECT url, title, text FROM articles WHERE article_id = ?"


def article(i: int) -> ExtractedArticle:
    url = f"https://site{i % 12}.example/news/{i}.html"
    text = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(300))
    when = NOW - timedelta(minutes=10 * (COMMITS * PER_COMMIT - i))
    return ExtractedArticle(
        article_id=article_id(url), url=url, canonical_url=url, source=f"feed{i % 60}", title=f"Story {i}",
        author="A", published_at=when, published_from="feed", fetched_at=when, language="en", site_name="Site",
        text=text, content_hash=f"v1:{i}", extractor_version="bench", final_url=url, encoding="utf-8",
        raw_html=zlib.compress(f"<html><body><p>{text}</p></body></html>".encode()))


def queries(config: Any, probe: str) -> dict[str, float]:
    """Median seconds of each reader query (QUERY_REPEATS times, interleaved) in one read-only session."""
    from warehouse import Warehouse

    times: dict[str, list[float]] = {"day_by_source": [], "one_article": []}
    with Warehouse.for_config(config, read_only=True) as wh:
        for _ in range(QUERY_REPEATS):
            t0 = time.perf_counter()
            wh.con.execute(DAY_BY_SOURCE).fetchall()
            times["day_by_source"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert wh.con.execute(ONE_ARTICLE, [probe]).fetchall()
            times["one_article"].append(time.perf_counter() - t0)
    return {k: median(v) for k, v in times.items()}


def measure() -> dict[str, Any]:
    from tests.postgres import running_postgres
    from warehouse import Warehouse

    with tempfile.TemporaryDirectory(prefix="bw-lake-upkeep-") as tmp, running_postgres() as pg:
        path = Path(tmp) / "lake.toml"
        path.write_text(f'[warehouse]\nbackend = "ducklake"\ncatalog = "{pg.createdb("upkeep")}"\n'
                        'data_path = "lake-data"\n', encoding="utf-8")
        config = load_config(path)
        t0 = time.perf_counter()
        with Warehouse.for_config(config) as wh:
            wh.start_run("bench", None)
            for c in range(COMMITS):
                wh.load_articles([article(c * PER_COMMIT + k) for k in range(PER_COMMIT)], "bench")
        loading = time.perf_counter() - t0
        probe = article(COMMITS * PER_COMMIT // 2).article_id
        before = queries(config, probe)
        with Warehouse.for_config(config) as wh:
            t0 = time.perf_counter()
            report = wh.maintain(keep=timedelta(days=365), grace=timedelta(0))
            took = time.perf_counter() - t0
        after = queries(config, probe)
        with Warehouse.for_config(config, read_only=True) as wh:
            assert wh.counts()["articles"] == COMMITS * PER_COMMIT
        files = sum(1 for _ in (Path(tmp) / "lake-data").rglob("*.parquet"))
    return {"commits": COMMITS, "per_commit": PER_COMMIT, "articles": COMMITS * PER_COMMIT,
            "loading_s": loading, "maintain_s": took, "report": report.as_dict(), "before": before,
            "after": after, "parquet_files_left": files,
            "ratios": {k: after[k] / before[k] for k in before}}


def render(m: dict[str, Any]) -> list[str]:
    r = m["report"]
    return [
        "## DuckLake maintenance on a grown lake (issue #16)", "",
        f"{m['commits']} loads of {m['per_commit']} synthetic articles each ({m['articles']:,} articles, one DuckLake "
        f"commit a load, {m['loading_s']:.0f} s) into a lake on a loopback PostgreSQL catalog and a local data path; "
        f"then a reader's queries (medians of {QUERY_REPEATS}, one read-only session), `maintain` (grace 0, "
        "snapshots kept), the same queries again (`bench/lake_upkeep.py`).", "",
        "| maintain | inlined rows flushed | files merged → written | files rewritten | data files before → after |",
        "|---|---|---|---|---|",
        f"| {m['maintain_s']:.1f} s | {r['inlined_rows_flushed']:,} | {r['files_merged']:,} → {r['files_written']:,} | "
        f"{r['files_rewritten']:,} | {r['data_files_before']:,} → {r['data_files_after']:,} |", "",
        "| reader query | before | after | after / before |", "|---|---|---|---|",
        *(f"| {name.replace('_', ' ')} | {m['before'][name] * 1000:.1f} ms | {m['after'][name] * 1000:.1f} ms | "
          f"{m['ratios'][name]:.2f} |" for name in m["before"]), "",
    ]


if __name__ == "__main__":
    result = measure()
    print("\n".join(render(result)))
    print(json.dumps(result, default=str, indent=1))
