"""What keeping the full-text index fresh costs, and what a search costs (`python -m bench.search_index_cost [N]`).

A DuckDB file of N articles (default 10,000; the WCXB dev pages' true texts cut to 6,000 characters, with
their titles, under distinct ids), its index built whole (`rebuild_fts`, timed) in segments of N × 0.3
articles (four: 3, 3, 3 and 1 tenths; a year at 1,000 articles a day is eight segments of
health.FTS_SEGMENT_ARTICLES), then 500 more articles (an hour or so of a busy watch) indexed in the recent
index alone (`rebuild_recent_fts`, timed: ingest's hourly refresh, against the whole rebuild it did before
session 42), then folded into the segments (`seal_fts`, timed: the last segment rebuilt with them, against
the whole rebuild a fold was before session 43). Searches (ten queries, three rounds, medians): ours
(`lake_search.bm25_sql` over the segments and the recent index) against DuckDB's own `match_bm25` on one
index over the same articles (the query before session 42), and the hits compared, before and after the
fold: the same articles with the same scores.
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
SEGMENT_SHARE = 0.3
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


def _searches(wh: Warehouse, find) -> tuple[list[float], dict[str, list[tuple[str, float]]]]:  # type: ignore[no-untyped-def]
    took: list[float] = []
    hits = {}
    for _ in range(ROUNDS):
        for q in QUERIES:
            s, hits[q] = _timed(lambda q=q: find(wh, q, 20))
            took.append(s)
    return took, hits


def measure(pages: list[LabelledPage], articles: int = 10_000) -> dict[str, float]:
    now = datetime(2026, 12, 1)
    segment = int(articles * SEGMENT_SHARE)
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({"warehouse": {"path": str(Path(tmp) / "bench.duckdb")}}, Path(tmp))
        with Warehouse.for_config(config) as wh:
            wh.SEGMENT_ARTICLES = segment
            _add(wh, pages, 0, articles, now)
            whole_s, _ = _timed(wh.rebuild_fts)
            segments = len(wh._segments())
            _add(wh, pages, articles, NEW, now + timedelta(hours=1))
            recent_s, held = _timed(wh.rebuild_recent_fts)
            ours_s, split = _searches(wh, _ours)
            seal_s, sealed = _timed(wh.seal_fts)
            after_s, folded = _searches(wh, _ours)
            segments_after = len(wh._segments())
            wh.SEGMENT_ARTICLES = 10 * articles
            wh.rebuild_fts()
            own_s, theirs = _searches(wh, _duckdb_own)
            same = all(sorted(theirs[q]) == sorted(split[q]) == sorted(folded[q]) for q in QUERIES)
    return {"articles": articles, "new": NEW, "held": held, "segment": segment, "segments": segments,
            "segments_after": segments_after, "sealed": sealed, "whole_s": whole_s, "recent_s": recent_s,
            "seal_s": seal_s, "ratio": recent_s / whole_s, "seal_ratio": seal_s / whole_s,
            "ours_ms": median(ours_s) * 1000, "after_ms": median(after_s) * 1000, "own_ms": median(own_s) * 1000,
            "search_ratio": max(median(ours_s), median(after_s)) / median(own_s), "same": float(same)}


RECENT_RATIO_MAX = 0.25   # the hourly refresh (500 new) / a whole rebuild at 10,000 (0.05 in session 42)
SEAL_RATIO_MAX = 0.4      # a fold (the last segment, 1,500 articles) / a whole rebuild at 10,000 (ideal 0.14)
# a search over 4 segments and the recent index / DuckDB's match_bm25 over one index: 1.48× in session 43
# (0.67-0.83× over 2 indexes in session 42). Each index adds ~6 ms of fixed cost on one thread, against
# ~14 ms of scoring for 2,500 articles: large beside these small segments, small beside 50,000-article ones.
SEARCH_RATIO_MAX = 2.0


def checks(r: dict[str, float]) -> list[tuple[str, bool]]:
    return [(f"the recent index's refresh ({r['new']:.0f} new articles) ≤ {RECENT_RATIO_MAX}× a whole rebuild at "
             f"{r['articles']:,.0f}: {r['ratio']:.2f}× ({r['recent_s']:.1f} s against {r['whole_s']:.1f} s)",
             r["ratio"] <= RECENT_RATIO_MAX and r["held"] == r["new"]),
            (f"folding them into the index's segments ({r['sealed']:,.0f} articles indexed) ≤ {SEAL_RATIO_MAX}× a "
             f"whole rebuild: {r['seal_ratio']:.2f}× ({r['seal_s']:.1f} s)",
             r["seal_ratio"] <= SEAL_RATIO_MAX and r["segments_after"] == r["segments"]),
            (f"a search over {r['segments']:.0f} segments and the recent index ≤ {SEARCH_RATIO_MAX}× DuckDB's "
             f"match_bm25 over one index, the same hits and scores: {r['search_ratio']:.2f}× ({r['ours_ms']:.0f} "
             f"and {r['after_ms']:.0f} after the fold, against {r['own_ms']:.0f} ms), same: "
             f"{'yes' if r['same'] else 'NO'}",
             r["search_ratio"] <= SEARCH_RATIO_MAX and bool(r["same"]))]


def render(r: dict[str, float]) -> list[str]:
    return ["", "## The full-text index: keeping it fresh, and searching it (bench/search_index_cost.py)", "",
            f"{r['articles']:,.0f} articles (the WCXB dev pages' true texts cut to {CHARS:,} characters, with their "
            f"titles) in a DuckDB file, indexed in {r['segments']:.0f} segments of at most {r['segment']:,.0f}, then "
            f"{r['new']:.0f} more; ten queries, {ROUNDS} rounds, medians.", "",
            "| step | time |", "|---|---|",
            f"| the whole index built (`rebuild_fts`: `reindex`; before session 43 every fold, before session 42 "
            f"every hour new articles came) | {r['whole_s']:.1f} s |",
            f"| the {r['new']:.0f} new ones into the recent index (`rebuild_recent_fts`: the hourly refresh) | "
            f"{r['recent_s']:.1f} s |",
            f"| them folded into the segments (`seal_fts`: the last segment rebuilt, {r['sealed']:,.0f} articles) | "
            f"{r['seal_s']:.1f} s |",
            f"| a search, the segments and the recent index scored together (`lake_search.bm25_sql`) | "
            f"{r['ours_ms']:.0f} ms |",
            f"| a search after the fold (the segments alone) | {r['after_ms']:.0f} ms |",
            f"| a search, DuckDB's `match_bm25` over one index of the same articles | {r['own_ms']:.0f} ms |",
            "", f"Same hits with the same scores every way: {'yes' if r['same'] else 'NO'}.", ""]


def main() -> None:
    from bench.data import extraction_dev
    r = measure(extraction_dev(), int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    print("\n".join(render(r)))
    for text, ok in checks(r):
        print(("ok  " if ok else "FAIL") + " " + text)


if __name__ == "__main__":
    main()
