"""Scale of story assignment: N synthetic articles through the index, incrementally, as ingest does.

Synthetic texts: ~300 words drawn from a 20k-word Zipf vocabulary; 10% are truncated copies of an earlier
article. Measures ms per article for sketch + assignment, and the resident memory the index adds;
extrapolates linearly to 1M (postings grow linearly with articles).
"""

from __future__ import annotations

import random
import resource
import time

from balkanwatch.dedupe import StoryIndex, shingle_hashes

VOCAB = 20_000
WORDS_PER_ARTICLE = 300
COPY_SHARE = 0.10
SEED = 7


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def measure(n: int) -> dict[str, float]:
    rng = random.Random(SEED)
    vocab = [f"w{i}" for i in range(VOCAB)]
    weights = [1 / (i + 1) for i in range(VOCAB)]
    texts: list[str] = []
    index = StoryIndex()
    rss0 = _rss_mb()
    spent = 0.0
    copies_joined = 0
    for i in range(n):
        if texts and rng.random() < COPY_SHARE:
            src = rng.randrange(len(texts))
            ws = texts[src].split()
            text = " ".join(ws[: int(len(ws) * rng.uniform(0.5, 1.0))])
            expect = f"a{src}"
        else:
            text = " ".join(rng.choices(vocab, weights, k=WORDS_PER_ARTICLE))
            expect = None
        texts.append(text)
        t0 = time.perf_counter()
        result = index.assign(f"a{i}", shingle_hashes(text))
        spent += time.perf_counter() - t0
        if expect is not None and result.story_id == index.story_of[expect]:
            copies_joined += 1
    texts.clear()
    rss = _rss_mb() - rss0
    return {"articles": n, "ms_per_article": spent / n * 1000, "index_mb": rss,
            "mb_per_1m": rss / n * 1_000_000, "copies_joined": copies_joined,
            "stories": len(set(index.story_of.values()))}
