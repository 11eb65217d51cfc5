"""Scale of story assignment: N synthetic articles through the index, incrementally, as ingest does.

Synthetic texts: ~300 words drawn from a 20k-word Zipf vocabulary (each regenerated from its own seed when a
copy needs it, so nothing but the index stays in memory); 10% are truncated copies of an earlier article. Measures ms per article for sketch + assignment, and the resident memory the index adds; extrapolates to 1M
linearly from the whole run (postings grow linearly with articles). An earlier version extrapolated from the
second half's growth alone, which swung between 0.4 and 1.5 GB with where Python's dict resizes fell.
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from balkanwatch.dedupe import StoryIndex, key_hashes, shingle_hashes

VOCAB = 20_000
WORDS_PER_ARTICLE = 300
COPY_SHARE = 0.10
SEED = 7


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def _original(i: int, vocab: list[str], weights: list[float]) -> str:
    """Article i's text, regenerated from its own seed (nothing is kept, so RSS measures the index)."""
    return " ".join(random.Random(SEED * 1_000_003 + i).choices(vocab, weights, k=WORDS_PER_ARTICLE))


def _reset_peak() -> None:
    """Start a new resident-memory high-water mark (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kb * 1024 / 1e6


def measure(n: int) -> dict[str, float]:
    rng = random.Random(SEED)
    vocab = [f"w{i}" for i in range(VOCAB)]
    weights = [1 / (i + 1) for i in range(VOCAB)]
    index = StoryIndex()
    _reset_peak()
    rss0 = _rss_mb()
    spent = 0.0
    copies, copies_joined = 0, 0
    originals: list[int] = []
    for i in range(n):
        if originals and rng.random() < COPY_SHARE:
            src = originals[rng.randrange(len(originals))]
            ws = _original(src, vocab, weights).split()
            text = " ".join(ws[: int(len(ws) * rng.uniform(0.5, 1.0))])
            expect = f"a{src}"
            copies += 1
        else:
            text = _original(i, vocab, weights)
            expect = None
            originals.append(i)
        t0 = time.perf_counter()
        result = index.assign(f"a{i}", shingle_hashes(text))
        spent += time.perf_counter() - t0
        if expect is not None and result.story_id == index.story_of(expect):
            copies_joined += 1
    rss_end = _rss_mb()
    return {"articles": n, "ms_per_article": spent / n * 1000, "index_mb": rss_end - rss0,
            "peak_mb": _peak_mb() - rss0,   # above the start: the index plus transient copies while merging
            "mb_per_1m": (rss_end - rss0) / n * 1_000_000, "copies": copies,
            "copies_joined": copies_joined, "stories": index.story_count()}


def measure_fresh(n: int) -> dict[str, float]:
    """`measure` in a new process: resident growth in `make bench`'s own process also moved with the heap
    that earlier benchmarks left behind (157 MB alone, 178 MB after them, same index)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(measure, n).result()


def rebuild(n: int) -> dict[str, float]:
    """Seconds to load n known articles into a fresh index, as every ingest run does for its 30-day window:
    `add_many` (one sort) against `add` in a loop (the reference), on the same sketches, same process."""
    vocab = [f"w{i}" for i in range(VOCAB)]
    weights = [1 / (i + 1) for i in range(VOCAB)]
    rows = [(f"a{i}", shingle_hashes(_original(i, vocab, weights)), f"a{i}", (f"url:{i}",)) for i in range(n)]
    t0 = time.perf_counter()
    one_by_one = StoryIndex()
    for row in rows:
        one_by_one.add(*row)
    loop = time.perf_counter() - t0
    hashed = [(art, hashes, story, key_hashes(keys)) for art, hashes, story, keys in rows]   # as the warehouse stores them
    t0 = time.perf_counter()
    bulk = StoryIndex()
    bulk.add_many(hashed)
    bulk_s = time.perf_counter() - t0
    same = all(bulk.candidates(rows[i][1]) == one_by_one.candidates(rows[i][1]) for i in range(0, n, max(1, n // 50)))
    return {"articles": n, "loop_s": loop, "bulk_s": bulk_s, "ratio": bulk_s / loop, "same": float(same)}
