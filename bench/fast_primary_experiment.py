"""Experiment (issue #17, not in `make bench`): trafilatura without its own fallbacks as the chooser's primary.

`trafilatura.bare_extraction(fast=False)`, what the ingest path runs, compares its own result with a
readability port on every page and asks jusText on unclean or short ones (`external.compare_extraction`):
an ensemble of its own inside the first extractor, paid on every page, although the chooser
(balkanwatch/chooser.py) already buys second opinions on the pages where they are worth it. This measures,
on the 710 WCXB dev pages, what `fast=True` as the primary gives:

- CPU per page of our trafilatura path with `fast=False` and `fast=True`, interleaved page by page in one
  warm process (`time.process_time`), against `trafilatura.extract` timed in the same loop;
- word F1 of each alone, and of the chooser over each primary with its thresholds chosen by the same
  5-fold cross-validation as bench/extraction_chooser.py (folds over pages; the opinions' texts and CPU
  from its cache, which `python -m bench.extraction_chooser` fills).

A second question (`python -m bench.fast_primary_experiment cheap-first`, from the cache alone): a cascade
the other way round, resiliparse (0.1x trafilatura.extract) kept without running trafilatura's extraction
when a second cheap opinion agrees with it (shingle overlap >= t), today's chooser otherwise. Its CPU counts
CHEAP_FIRST_METADATA_SHARE of our trafilatura path (parse and metadata, which every page still needs).

A third (session 22): `python -m bench.fast_primary_experiment recall`, trafilatura's `favor_recall` mode as
the primary (cheaper than the default here), measured and cross-validated the same way.

Run: `python -m bench.fast_primary_experiment [fast] [recall]` (~6 min once the chooser's cache exists).
Results (all rejected): docs/design.md, "#17, trafilatura's fallbacks" and session 22's recall mode.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from statistics import mean

from balkanwatch.errors import ExtractionError
from balkanwatch.textclean import token_f1
from bench import extraction_chooser as ec
from bench.data import extraction_dev
from connectors.extract import extract_html, parse_html


def fast_text(html: str, url: str) -> str:
    """Our trafilatura path (`extract_html`: the same parse and metadata) with `fast=True`: no fallbacks."""
    return _or_empty(lambda h, u: str(extract_html(parse_html(h, u), u, fast=True)["text"]), html, url)


def recall_text(html: str, url: str) -> str:
    """Our trafilatura path (`extract_html`: the same parse and metadata) with `favor_recall=True` (session 22:
    cheaper than the default on the dev pages, 0.002 lower alone)."""
    return _or_empty(lambda h, u: str(extract_html(parse_html(h, u), u, recall=True)["text"]), html, url)


# parse + metadata against parse + metadata + bare_extraction (session 12 profile: 2.9 + 6.1 of 32.7 ms; 0.28)
CHEAP_FIRST_METADATA_SHARE = 0.28


def cheap_first() -> None:
    """The resiliparse-first cascade against today's chooser, per second opinion and agreement threshold."""
    warnings.filterwarnings("ignore")
    from balkanwatch import chooser

    cs = ec.cases(extraction_dev())
    raw = sum(c.cpu["trafilatura.extract"] for c in cs)
    today = [ec.run_chooser(c, chooser.DEFAULT) for c in cs]
    f1_today = [token_f1(ch.text, c.truth) for ch, c in zip(today, cs, strict=True)]
    cpu_today = [c.cpu["signals"] + sum(c.cpu[n] for n in ch.ran) for ch, c in zip(today, cs, strict=True)]
    print(f"today's chooser: F1 {mean(f1_today):.4f}, CPU {sum(cpu_today) / raw:.3f}x trafilatura.extract")
    for second in ("boilerpy3", "justext", "readability"):
        agree = [chooser.overlap(chooser.shingles(c.texts["resiliparse"]), chooser.shingles(c.texts[second])) for c in cs]
        for t in (0.8, 0.85, 0.9, 0.95):
            f1s, cpu, skipped = [], [], 0
            for c, a, f, spent in zip(cs, agree, f1_today, cpu_today, strict=True):
                if a >= t and c.texts["trafilatura"]:
                    skipped += 1
                    f1s.append(token_f1(c.texts["resiliparse"], c.truth))
                    cpu.append(c.cpu["resiliparse"] + c.cpu[second] + CHEAP_FIRST_METADATA_SHARE * c.cpu["trafilatura"])
                else:
                    f1s.append(f)
                    cpu.append(spent + c.cpu[second])
            print(f"resiliparse kept when {second} agrees >= {t}: trafilatura skipped on {skipped / len(cs):.1%} "
                  f"of pages; F1 {mean(f1s):.4f}; CPU {sum(cpu) / raw:.3f}x")


def _or_empty(fn: Callable[[str, str], str], html: str, url: str) -> str:
    """`fn`'s text, or "" where our path finds no article (ExtractionError), as the chooser's cache records it."""
    try:
        return fn(html, url)
    except ExtractionError:
        return ""


def main(modes: tuple[str, ...] = ("fast",)) -> None:
    """Today's primary against each of `modes` ("fast": `fast=True`; "recall": `favor_recall=True`)."""
    warnings.filterwarnings("ignore")
    pages = extraction_dev()
    rows = ec.candidates(pages)
    calls = {"fast": fast_text, "recall": recall_text}
    slow_cpu: dict[str, float] = {}
    raw_cpu: dict[str, float] = {}
    alt_cpu: dict[str, dict[str, float]] = {m: {} for m in modes}
    alt_texts: dict[str, dict[str, str]] = {m: {} for m in modes}
    for page in pages[:3]:
        for m in modes:
            calls[m](ec._decode(page), page.url)
    for page in pages:
        html = ec._decode(page)
        t0 = time.process_time()
        _or_empty(ec._trafilatura, html, page.url)
        slow_cpu[page.file_id] = time.process_time() - t0
        for m in modes:
            t0 = time.process_time()
            alt_texts[m][page.file_id] = _or_empty(calls[m], html, page.url)
            alt_cpu[m][page.file_id] = time.process_time() - t0
        t0 = time.process_time()
        ec._raw(html, page.url)
        raw_cpu[page.file_id] = time.process_time() - t0
    raw = sum(raw_cpu.values())
    print(f"pages {len(pages)}; CPU / trafilatura.extract: our path today {sum(slow_cpu.values()) / raw:.3f}, "
          + ", ".join(f"{m} {sum(alt_cpu[m].values()) / raw:.3f}" for m in modes)
          + f" (trafilatura.extract {1000 * raw / len(pages):.1f} ms a page)")
    params = ec.grid()
    variants = [("today (fast=False)", None, slow_cpu), *((m, alt_texts[m], alt_cpu[m]) for m in modes)]
    for label, primary, cpu in variants:
        cs = []
        for page in pages:
            row = rows[page.file_id]
            texts = dict(row["texts"])
            if primary is not None:
                texts["trafilatura"] = primary[page.file_id]
            case = ec._case(page, {**row, "texts": texts, "cpu": {**row["cpu"], "trafilatura": cpu[page.file_id]}})
            cs.append(case)
        alone = mean(token_f1(c.texts["trafilatura"], c.truth) for c in cs)
        cv = ec.cross_validate(cs, params)
        full = ec.best(cs, params)
        print(f"{label}: alone F1 {alone:.4f}; chooser CV F1 {cv['f1']:.4f}, more opinions bought on "
              f"{100 * cv['extra_all']:.1f}% of pages, CPU {cv['cpu'] / raw:.3f}× trafilatura.extract "
              f"(+ metadata etc.); thresholds on all pages {full} (in-sample {ec.score(cs, full):.4f})")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["cheap-first"]:
        cheap_first()
    else:
        main(tuple(sys.argv[1:]) or ("fast",))
