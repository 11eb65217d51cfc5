"""A writer session on a big warehouse: open, load a dozen articles, close (DuckDB checkpoints at close).

Every scheduled run does this several times (the flow's gate closes the warehouse when idle). Measured on an
empty warehouse (the reference, same process) and on one holding HISTORY synthetic articles with their raw
pages, sketches and paragraph signatures. Before schema v7 the per-article tables had primary keys, and
DuckDB rewrote each indexed table's last row group at every checkpoint: 2.1–2.5 s per close at 100,000.
"""

from __future__ import annotations

import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

from balkanwatch.config import SourceSettings
from balkanwatch.models import ExtractedArticle, FetchLog, SourceOutcome
from balkanwatch.urls import article_id
from warehouse import Warehouse

HISTORY = 100_000
NEW = 12
REPEATS = 5


def _article(url: str, now: datetime) -> ExtractedArticle:
    text = "KFOR reinforced its patrols in northern Kosovo. " * 40
    return ExtractedArticle(
        article_id=article_id(url), url=url, canonical_url=url, source="site", title=url, author=None,
        published_at=now - timedelta(minutes=5), published_from="feed", fetched_at=now, language="en",
        site_name=None, text=text, content_hash="v1:bench", extractor_version="bench", final_url=url,
        encoding="utf-8", raw_html=zlib.compress(text.encode()), raw_bytes=len(text), sketch=(1, 2, 3),
        signatures=(("p:bench", "paragraph", "KFOR reinforced its patrols."),))


def _prepare(path: Path, history: int) -> None:
    with Warehouse.open(path) as wh:
        wh.sync_sources([SourceSettings(name="site", feed="https://site.example/feed")], 10)
        wh.start_run("history", None)
        if history:   # synthetic rows straight in SQL (seconds, not minutes); ≈2 KB of text and 3 KB of page each
            wh.con.execute("""INSERT INTO articles (article_id, url, source, published_from, fetched_at, text,
                                content_hash, extractor_version, story_id)
                              SELECT 'h' || i, 'https://h.example/' || i, 'site', 'feed', now()::TIMESTAMP,
                                repeat('history text ' || i::VARCHAR || ' ', 150), 'v1:h', 'h', 's' || i
                              FROM range(?) t(i)""", [history])
            wh.con.execute("""INSERT INTO raw_pages SELECT 'h' || i, 'https://h.example/' || i, NULL,
                                now()::TIMESTAMP, 'utf-8', repeat('x', 3000)::BLOB, 3000 FROM range(?) t(i)""", [history])
            wh.con.execute("""INSERT INTO article_sketches SELECT 'h' || i, now()::TIMESTAMP, [i::UINTEGER, 2, 3], NULL
                              FROM range(?) t(i)""", [history])
            wh.con.execute("""INSERT INTO paragraph_signatures SELECT 'h' || (i // 5), 'site', 'p:' || i, 'paragraph',
                                'example paragraph ' || i FROM range(?) t(i)""", [history * 5])


def _session(path: Path, k: int) -> float:
    """Seconds for one writer session that loads NEW articles (open → transaction → close)."""
    now = datetime.now(UTC)
    arts = tuple(_article(f"https://site.example/{k}/{j}", now) for j in range(NEW))
    log = FetchLog("site", "https://site.example/feed", "https://site.example/feed", 200, now, 5.0, 100, False,
                   None, None)
    t0 = time.perf_counter()
    with Warehouse.open(path) as wh:
        wh.record_outcome(SourceOutcome(source="site", ok=True, articles=arts, fetches=(log,), items_listed=NEW),
                          "history", now=now, next_poll_at=now, failures=0)
    return time.perf_counter() - t0


def measure(history: int = HISTORY) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        empty, full = Path(tmp) / "empty.duckdb", Path(tmp) / "full.duckdb"
        _prepare(empty, 0)
        _prepare(full, history)
        times: dict[str, list[float]] = {"empty": [], "full": []}
        for k in range(REPEATS):   # interleaved
            times["empty"].append(_session(empty, k))
            times["full"].append(_session(full, k))
    e, f = median(times["empty"]), median(times["full"])
    return {"history": history, "new": NEW, "empty_s": e, "full_s": f, "ratio": f / e}
