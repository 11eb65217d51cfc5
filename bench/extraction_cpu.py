"""Per-page CPU of our extraction against `trafilatura.extract` with and without metadata (issue #17).

Same pages, same process, interleaved page by page (the four calls on a page in a rotating order), CPU
time (`time.process_time`), REPEATS passes; the ratios of the sums are taken per pass and their medians
reported, so machine load largely cancels. Ours is `safe_extract` as ingest's workers run it, with the
extractor-agreement chooser (the default) and without it (`agreement=False`, trafilatura's text alone; everything
an `ExtractedArticle` holds: metadata, headline rule, repeats, hashes, sketch, signatures, compressed
page); the body's encoding is detected before the clock starts (ingest does it while fetching). The
references are what a new user would call: `trafilatura.extract(body, url=...)`, with and without
`with_metadata=True`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from statistics import median

from bench.data import LabelledPage
from connectors.charset import detect_encoding
from connectors.extract import PageJob, safe_extract

REPEATS = 3        # passes over the pages; medians of the per-pass ratios
WARM_PAGES = 10    # extracted once by each variant before the clock starts (imports, dateparser's caches)
VARIANTS = ("balkanwatch", "balkanwatch-plain", "trafilatura.extract", "trafilatura.extract+metadata")
REFERENCES = ("trafilatura.extract", "trafilatura.extract+metadata")


def _calls(page: LabelledPage, job: PageJob) -> dict[str, Callable[[], object]]:
    import trafilatura

    plain = replace(job, agreement=False)
    return {"balkanwatch": lambda: safe_extract(job), "balkanwatch-plain": lambda: safe_extract(plain),
            "trafilatura.extract": lambda: trafilatura.extract(page.html, url=page.url),
            "trafilatura.extract+metadata": lambda: trafilatura.extract(page.html, url=page.url,
                                                                        with_metadata=True)}


def _job(page: LabelledPage) -> PageJob:
    return PageJob(source="bench", url=page.url, final_url=page.url, body=page.html,
                   encoding=detect_encoding(page.html, None), fetched_at=datetime.now(UTC))


def one_pass(work: list[dict[str, Callable[[], object]]], offset: int) -> dict[str, float]:
    """CPU seconds per variant over every page, the variants' order rotated page by page."""
    spent = dict.fromkeys(VARIANTS, 0.0)
    for i, calls in enumerate(work):
        for k in range(len(VARIANTS)):
            name = VARIANTS[(i + offset + k) % len(VARIANTS)]
            t0 = time.process_time()
            calls[name]()
            spent[name] += time.process_time() - t0
    return spent


def measure(pages: list[LabelledPage]) -> dict[str, float]:
    """Median per-page CPU (ms) of each variant and median per-pass ratios of ours to each reference."""
    work = [_calls(p, _job(p)) for p in pages]
    for calls in work[:WARM_PAGES]:
        for call in calls.values():
            call()
    passes = [one_pass(work, r) for r in range(REPEATS)]
    out = {"pages": float(len(pages)), "repeats": float(REPEATS)}
    for name in VARIANTS:
        out[f"{name}_ms"] = 1000 * median(p[name] for p in passes) / len(pages)
    for ours, prefix in (("balkanwatch", ""), ("balkanwatch-plain", "agreement_off_")):
        for ref, key in zip(REFERENCES, ("ratio_plain", "ratio_metadata"), strict=True):
            out[prefix + key] = median(p[ours] / p[ref] for p in passes)
    return out


if __name__ == "__main__":
    from bench.data import extraction_dev

    for key, value in measure(extraction_dev()[:250]).items():
        print(f"{key:36s} {value:8.3f}")
