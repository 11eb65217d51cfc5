"""A scheduled run's cost as history grows: the same few new pages ingested into an empty warehouse and into
one that already holds a month of articles (stories, boilerplate signatures, sketches), same process.

Every 10 minutes a run brings a handful of pages; its end-of-run steps (boilerplate, stories, mentions)
must cost about the same on day 30 as on day 1, or the schedule falls behind.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

from balkanwatch.boilerplate import signatures
from balkanwatch.config import load_config
from balkanwatch.dedupe import shingle_hashes
from balkanwatch.models import ExtractedArticle
from balkanwatch.textclean import content_hash
from balkanwatch.urls import article_id
from bench.data import LabelledPage
from bench.throughput import Corpus
from flows.boilerplate import clean_boilerplate
from flows.mentions import match_mentions
from flows.stories import assign_stories
from warehouse import Warehouse

FOOTER = "Subscribe to get the latest posts sent to your email."
REPEATS = 3


def _history(n: int, sources: list[str], now: datetime) -> list[ExtractedArticle]:
    """n synthetic articles over the last 30 days on the run's sources, each with the site footer."""
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(20_000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    out = []
    for i in range(n):
        paragraphs = [" ".join(rng.choices(vocab, weights, k=60)) for _ in range(5)] + [FOOTER]
        text = "\n".join(paragraphs)
        url = f"https://history.example/{i}.html"
        when = now - timedelta(minutes=rng.uniform(60, 30 * 24 * 60))
        out.append(ExtractedArticle(
            article_id=article_id(url), url=url, canonical_url=url, source=sources[i % len(sources)],
            title=f"History {i}", author=None, published_at=when, published_from="feed", fetched_at=when,
            language="en", site_name=None, text=text, content_hash=content_hash(text), extractor_version="bench",
            final_url=url, encoding="utf-8", raw_html=zlib.compress(text.encode()), raw_bytes=len(text),
            sketch=tuple(sorted(shingle_hashes(text))),
            signatures=tuple((s.key, s.kind, s.example) for p in paragraphs for s in signatures(p))))
    return out


def _run(config: Path) -> tuple[float, int]:
    from flows.ingest import run_ingest

    t0 = time.perf_counter()
    summary = asyncio.run(run_ingest(load_config(config)))
    return time.perf_counter() - t0, summary.new_articles


def measure(pages: list[LabelledPage], history: int) -> dict[str, float]:
    """Median seconds of a run bringing `pages` into an empty warehouse and into one with `history` articles."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Corpus(pages, Path(tmp))
        try:
            seed = load_config(corpus.config("seed"))
            with Warehouse.open(seed.warehouse_path) as wh:
                wh.sync_sources(seed.sources, 10)
                wh.start_run("history", None)
                arts = _history(history, [src.name for src in seed.sources], datetime.now(UTC))
                for i in range(0, len(arts), 1_000):
                    wh.load_articles(arts[i:i + 1_000], "history")
                clean_boilerplate(wh)
                assign_stories(wh)
                match_mentions(wh, seed.watchlists)
                wh.rebuild_fts()    # as the runs that loaded this history would have
                wh.finish_run("history", polled=0, failed=0, new_articles=len(arts), item_errors=0)
            seconds: dict[str, list[float]] = {"empty": [], "full": []}
            counts = []
            for i in range(REPEATS):
                for kind, runs in seconds.items():
                    cfg = corpus.config(f"{kind}{i}")
                    if kind == "full":
                        shutil.copy(seed.warehouse_path, load_config(cfg).warehouse_path)
                    took, n = _run(cfg)
                    runs.append(took)
                    counts.append(n)
        finally:
            corpus.close()
    empty, full = median(seconds["empty"]), median(seconds["full"])
    return {"pages": len(pages), "history": history, "empty_s": empty, "full_s": full, "ratio": full / empty,
            "all_landed": float(min(counts) == len(pages))}
