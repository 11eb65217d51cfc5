"""Does retention bound a DuckDB file warehouse? (`python -m bench.retention [DAYS] [PER_DAY]`; not in `make bench`)

Simulates DAYS days of a warehouse fed PER_DAY articles a day (the WCXB dev pages' real HTML, stored as ingest
stores it: zlib level `RAW_HTML_ZLIB_LEVEL`; their ground-truth text as the article), 40 sources, a fetch-log
row per source every 10 minutes, into two files side by side: one kept whole, one maintained every simulated
day by `Warehouse.maintain` with `warehouse.keep_raw_pages_days` = KEEP_DAYS and `keep_fetches_days` =
KEEP_DAYS. Prints both files' sizes per day: with retention the file should stop growing (DuckDB reuses the
freed blocks; it does not give them back), without it the file grows by the raw pages' bytes every day.
"""

from __future__ import annotations

import sys
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from balkanwatch.maintenance import Retention
from balkanwatch.models import ExtractedArticle
from balkanwatch.urls import article_id
from bench.data import extraction_dev
from connectors.extract import RAW_HTML_ZLIB_LEVEL
from warehouse import Warehouse

KEEP_DAYS = 7
SOURCES = 40
FETCHES_PER_DAY = SOURCES * 144   # every source polled every 10 minutes


def day_of_articles(pages: list, day: int, per_day: int, start: datetime) -> list[ExtractedArticle]:  # type: ignore[type-arg]
    out = []
    for i in range(per_day):
        page = pages[(day * per_day + i) % len(pages)]
        url = f"https://site{i % SOURCES}.example/{day}/{i}/{page.file_id}"
        when = start + timedelta(days=day, minutes=i * 1440 / per_day)
        out.append(ExtractedArticle(
            article_id=article_id(url), url=url, canonical_url=url, source=f"source {i % SOURCES}",
            title=page.title, author=page.author, published_at=when, published_from="page", fetched_at=when,
            language="en", site_name="Site", text=page.main_content, content_hash=f"v1:{day}:{i}",
            extractor_version="bench", final_url=url, encoding="utf-8",
            raw_html=zlib.compress(page.html, RAW_HTML_ZLIB_LEVEL), raw_bytes=len(page.html)))
    return out


def fetch_rows(day: int, start: datetime) -> pa.Table:
    times = [start + timedelta(days=day, seconds=k * 86400 / FETCHES_PER_DAY) for k in range(FETCHES_PER_DAY)]
    return pa.table({
        "run_id": [f"run-{day}-{k // SOURCES}" for k in range(FETCHES_PER_DAY)],
        "source": [f"source {k % SOURCES}" for k in range(FETCHES_PER_DAY)],
        "url": [f"https://site{k % SOURCES}.example/feed.xml" for k in range(FETCHES_PER_DAY)],
        "final_url": pa.nulls(FETCHES_PER_DAY, pa.string()),
        "status": [200 if k % 6 == 0 else 304 for k in range(FETCHES_PER_DAY)],
        "started_at": pa.array([t.replace(tzinfo=None) for t in times], pa.timestamp("us")),
        "elapsed_ms": [40.0 + k % 300 for k in range(FETCHES_PER_DAY)],
        "bytes": [30_000 if k % 6 == 0 else 0 for k in range(FETCHES_PER_DAY)],
        "not_modified": [k % 6 != 0 for k in range(FETCHES_PER_DAY)],
        "error": pa.nulls(FETCHES_PER_DAY, pa.string()), "error_kind": pa.nulls(FETCHES_PER_DAY, pa.string())})


def used_bytes(wh: Warehouse) -> int:
    """Bytes of the file's blocks in use (the file itself also holds free blocks, reused by later writes)."""
    block_size, used = wh.con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()  # type: ignore[misc]
    return int(block_size) * int(used)


def main(days: int = 30, per_day: int = 300) -> None:
    pages = extraction_dev()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    raw_per_day = sum(len(zlib.compress(p.html, RAW_HTML_ZLIB_LEVEL)) for p in pages[:per_day])
    print(f"{per_day} articles a day, raw pages {raw_per_day / 1e6:.1f} MB a day compressed; "
          f"{FETCHES_PER_DAY} fetch-log rows a day; retention {KEEP_DAYS} days")
    print("day | kept whole: file / used (MB) | with retention: file / used (MB) | raw pages kept (MB of them)")
    with tempfile.TemporaryDirectory() as tmp:
        whole, kept = Path(tmp) / "whole.duckdb", Path(tmp) / "kept.duckdb"
        used: dict[Path, int] = {}
        for day in range(days):
            arts, fetches = day_of_articles(pages, day, per_day, start), fetch_rows(day, start)
            for path in (whole, kept):
                with Warehouse.open(path) as wh:
                    wh.start_run(f"r{day}", None)
                    wh.load_articles(arts, f"r{day}")
                    with wh.registered(bench_fetches=fetches), wh.transaction():
                        wh.con.execute("INSERT INTO fetches SELECT * FROM bench_fetches")
                    if path == kept:
                        now = start + timedelta(days=day + 1)
                        wh.maintain(keep=timedelta(days=7), grace=timedelta(hours=1),
                                    retention=Retention.from_days(now, KEEP_DAYS, KEEP_DAYS))
                    else:
                        wh.con.execute("CHECKPOINT")
                    raw, raw_bytes = wh.con.execute(
                        "SELECT count(*), sum(octet_length(html_zlib)) FROM raw_pages").fetchone()  # type: ignore[misc]
                    used[path] = used_bytes(wh)
            print(f"{day + 1} | {whole.stat().st_size / 1e6:.0f} / {used[whole] / 1e6:.0f} | "
                  f"{kept.stat().st_size / 1e6:.0f} / {used[kept] / 1e6:.0f} | {raw} ({raw_bytes / 1e6:.0f})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
