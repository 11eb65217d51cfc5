"""What keeping the full-text index fresh costs, and what a search costs (`python -m bench.search_index_cost [N]`).

A DuckDB file of N articles (default 10,000; the WCXB dev pages' true texts cut to 6,000 characters, with
their titles, under distinct ids), its whole index built (`rebuild_fts`, timed), then 500 more articles (an
hour or so of a busy watch) indexed in the recent index alone (`rebuild_recent_fts`, timed: what ingest's
hourly refresh now costs, against the whole rebuild it did before session 42). Searches (ten queries, three
rounds, medians): ours (`lake_search.bm25_sql` over both indexes) against DuckDB's own `match_bm25` on a whole
index over the same articles (the query before session 42), and the hits compared: the same articles with the
same scores.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median

import pyarrow as pa

from balkanwatch.config import parse_config
from bench.data import LabelledPage
from warehouse import Warehouse
from warehouse.lake_search import expanded
from warehouse.store import FTS_SCHEMA

NEW = 500
CHARS = 6000
QUERIES = ("Kosovo", "police", "election results", "climate change policy", "football", "court ruling",
           "market prices", "health", "president visit", "university research")
ROUNDS = 3


def _add(wh: Warehouse, pages: list[LabelledPage], first: int, n: int, now: datetime) -> None:
    ids = [f"a{i}" for i in range(first, first + n)]
    table = pa.table({"article_id": ids, "url": [f"https://x.example/{i}" for i in range(first, first + n)],
                      "title": [pages[i % len(pages)].title for i in range(first, first + n)],
                      "fetched_at": [now - timedelta(minutes=i) for i in range(first, first + n)],
                      "text": [pages[i % len(pages)].main_content[:CHARS] for i in range(first, first + n)]})
    with wh.registered(bench_articles=table):
        wh.con.execute("""INSERT INTO articles (article_id, url, source, title, published_from, fetched_at, text,
                                                content_hash, extractor_version)
                          SELECT article_id, url, 'bench', title, 'page', fetched_at, text, article_id, 'bench'
                          FROM bench_articles""")


def _timed(call):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = call()
    return time.perf_counter() - t, out


def _duckdb_own(wh: Warehouse, query: str, limit: int) -> list[tuple[str, float]]:
    return [(str(a), float(s)) for a, s in wh.con.execute(
        f"""SELECT article_id, round(score, 3) FROM (
              SELECT article_id, {FTS_SCHEMA}.match_bm25(article_id, ?) AS score FROM articles)
            WHERE score IS NOT NULL ORDER BY score DESC, article_id LIMIT ?""",
        [expanded(wh.con, FTS_SCHEMA, query), limit]).fetchall()]


def _ours(wh: Warehouse, query: str, limit: int) -> list[tuple[str, float]]:
    return [(h["article_id"], h["score"]) for h in wh.search(query, limit=limit)]


def measure(pages: list[LabelledPage], articles: int = 10_000) -> dict[str, float]:
    now = datetime(2026, 12, 1)
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"warehouse": {"path": str(Path(tmp) / "bench.duckdb")}}, Path(tmp))
        with Warehouse.for_config(config) as wh:
            _add(wh, pages, 0, articles, now)
            whole_s, _ = _timed(wh.rebuild_fts)
            _add(wh, pages, articles, NEW, now + timedelta(hours=1))
            recent_s, held = _timed(wh.rebuild_recent_fts)
            ours_s: list[float] = []
            split = {}
            for _ in range(ROUNDS):
                for q in QUERIES:
                    s, split[q] = _timed(lambda q=q: _ours(wh, q, 20))
                    ours_s.append(s)
            wh.rebuild_fts()
            own_s: list[float] = []
            same = True
            for _ in range(ROUNDS):
                for q in QUERIES:
                    s, theirs = _timed(lambda q=q: _duckdb_own(wh, q, 20))
                    own_s.append(s)
                    same &= sorted(theirs) == sorted(split[q]) == sorted(_ours(wh, q, 20))
    return {"articles": articles, "new": NEW, "held": held, "whole_s": whole_s, "recent_s": recent_s,
            "ratio": recent_s / whole_s, "ours_ms": median(ours_s) * 1000, "own_ms": median(own_s) * 1000,
            "search_ratio": median(ours_s) / median(own_s), "same": float(same)}


RECENT_RATIO_MAX = 0.25   # the hourly refresh (500 new) / a whole rebuild at 10,000 (0.05 in session 42)
SEARCH_RATIO_MAX = 1.5    # a search over both indexes / DuckDB's match_bm25 over one whole index (0.67 in session 42)


def checks(r: dict[str, float]) -> list[tuple[str, bool]]:
    return [(f"the recent index's refresh ({r['new']:.0f} new articles) ≤ {RECENT_RATIO_MAX}× a whole rebuild at "
             f"{r['articles']:,.0f}: {r['ratio']:.2f}× ({r['recent_s']:.1f} s against {r['whole_s']:.1f} s)",
             r["ratio"] <= RECENT_RATIO_MAX and r["held"] == r["new"]),
            (f"a search over the whole and the recent index ≤ {SEARCH_RATIO_MAX}× DuckDB's match_bm25 over one "
             f"whole index, the same hits and scores: {r['search_ratio']:.2f}× ({r['ours_ms']:.0f} against "
             f"{r['own_ms']:.0f} ms), same: {'yes' if r['same'] else 'NO'}",
             r["search_ratio"] <= SEARCH_RATIO_MAX and bool(r["same"]))]


def render(r: dict[str, float]) -> list[str]:
    return ["", "## The full-text index: keeping it fresh, and searching it (bench/search_index_cost.py)", "",
            f"{r['articles']:,.0f} articles (the WCXB dev pages' true texts cut to {CHARS:,} characters, with their "
            f"titles) in a DuckDB file, then {r['new']:.0f} more; ten queries, {ROUNDS} rounds, medians.", "",
            "| step | time |", "|---|---|",
            f"| the whole index built (`rebuild_fts`: before session 42, every hour new articles came) | "
            f"{r['whole_s']:.1f} s |",
            f"| the {r['new']:.0f} new ones into the recent index (`rebuild_recent_fts`: the hourly refresh now) | "
            f"{r['recent_s']:.1f} s |",
            f"| a search, the whole and the recent index scored together (`lake_search.bm25_sql`) | "
            f"{r['ours_ms']:.0f} ms |",
            f"| a search, DuckDB's `match_bm25` over one whole index of the same articles | {r['own_ms']:.0f} ms |",
            "", f"Same hits with the same scores both ways: {'yes' if r['same'] else 'NO'}.", ""]


def main() -> None:
    from bench.data import extraction_dev
    r = measure(extraction_dev(), int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    print("\n".join(render(r)))
    for text, ok in checks(r):
        print(("ok  " if ok else "FAIL") + " " + text)


if __name__ == "__main__":
    main()
