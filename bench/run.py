"""`make bench`: run every benchmark, write bench/report.md, exit 1 when a pinned floor is not met."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from balkanwatch.sharding import BATCH_SOURCES  # noqa: E402
from balkanwatch.textclean import REPEAT_MIN_WORDS, TITLE_LINE_MATCH  # noqa: E402
from bench import (  # noqa: E402
    boilerplate_sources,
    checkpoint,
    dedupe_eval,
    dedupe_scale,
    extraction_chooser,
    extraction_cpu,
    incremental,
    lake,
    lake_remote,
    lake_upkeep,
    many_feeds,
    pdf_paragraphs_cv,
    repeats_cv,
    rising_cost,
    rising_eval,
    search_index_cost,
    spikes_eval,
    templates,
    thinned_nab,
    title_line_cv,
    watch_cost,
)
from bench.data import extraction_dev  # noqa: E402
from bench.extraction import TITLE_MATCH, evaluate  # noqa: E402
from bench.throughput import measure  # noqa: E402

REPORT = Path(__file__).parent / "report.md"

# Pinned floors (issue #2). Ratios are against a reference measured in the same process, so machine
# noise largely cancels.
INGEST_RATIO_MAX = 0.75       # ingest wall time ≤ 0.75 × single-thread extraction-only time
INGEST_VS_TRAFILATURA_GOAL = 0.75  # issue #17: whole ingest ≤ 0.75 × single-thread raw trafilatura.extract
WORD_F1_FLOOR = 0.935         # measured 0.941 on WCXB dev (2026-11-22); raw trafilatura 0.940
# …and every quality figure must be ≥ raw trafilatura's on the same pages (checked below).
READ_BACK_F1_SLACK = 0.0005   # what the warehouse returns scores as the extraction did, within one page in 710
# losing a third of its words (session 24: with one feed, equal on every page; with four, labels learned as chrome
# everywhere from any labelled line cost 0.0006 until they were limited to link lines)
DEDUPE_PRECISION_FLOOR = 0.995   # issue #3 targets; measured 1.000 / 0.996 on 2026-11-22 (1139 docs)
DEDUPE_RECALL_FLOOR = 0.985
SCALE_ARTICLES = 100_000
RISING_SEEDS = 20                # synthetic corpora per volume for the rising-words table (~100 s)
SCALE_MS_TARGET = 2.0            # ms per article for incremental assignment (issue #3)
SCALE_GB_AT_1M_TARGET = 2.0      # index memory extrapolated to 1M articles (issue #3)
NAB_FLOOR = 75.0                 # issue #14's dev target, with the shipped defaults: 80.9 since session 18 (look 16;
                                 # the NB detector before it scored 67.3); the held-out five are the author's
NAB_MARGIN = 10.0                # …and at least this far above the NB detector of sessions 8-17 at the same budget
                                 # (65.8 in session 18: the gain is not the rate)
RATE_FACTOR = 2.0                # every burst-free hourly family from 0.5 an hour on (plain, weekly, trend, heavy,
                                 # newsy) alerts within this factor of the configured rate (session 18: 2.9-6.1 a month
                                 # at 4, 8 series each); the unit tests hold 2 on 12 series
BURST_CAUGHT_FLOOR = 0.75        # 5× bursts (the topic's mean hour) of two hours at ≥ 5 items/h: 21 of 24 in session 18
                                 # (a burst in the day after an ordinary day's alert is masked by the cooldown)
INCREMENTAL_HISTORY = 10_000     # articles already in the warehouse for the scheduled-run measurement
REBUILD_ARTICLES = 20_000        # a run's 30-day window on a busy deployment
REBUILD_RATIO_MAX = 0.4          # bulk load / one-by-one; measured 0.11 (make bench) to 0.26 (alone)
MANY_REPOLL_RATIO_TARGET = 1.3   # issue #15: unchanged re-poll of 500 feeds, under Prefect / plain…
MANY_REPOLL_SECONDS_TARGET = 5.0  # …and at most this long under Prefect
MANY_FIRST_RATIO_TARGET = 1.2     # first poll (1,000 new pages), under Prefect / plain
CPU_PAGES = 250                  # issue #17: the first 250 dev pages (ids 0001–0314), REPEATS passes each
CPU_RATIO_PLAIN_MAX = 1.75       # our per-page CPU, extractor agreement off / trafilatura.extract's, same run: 1.58–1.62
                                 # after #17's cuts (three standalone runs, 2026-12-02), 1.79 before
CPU_RATIO_METADATA_MAX = 1.12    # … / trafilatura.extract(with_metadata=True)'s: 1.03–1.04 after, 1.15 before
CHOOSER_CPU_PLAIN_MAX = 2.9      # the default (extractor agreement on) / trafilatura.extract's: 2.60 and 2.63 in
                                 # two standalone runs (2026-12-02, session 11; agreement off 1.62 in the same run)
CHOOSER_CPU_METADATA_MAX = 1.85  # … / trafilatura.extract(with_metadata=True)'s: 1.66 and 1.67
CHOOSER_CV_F1_FLOOR = 0.942     # issue #17: the chooser's 5-fold CV word F1 on the 710 dev pages, mean over shuffled
                                 # page orders (session 22: 0.9458, session 23 with the recall retry: 0.9472; one
                                 # order drew 0.9439-0.9479); raw trafilatura 0.9310, our trafilatura path 0.9388
CHOOSER_GAIN_FLOOR = 0.005       # …and at least this far above our trafilatura path in the same run (+0.0084, session 23)
CHOOSER_TARGET_GAIN = 0.015      # issue #17's dev target: CV F1 ≥ raw trafilatura + this. The file-order CV drew
                                 # +0.0152-0.0155 (sessions 16-21); the mean over shuffled orders is +0.0148 (session
                                 # 22), +0.0162 with session 23's recall retry, of which one page is 0.0014: met by
                                 # one page, so reported, not a floor
CHOOSER_EXTRA_MAX = 0.30         # share of pages buying the three further opinions (measured 25.6%): the CPU guard
CHOOSER_STALE_F1 = 0.001         # the shipped constants within this of the grid's best on all pages (0.9482)
LAKE_UPKEEP_READ_RATIO_MAX = 1.0  # issue #16: a reader's queries after `maintain` / before it (0.10-0.12 measured)
LAKE_INGEST_RATIO_MAX = 1.5      # issue #16's target, pinned in session 15: ingest into a lake / into the file, same
                                 # pages, same run: 0.93 and 0.95 (make bench), 0.86 and 1.04 (standalone). Two shards + settle /
                                 # one process (1.10–1.52) is reported, not gated: on two cores it says little, and
                                 # tests/test_lake_shards.py checks the overlap
CHECKPOINT_RATIO_MAX = 3.0       # a writer session on 100k articles / on an empty warehouse: 1.4 with schema v7,
                                 # 19.9 with v6's primary keys (each made DuckDB rewrite a row group at close)


def checks(thr: dict[str, float], q: dict[str, dict[str, float]], dd: dedupe_eval.PairScores,
           scale: dict[str, float], sp: dict, rb: dict[str, float], ck: dict[str, float]) -> list[tuple[str, bool]]:
    """Floors: a regression below any of these fails `make bench`."""
    ours, raw = q["balkanwatch"], q["trafilatura.extract"]
    out = [(f"dedupe pairwise precision ≥ {DEDUPE_PRECISION_FLOOR}: {dd.precision:.4f}", dd.precision >= DEDUPE_PRECISION_FLOOR),
           (f"dedupe pairwise recall ≥ {DEDUPE_RECALL_FLOOR}: {dd.recall:.4f}", dd.recall >= DEDUPE_RECALL_FLOOR),
           (f"story assignment ≤ {SCALE_MS_TARGET} ms/article at {scale['articles']:,}: {scale['ms_per_article']:.2f}",
            scale["ms_per_article"] <= SCALE_MS_TARGET),
           (f"story index memory extrapolated to 1M articles ≤ {SCALE_GB_AT_1M_TARGET} GB: "
            f"{scale['mb_per_1m'] / 1000:.2f} GB", scale["mb_per_1m"] / 1000 <= SCALE_GB_AT_1M_TARGET),
           (f"scale: every synthetic copy joins its story: {scale['copies_joined']}/{scale['copies']}",
            scale["copies_joined"] == scale["copies"]),
           (f"run index of {rb['articles']:,} articles: bulk load / one by one ≤ {REBUILD_RATIO_MAX}: {rb['ratio']:.2f}",
            rb["ratio"] <= REBUILD_RATIO_MAX and rb["same"] == 1.0),
           (f"ingest (Prefect flow) / extraction-only ≤ {INGEST_RATIO_MAX}: {thr['ratio_flow']:.2f}",
            thr["ratio_flow"] <= INGEST_RATIO_MAX),
           (f"writer session on {ck['history']:,} articles / on an empty warehouse ≤ {CHECKPOINT_RATIO_MAX}: "
            f"{ck['ratio']:.2f}", ck["ratio"] <= CHECKPOINT_RATIO_MAX),
           (f"every page with an article landed in every run: {thr['ingest_flow_articles']} of {thr['with_text']}",
            thr["ingest_flow_articles"] == thr["with_text"]),
           (f"every page accounted for (article or item error) in every run: {thr['accounted']} of {thr['pages']}",
            thr["accounted"] == thr["pages"]),
           (f"word F1 ≥ {WORD_F1_FLOOR}: {ours['word_f1']:.3f}", ours["word_f1"] >= WORD_F1_FLOOR),
           (f"word F1 of the text read back from the warehouse ≥ the extraction's − {READ_BACK_F1_SLACK} in every "
            f"run: {thr['stored_f1']:.4f} vs {thr['extracted_f1']:.4f}",
            thr["stored_f1"] >= thr["extracted_f1"] - READ_BACK_F1_SLACK),
           *spike_checks(sp)]
    for key in ("word_f1", "title_acc", "author_acc", "date_acc"):
        out.append((f"{key} ≥ raw trafilatura: {ours[key]:.3f} vs {raw[key]:.3f}", ours[key] >= raw[key]))
    return out


def spike_checks(sp: dict) -> list[tuple[str, bool]]:
    """Floors of the spike benchmark (issue #14): the synthetic tables and NAB against the detector before."""
    ours_nab = sp["nab"]["balkanwatch"]["scores"]["standard"]
    before_nab = sp["nab"][spikes_eval.BEFORE_AT_OURS]["scores"]["standard"]
    configured = sp["settings"].alerts_per_month
    rates = [row.rate() for row in sp["quiet"][3600]
             if not row.family.startswith("0.05")]     # 0.05/h: the volume floor keeps it quieter
    big = [r for r in sp["bursts"] if r.size == 5.0 and r.volume >= 5 and r.basis == "mean"]
    caught5 = sum(r.caught for r in big) / sum(r.bursts for r in big)
    return [(f"NAB standard score ≥ {NAB_FLOOR} on the dev five (shipped defaults; issue #14's target): "
             f"{ours_nab:.1f}", ours_nab >= NAB_FLOOR),
            (f"NAB: ours ≥ the sessions 8-17 detector at the same budget + {NAB_MARGIN} in the same run: "
             f"{ours_nab:.1f} vs {before_nab:.1f}", ours_nab >= before_nab + NAB_MARGIN),
            (f"synthetic: every burst-free hourly family from 0.5 items/h alerts within {RATE_FACTOR}× of the "
             f"configured rate: {min(rates):.2f}–{max(rates):.2f}",
             all(configured / RATE_FACTOR <= r <= configured * RATE_FACTOR for r in rates)),
            (f"synthetic: 5× bursts caught at ≥ 5 items/h in ≥ {BURST_CAUGHT_FLOOR:.0%}: {caught5:.0%}",
             caught5 >= BURST_CAUGHT_FLOOR)]


def many_feeds_checks(mf: dict) -> list[tuple[str, bool]]:
    """Floors of the many-feeds benchmark: every page landed on the first poll, nothing on the re-poll."""
    out = []
    for mode in ("plain", "prefect"):
        out.append((f"many feeds, {mode}: first poll loads every page ({mf[f'{mode}_first_new']} of {mf['pages']}) "
                    f"and the unchanged re-poll none ({mf[f'{mode}_again_new']}), every feed polled",
                    mf[f"{mode}_first_new"] == mf["pages"] and mf[f"{mode}_again_new"] == 0
                    and mf[f"{mode}_first_polled"] == mf[f"{mode}_again_polled"] == mf["feeds"]))
    out.append((f"many feeds: the loopback sites had room for every connection (kernel ListenOverflows during the "
                f"run: {mf['listen_overflows']}; each is a 1 s SYN retry that the timings would carry)",
                mf["listen_overflows"] == 0))
    return out


def many_feeds_floors(mf: dict) -> list[tuple[str, bool]]:
    """Issue #15's targets, pinned in session 15 (quiet make bench: re-poll 1.03×, 1.0 s, first poll 1.09×;
    standalone: 1.27× and 0.92×, first poll 1.08× and 1.07×)."""
    again, first = mf["again_ratio"], mf["prefect_first"] / mf["plain_first"]
    return [(f"unchanged re-poll of {mf['feeds']} feeds under Prefect ≤ {MANY_REPOLL_RATIO_TARGET}× plain "
             f"(issue #15): {again:.2f}×", again <= MANY_REPOLL_RATIO_TARGET),
            (f"unchanged re-poll of {mf['feeds']} feeds under Prefect ≤ {MANY_REPOLL_SECONDS_TARGET:g} s: "
             f"{mf['prefect_again']:.1f} s", mf["prefect_again"] <= MANY_REPOLL_SECONDS_TARGET),
            (f"first poll ({mf['pages']:,} new pages) under Prefect ≤ {MANY_FIRST_RATIO_TARGET}× plain: {first:.2f}×",
             first <= MANY_FIRST_RATIO_TARGET)]


def cpu_checks(cpu: dict[str, float]) -> list[tuple[str, bool]]:
    """Floors of the extraction-CPU benchmark (issue #17): ratios to trafilatura in the same run."""
    return [(f"extraction CPU per page (agreement off) / trafilatura.extract ≤ {CPU_RATIO_PLAIN_MAX}: "
             f"{cpu['agreement_off_ratio_plain']:.2f}", cpu["agreement_off_ratio_plain"] <= CPU_RATIO_PLAIN_MAX),
            (f"extraction CPU per page (agreement off) / trafilatura.extract with metadata ≤ {CPU_RATIO_METADATA_MAX}: "
             f"{cpu['agreement_off_ratio_metadata']:.2f}", cpu["agreement_off_ratio_metadata"] <= CPU_RATIO_METADATA_MAX),
            (f"extraction CPU per page (default, agreement on) / trafilatura.extract ≤ {CHOOSER_CPU_PLAIN_MAX}: "
             f"{cpu['ratio_plain']:.2f}", cpu["ratio_plain"] <= CHOOSER_CPU_PLAIN_MAX),
            (f"extraction CPU per page (default) / trafilatura.extract with metadata ≤ {CHOOSER_CPU_METADATA_MAX}: "
             f"{cpu['ratio_metadata']:.2f}", cpu["ratio_metadata"] <= CHOOSER_CPU_METADATA_MAX)]


def chooser_checks(ch: dict) -> list[tuple[str, bool]]:
    """Floors of the extractor-agreement benchmark (issue #17, bench/extraction_chooser.py); the CV F1 is the
    mean over shuffled page orders."""
    cv, ours = ch["shuffled"]["f1"], ch["alone"]["trafilatura"]
    return [(f"chooser CV word F1 ≥ {CHOOSER_CV_F1_FLOOR}: {cv:.4f}", cv >= CHOOSER_CV_F1_FLOOR),
            (f"chooser CV word F1 ≥ our trafilatura path + {CHOOSER_GAIN_FLOOR}: {cv:.4f} vs {ours:.4f}",
             cv >= ours + CHOOSER_GAIN_FLOOR),
            (f"chooser buys further opinions on ≤ {CHOOSER_EXTRA_MAX:.0%} of pages: {ch['shuffled']['extra_all']:.1%}",
             ch["shuffled"]["extra_all"] <= CHOOSER_EXTRA_MAX),
            (f"chooser constants within {CHOOSER_STALE_F1} F1 of the grid's best on all pages: "
             f"{ch['constants_f1']:.4f} vs {ch['full_f1']:.4f}", ch["constants_f1"] >= ch["full_f1"] - CHOOSER_STALE_F1)]


def chooser_target(ch: dict) -> tuple[str, bool]:
    """Issue #17's dev target, reported (not a floor): CV F1 ≥ raw trafilatura.extract + CHOOSER_TARGET_GAIN."""
    cv, raw, g = ch["shuffled"]["f1"], ch["alone"]["trafilatura.extract"], ch["gain"]
    return (f"chooser CV word F1 (mean of {len(ch['shuffled']['f1s'])} shuffled page orders) ≥ raw "
            f"trafilatura.extract + {CHOOSER_TARGET_GAIN} (issue #17's dev target): {cv:.4f} vs {raw:.4f} "
            f"(+{cv - raw:.4f}; 95% interval over pages {g['low']:+.4f} to {g['high']:+.4f}, "
            f"{g['without_top']:+.4f} without the page that gains most)", cv >= raw + CHOOSER_TARGET_GAIN)


def render_chooser(ch: dict) -> list[str]:
    return ["## Extractor agreement (issue #17)", "", *extraction_chooser.report(ch), ""]


def render_templates(tp: dict) -> list[str]:
    return ["## Per-source page templates (issue #17)", "", *templates.report(tp), ""]


def render_cpu(cpu: dict[str, float]) -> list[str]:
    return ["## Extraction CPU per page (issue #17)", "",
            f"The first {cpu['pages']:.0f} WCXB dev pages, our `safe_extract` (all an article row holds; with and without the extractor-agreement chooser) against "
            "`trafilatura.extract(body, url=...)` with and without `with_metadata=True`: CPU time, the four "
            f"interleaved page by page, medians of {cpu['repeats']:.0f} passes (`bench/extraction_cpu.py`).", "",
            "| extraction | ms per page | ours (default) / it | ours (agreement off) / it |", "|---|---|---|---|",
            f"| balkanwatch `safe_extract` (default: extractor agreement on) | {cpu['balkanwatch_ms']:.1f} | 1.00 | |",
            f"| balkanwatch `safe_extract`, `ingest.extractor_agreement = false` | {cpu['balkanwatch-plain_ms']:.1f} | | 1.00 |",
            f"| `trafilatura.extract` | {cpu['trafilatura.extract_ms']:.1f} | {cpu['ratio_plain']:.2f} | "
            f"{cpu['agreement_off_ratio_plain']:.2f} |",
            f"| `trafilatura.extract`, with metadata | {cpu['trafilatura.extract+metadata_ms']:.1f} | "
            f"{cpu['ratio_metadata']:.2f} | {cpu['agreement_off_ratio_metadata']:.2f} |", "",
            "Before #17's cuts (session 10) the code without the chooser measured 1.79 and 1.15.", ""]


def render_many_feeds(mf: dict) -> list[str]:
    return ["## Many feeds (issue #15)", "",
            f"{mf['feeds']} feeds × {many_feeds.PAGES_PER_FEED} new pages (small synthetic articles) on "
            f"{many_feeds.SITES} loopback ports, first poll then a forced re-poll of the unchanged feeds, plain "
            "(`--no-prefect`) and as flow runs on a Prefect server in the same process; medians of "
            f"{many_feeds.REPEATS} interleaved rounds on fresh warehouses (first polls: {many_feeds.REPEATS} per mode; "
            f"re-polls: {many_feeds.RE_POLLS} per mode and round, alternating). One task run per batch of "
            f"{BATCH_SOURCES} sources (`balkanwatch/sharding.py`); the unchanged sources of a batch are stored in "
            "one transaction.", "",
            "| run | plain | under Prefect | ratio |", "|---|---|---|---|",
            f"| first poll, {mf['pages']:,} new pages | {mf['plain_first']:.1f} s | {mf['prefect_first']:.1f} s | "
            f"{mf['prefect_first'] / mf['plain_first']:.2f}× |",
            f"| unchanged re-poll | {mf['plain_again']:.1f} s | {mf['prefect_again']:.1f} s | "
            f"{mf['again_ratio']:.2f}× |", "",
            f"The re-poll's ratio is the median of the {mf['re_polls']} back-to-back pairs' own ratios (quartiles "
            f"{mf['again_ratio_q1']:.2f}× and {mf['again_ratio_q3']:.2f}×): a flow run's fixed cost (~0.2 s) on a "
            "re-poll of under a second. Until session 26 the loopback sites listened with socketserver's backlog "
            "of 5: the poller's bursts of connections overflowed it, and each dropped SYN, retried by the kernel "
            "after 1 s, stalled one run of either mode by 0.6-1 s, in about a quarter of the re-polls (quartiles "
            "0.59× to 1.62× in one run); that, not Prefect, failed this floor in sessions 24-25. They listen with "
            "512 now, and the run's overflows are counted above.", ""]


def lake_checks(lk: dict) -> list[tuple[str, bool]]:
    """Floors of the DuckLake benchmark (issue #16); none when PostgreSQL is not installed (the report says so)."""
    if "skipped" in lk:
        return []
    return [(f"DuckLake: every page landed once and every story assigned, in every run ({lk['runs']} runs: file, "
             f"lake, one process, two shards + settle): {', '.join(map(str, lk['landed']))} of {lk['pages']}",
             bool(lk["every_page_once"])),
            ("DuckLake: the topic window and the search scores are the same on the lake as on the file: "
             f"{'yes' if lk['same_topics'] and lk['same_scores'] else 'NO'}",
             bool(lk["same_topics"] and lk["same_scores"] and lk["indexed"])),
            (f"DuckLake: ingest into a lake ≤ {LAKE_INGEST_RATIO_MAX}× into the DuckDB file, same pages (issue #16): "
             f"{lk['ingest_ratio']:.2f}×", lk["ingest_ratio"] <= LAKE_INGEST_RATIO_MAX)]


def lake_upkeep_checks(lu: dict) -> list[tuple[str, bool]]:
    worst = max(lu["ratios"].values())
    return [(f"DuckLake maintenance: readers no slower after `maintain` than before on a lake of {lu['commits']} "
             f"small loads (worst after / before ≤ {LAKE_UPKEEP_READ_RATIO_MAX}): {worst:.2f}",
             worst <= LAKE_UPKEEP_READ_RATIO_MAX)]


def render_lake(lk: dict) -> list[str]:
    head = ["## DuckLake (issue #16)", ""]
    if "skipped" in lk:
        return head + [f"Not measured: {lk['skipped']}.", ""]
    ms = lambda key: f"{lk[key] * 1000:.1f} ms"   # noqa: E731
    return head + [
        f"{lk['feeds']} feeds × {lake.PAGES_PER_FEED} new pages (small synthetic articles) on four loopback hosts, "
        "two in each shard of two; the lake's catalog a PostgreSQL on loopback started by the benchmark, its data "
        f"path a local folder. Medians of {lk['rounds']} interleaved rounds on fresh warehouses (created before "
        f"the clock starts), queries {lk['query_repeats']} times each per round in an open read-only session "
        "(`bench/lake.py`).", "",
        "| measurement | DuckDB file | DuckLake | lake / file |", "|---|---|---|---|",
        f"| ingest, `run_ingest` (`--no-prefect`) in one process | {lk['file']:.1f} s | {lk['lake']:.1f} s | "
        f"{lk['ingest_ratio']:.2f}× |",
        f"| build the search index (`rebuild_fts`; the lake's is local) | {ms('index_file')} | {ms('index_lake')} | "
        f"{lk['index_ratio']:.2f}× |",
        f"| open a reader session | {ms('open_file')} | {ms('open_lake')} | {lk['open_ratio']:.2f}× |",
        f"| `topic_counts` window (28 days) | {ms('topics_file')} | {ms('topics_lake')} | {lk['topics_ratio']:.2f}× |",
        f"| `search` (BM25, top 20) | {ms('search_file')} | {ms('search_lake')} | {lk['search_ratio']:.2f}× |", "",
        "| into the lake | seconds | ratio |", "|---|---|---|",
        f"| one process (`ingest --no-prefect`), the reference | {lk['one_process']:.1f} | 1.00 |",
        f"| two load-only shard processes at once (`ingest --shard K/2 --no-settle`) + `settle` | {lk['shards']:.1f} "
        f"(loads {lk['shard_loads']:.1f}) | {lk['shard_ratio']:.2f} |", "",
        f"The lake's ingest took {lk['lake'] - lk['file']:+.1f} s against the file's here "
        f"({1000 * (lk['lake'] - lk['file']) / lk['feeds']:+.0f} ms a source). A DuckLake commit costs tens of "
        "milliseconds (one that UPDATEs a table ~85 ms) against ~1 ms on the file, so what is paid per source "
        "was made per batch: a batch's sources load in one transaction, their known-id asks share one read, and "
        "the settle relearns boilerplate and page templates of every source in one read and one transaction "
        "(docs/design.md, DuckLake). Two shard "
        "processes on these two cores gain nothing over one (the second interpreter and the `settle` eat what "
        "the overlap saves); shards pay off on several machines.", ""]


def targets(sp: dict) -> list[tuple[str, bool]]:
    """Targets not yet pinned as floors (reported, not failing the run)."""
    return []


QUIET_COLUMNS = {"balkanwatch": "balkanwatch", spikes_eval.BEFORE: "before (1)",
                 spikes_eval.BEFORE_AT_OURS: "before (4)", spikes_eval.NB_TAIL: "NB tail",
                 "EWMA z-score + cooldown": "EWMA z", "windowed Gaussian": "windowed Gaussian"}


def render_spikes(sp: dict) -> list[str]:
    nab, settings = sp["nab"], sp["settings"]
    ours = nab["balkanwatch"]
    rate = settings.alerts_per_month
    lines = ["## Spike detection (issue #14)", "",
             "Since session 18 a surge is judged against the topic's ordinary daily peak and its own record of "
             f"daily peaks; the threshold is a budget of about {rate:g} alerts a month per topic "
             "(`balkanwatch/spikes.py`). Its constants were decided on synthetic series with known truth "
             "(`bench/synthetic.py`: 0.05 to 500 items an hour, daily and weekly seasonality, trends, "
             "negative-binomial noise and a latent drift, ordinary news clusters, bursts of four shapes); its "
             "structure came from where the labelled windows of the five dev NAB files rank among each file's "
             f"days (session 18, look 13). The dev score was looked at {sp['looks']} times in all (docs/design.md, "
             f"\"Spike detection: the protocol\"). Synthetic part: {sp['synthetic_seconds']:.0f} s.", "",
             f"### Alerts per month on burst-free series (configured: {rate:g}; every one is a false alert)", "",
             f"Counted from day {spikes_eval.SETTLED_DAYS} of 56 (the alerts flow reads 28 days of history). "
             "*before (1)* = the negative-binomial detector of sessions 8-17 at its default, one false alert a "
             f"month on its model's noise (`bench/nb_detector.py`); *before ({rate:g})* = the same at our budget. "
             "The other baselines get our budget too: their z threshold is the normal quantile of the same "
             "per-bucket rate. *heavy* = negative-binomial size 3 and a strong latent drift; *newsy* = three "
             "ordinary, unlabelled news bursts a week of Pareto sizes (stories cluster). *NB tail* = the "
             "issue's yardstick re-implemented from its description (a negative-binomial tail on trailing "
             "hourly sums: median level × daily profile, dispersion from the last week, one threshold, the "
             "same cooldown).", "",
             "| family | " + " | ".join(f"{bucket}: {name}" for bucket in ("hourly", "5-minute")
                                     for name in QUIET_COLUMNS.values()) + " |",
             "|---|" + "---|" * 2 * len(QUIET_COLUMNS)]
    hourly, fine = sp["quiet"][3600], sp["quiet"][300]
    for h, f in zip(hourly, fine, strict=True):
        cells = [f"{row.rate(d):.2f}" for row in (h, f) for d in QUIET_COLUMNS]
        lines.append(f"| {h.family} | " + " | ".join(cells) + " |")
    lines += ["", f"Hourly: {spikes_eval.QUIET_SEEDS[3600]} series per family ({hourly[0].months:.1f} months); "
              f"5-minute: {spikes_eval.QUIET_SEEDS[300]} ({fine[0].months:.1f} months). At 0.05 items an hour "
              "the volume floor (3 stories) keeps every detector quieter than its budget."]
    bases = {"mean": "sized against the topic's mean volume: a 3× burst brings two ordinary hours' items "
                     "each hour, whatever the time of day (the issue's \"three times the usual hourly volume\")",
             "local": "sized against their own hours: a 3× burst at 3 a.m. is three times the 3 a.m. volume, "
                      "often less than an ordinary afternoon"}
    for basis, what in bases.items():
        lines += ["", f"### Bursts {what.split(':')[0]} (hourly buckets, {spikes_eval.BURST_HOURS:g} h, shapes in "
                  f"turn; {spikes_eval.BURST_SEEDS} series per cell)", "",
                  f"Bursts {what}. Caught = an alert within the burst or the hour after it; delay = median "
                  "minutes from the burst's first bucket to the alert (0 = in its first hour); (before n) = the "
                  "sessions 8-17 detector's catches on the same series, at its one a month.", "",
                  "| usual items/h | " + " | ".join(f"{z:g}×" for z in spikes_eval.BURST_SIZES) + " |",
                  "|---|" + "---|" * len(spikes_eval.BURST_SIZES)]
        for volume in spikes_eval.BURST_VOLUMES:
            cells = []
            for r in (r for r in sp["bursts"] if r.volume == volume and r.basis == basis):
                delay = "" if r.median_delay is None else f", {r.median_delay:.0f} min"
                cells.append(f"{r.caught}/{r.bursts}{delay} (before {r.caught_before})")
            lines.append(f"| {volume:g} | " + " | ".join(cells) + " |")
    lines += ["", "At about four alerts a month an ordinary day's alert now and then falls in the day before a "
              "burst, and the cooldown (one alert a day per topic) hides the burst: most of the misses at 3× and "
              "above. A local burst that does not top an ordinary day's busiest hour is not a surge here.",
              "", f"### A second burst, 4-8 days after a {spikes_eval.FIRST_SIZE:g}× one (hourly, 2 h each, sized "
              f"against the mean volume; {spikes_eval.SECOND_SEEDS} series per cell)", "",
              "Caught by ours / by ours on the same series without the 10× day (the same seed, the first burst at "
              "1×) / by the sessions 8-17 detector: one outstanding day must not hide the next surge. What the 10× "
              "day costs is the first two columns' difference; most misses in both are second bursts that do not "
              "top an ordinary day's busiest hours (a 2× burst at the mean volume is below the afternoon peak of a "
              "topic with a daily profile).",
              "", "| usual items/h | " + " | ".join(f"{z:g}×" for z in spikes_eval.SECOND_SIZES) + " |",
              "|---|" + "---|" * len(spikes_eval.SECOND_SIZES)]
    for volume in spikes_eval.SECOND_VOLUMES:
        cells = [f"{r.caught['balkanwatch']}/{r.bursts} / {r.caught[spikes_eval.CONTROL]}/{r.bursts} / "
                 f"{r.caught[spikes_eval.BEFORE]}/{r.bursts}" for r in sp["second"] if r.volume == volume]
        lines.append(f"| {volume:g} | " + " | ".join(cells) + " |")
    lines += ["", "### NAB realTweets, the five dev files", "",
              f"{len(sp['files'])} series, {sp['rows']:,} five-minute buckets, {sp['windows']} labelled windows "
              "(`../shared/data/spikes-dev`, MIT), scored as NAB does (`bench/nab.py`). Ours with the shipped "
              f"defaults ({rate:g} alerts a month, spans "
              f"{'/'.join(str(x // 3600) for x in settings.scale_seconds)} h); the baselines re-implemented and run "
              "in the same process.", "",
              "| detector | standard | low FP | low FN | " + " | ".join(spikes_eval.ticker(n) for n in sp["files"])
              + " | windows | false alerts |", "|---|---|---|---|" + "---|" * len(sp["files"]) + "---|---|"]
    for name, r in nab.items():
        per_file = " | ".join(f"{v:.1f}" for v in r["file_scores"])
        lines.append(f"| {name} | {r['scores']['standard']:.1f} | {r['scores']['reward_low_FP']:.1f} | "
                     f"{r['scores']['reward_low_FN']:.1f} | {per_file} | "
                     f"{sum(f.detected for f in r['per_file'])}/{sum(f.windows for f in r['per_file'])} | "
                     f"{sum(f.false_alerts for f in r['per_file'])} |")
    ranks = sp["ranks"]
    lines += ["", f"Scoring the five files took {ours['seconds']:.1f} s for ours. With the same catches and no "
              f"false alert at all ours would score {ours['without_false_alerts']:.1f}; {sp['surge_free']} of the "
              f"{sp['windows']} windows never reaches the threshold. Where each labelled window ranks among its "
              "file's days outside the windows (how many days reach a higher peak of the detector's evidence; "
              f"0 = above every ordinary day): ours {ranks['balkanwatch']} (sum {sum(ranks['balkanwatch'])}), "
              f"the sessions 8-17 detector {ranks[spikes_eval.BEFORE]} (sum {sum(ranks[spikes_eval.BEFORE])}). "
              "Alerts a month of ours on each file after NAB's probation (no labels needed; the budget is "
              f"{rate:g}): " + ", ".join(f"{t} {v:.1f}" for t, v in sp["real_rates"]) + ".", "",
              "Published detectors on these same five files (standard profile; NAB's per-file results, each "
              "detector at its threshold for the whole corpus, normalised over these 16 windows): "
              + ", ".join(f"{n} {v:.1f}" for n, v in sp["same_files"]) + ". They are not causal in scale: NAB "
              "gives each of them the file's minimum and maximum before its first row. On the whole 58-series "
              "corpus they score less: " + ", ".join(f"{n} {v}" for n, v in spikes_eval.ANCHORS) + ".", "",
              "The session-7 detector (a z-score divided by the last week's daily maxima of it) scored 82.9 here "
              "and 58.0 on five held-out realTweets files (issue #14). This one's structure was also chosen looking at these five (look 13), and on session 18's synthetic NAB "
              "(`bench/synthetic_nab.py`, incidents placed at random times) it does no better than the "
              "sessions 8-17 detector at the same budget: the held-out five will say which transfers.", "",
              "### The dev five, quieter (`bench/thinned_nab.py`)", "",
              "Most of the session-7 detector's held-out misses were on the quieter series. Each dev series "
              "thinned (every tweet kept with probability f; the windows stay where they are), "
              f"{thinned_nab.SEEDS} thinning seeds per fraction, NAB standard over the five files (mean over "
              "seeds; windows caught, false alerts), every detector at the shipped budget. At × 1/16 CVS holds "
              "about 6 tweets a day.", "", *sp["thinned"], ""]
    return lines


def render_dedupe(dd: dedupe_eval.PairScores, kinds: dict[str, int], errors: list[str],
                  scale: dict[str, float], rb: dict[str, float]) -> list[str]:
    lines = ["## Dedupe: stories against labels (issue #3)", "",
             "Labelled set built by `bench/dedupe_eval.py` from the WCXB dev ground-truth texts and the seeds: "
             "originals, three syndicated variants each (truncated 40–90%, re-headlined with dateline, lightly "
             "edited, reordered, padded with local paragraphs, Serbian-Cyrillic transliteration) and hard "
             "negatives (another article quoting two paragraphs; one footer shared by unrelated articles; 12 "
             "paywalled articles of one site whose text is the same subscription notice, each its own story, and 12 "
             "pages of another site showing only that notice under headlines of their own), "
             "and one site re-posting an article under its headline with a word added (a copy). "
             "Served as pages on three loopback sites with RSS feeds and ingested through the real pipeline.", "",
             "| docs | label pairs | predicted pairs | precision | recall | F1 | ARI |", "|---|---|---|---|---|---|---|",
             f"| {dd.docs} | {dd.true_pairs} | {dd.predicted_pairs} | {dd.precision:.4f} | {dd.recall:.4f} | "
             f"{dd.f1:.4f} | {dd.ari:.4f} |", "",
             "Documents by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ".", ""]
    if errors:
        lines += ["First disagreements (pair: what the pipeline did wrong):", ""] + [f"- {e}" for e in errors] + [""]
    lines += ["## Dedupe: scale (issue #3)", "",
              f"{scale['articles']:,} synthetic articles (~300 words, 10% truncated copies) assigned one by one, "
              "as ingest does. Memory is the process's resident growth (at the end, and its peak during the run, "
              "which includes the transient copies of posting merges), measured in a fresh process so that earlier "
              "benchmarks' heap does not count; 1M is extrapolated linearly.", "",
              "| ms per article | index memory | peak | extrapolated to 1M | copies joined | stories |",
              "|---|---|---|---|---|---|",
              f"| {scale['ms_per_article']:.2f} | {scale['index_mb']:.0f} MB | {scale['peak_mb']:.0f} MB | "
              f"{scale['mb_per_1m'] / 1000:.1f} GB | "
              f"{scale['copies_joined']:,} of {scale['copies']:,} | {scale['stories']:,} |", "",
              f"Every ingest run loads the stories of its 30-day window into a fresh index: {rb['articles']:,} "
              f"articles took {rb['bulk_s']:.2f} s in bulk (`StoryIndex.add_many`) against {rb['loop_s']:.2f} s one "
              f"by one (ratio {rb['ratio']:.2f}; same candidates: {'yes' if rb['same'] == 1.0 else 'NO'}).", ""]
    return lines


def render(thr: dict[str, float], q: dict[str, dict[str, float]], results: list[tuple[str, bool]],
           dedupe_lines: list[str], target_results: list[tuple[str, bool]]) -> str:
    ours, raw = q["balkanwatch"], q["trafilatura.extract"]
    lines = [
        "# balkanwatch benchmark report", "",
        f"Generated by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores. Ratios are against references measured in the same process.", "",
        "## Ingest throughput (issue #2)", "",
        f"{thr['pages']} real article pages (WCXB dev) served from 4 loopback sites (a child process), one RSS feed "
        f"each; every run into a fresh warehouse. Medians of {thr['repeats']} interleaved repetitions "
        f"({thr['repeats'] + 1} for the reference).", "",
        "| run | seconds | pages/s | ratio to extraction-only |", "|---|---|---|---|",
        f"| extraction only, single thread, same code as ingest (reference; spread {thr['extract_only_spread']:.0%}) "
        f"| {thr['extract_only_s']:.2f} | {thr['pages_per_s_extract']:.1f} | 1.00 |",
        f"| whole ingest, plain (feed → fetch → extract → DuckDB) | {thr['ingest_plain_s']:.2f} | "
        f"{thr['pages'] / thr['ingest_plain_s']:.1f} | {thr['ratio_plain']:.2f} |",
        f"| whole ingest as a Prefect flow run | {thr['ingest_flow_s']:.2f} | {thr['pages_per_s_flow']:.1f} | "
        f"{thr['ratio_flow']:.2f} |", "",
        f"Floor: ≤ {INGEST_RATIO_MAX} (both cores busy, orchestration cheap). Against the anchor of issue #17, raw "
        f"`trafilatura.extract(html)` single-threaded on the same bodies ({thr['trafilatura_s']:.2f} s, medians "
        f"of the same rounds): whole ingest plain {thr['plain_vs_trafilatura']:.2f}×, as a Prefect flow run "
        f"{thr['flow_vs_trafilatura']:.2f}× (the issue's goal: ≤ {INGEST_VS_TRAFILATURA_GOAL}×). Our extraction "
        "costs more per page than trafilatura's (metadata, dates, signatures: the CPU section), which the "
        "pool's second core does not yet make up.", "",
        f"Read back as an analyst reads it (`SELECT url, text FROM articles` after every run, plain and flow; "
        f"issue #17 measures its held-out pages this way): word F1 {thr['stored_f1']:.4f} in the worst run, "
        f"against {thr['extracted_f1']:.4f} for the extraction alone on the same pages; pages whose stored text "
        f"is not the extraction's: {thr['stored_differs']:.0f} at most (a page without an article scores 0 in "
        "both). What changes a stored text after extraction is the boilerplate learned across the four sources "
        "(\"Boilerplate across many sources\" below); templates learned from these mixed pages change none.", "",
        "## Extraction quality on WCXB dev (issue #2)", "",
        f"{thr['pages']} pages of the WCXB dev split (CC-BY-4.0, Web Content eXtraction Benchmark). Word F1 as WCXB computes it "
        "(bag of lowercased `\\w+` tokens vs `main_content`, macro-averaged). Title right when its token F1 with the "
        f"truth ≥ {TITLE_MATCH}; author when all truth tokens are in it; date when YYYY-MM-DD is equal; metadata "
        "accuracy over pages whose truth has the field.", "",
        "| extractor | word F1 | title | author | date |", "|---|---|---|---|---|",
    ]
    for name, s in (("balkanwatch (the ingest path)", ours), ("raw `trafilatura.extract`", raw)):
        lines.append(f"| {name} | {s['word_f1']:.3f} | {s['title_acc']:.3f} (n={s['title_n']}) | "
                     f"{s['author_acc']:.3f} (n={s['author_n']}) | {s['date_acc']:.3f} (n={s['date_n']}) |")
    lines += ["", "The title rule (`connectors.extract.choose_title`) was designed on this dev set; there is no "
              "held-out split here, so read the title gain as optimistic.", "",
              ""]
    lines += dedupe_lines
    lines += ["## Floors (a regression fails `make bench`)", ""]
    lines += [f"- [{'x' if ok else ' '}] {text}" for text, ok in results]
    lines += ["", "## Targets not yet pinned", ""]
    lines += [f"- [{'x' if ok else ' '}] {text}" for text, ok in target_results]
    return "\n".join(lines) + "\n"


def render_incremental(inc: dict[str, float]) -> list[str]:
    return ["## A scheduled run as history grows (issues #2, #3)", "",
            f"The same {inc['pages']} new pages (WCXB, 4 loopback sites) ingested into an empty warehouse and into one "
            f"holding {inc['history']:,} articles of the last 30 days (stories, signatures, FTS, mentions settled); "
            f"medians of {incremental.REPEATS}.", "",
            "| empty | with history | ratio | all pages landed |", "|---|---|---|---|",
            f"| {inc['empty_s']:.2f} s | {inc['full_s']:.2f} s | {inc['ratio']:.2f} | "
            f"{'yes' if inc['all_landed'] == 1.0 else 'NO'} |", "",
            "Not gated: with runs this short the medians move by ±0.6 s between repeats (the polling step). "
            "Measured per step with 10,000 articles in the window (session 5, schema v7): the end-of-run steps "
            "cost ≈0.25 s more than on an empty warehouse (story assignment +0.17 s, boilerplate +0.05 s) and "
            "closing the warehouse ≈0.03 s more. Before v7 the close cost ≈0.4 s more, growing to ≈2.5 s at "
            "100,000 articles (next section).", ""]


def render_checkpoint(ck: dict[str, float]) -> list[str]:
    return ["## A writer session on a big warehouse (issues #2, #3)", "",
            f"Open, load {ck['new']} articles, close (DuckDB checkpoints at close), on an empty warehouse and on one "
            f"holding {ck['history']:,} synthetic articles with raw pages, sketches and signatures; medians of "
            f"{checkpoint.REPEATS}, interleaved. A run does this several times.", "",
            "| empty | with history | ratio |", "|---|---|---|",
            f"| {ck['empty_s']:.3f} s | {ck['full_s']:.3f} s | {ck['ratio']:.2f} |", "",
            "With schema v6 (primary keys on the per-article tables) the same measurement gave 0.131 s against "
            "2.611 s (ratio 19.9): DuckDB rewrote each indexed table's last row group at every checkpoint.", ""]


def main() -> int:
    pages = extraction_dev()
    quality = evaluate(pages)
    cpu = extraction_cpu.measure(pages[:CPU_PAGES])
    ch = extraction_chooser.evaluate(pages)
    tp = templates.evaluate(pages)
    bs = boilerplate_sources.measure(pages)
    rp = repeats_cv.evaluate(pages)
    tl = title_line_cv.evaluate(pages, ch["cases"])   # the chooser's cases, built once
    throughput = measure(pages)
    dd, errors, kinds = dedupe_eval.run()
    scale = dedupe_scale.measure_fresh(SCALE_ARTICLES)
    rb = dedupe_scale.rebuild(REBUILD_ARTICLES)
    inc = incremental.measure(pages[:12], INCREMENTAL_HISTORY)
    ck = checkpoint.measure()
    sp = spikes_eval.run()
    sp["thinned"] = thinned_nab.table(thinned_nab.run())
    mf = many_feeds.measure_fresh()
    lk = lake.measure()
    lu = lake_upkeep.measure()
    lr = lake_remote.measure()   # reported, no floor
    rw = rising_eval.evaluate(RISING_SEEDS)
    rc = rising_cost.measure()
    wc = watch_cost.measure(pages)
    si = search_index_cost.measure(pages)
    pp = pdf_paragraphs_cv.evaluate()
    results = (checks(throughput, quality, dd, scale, sp, rb, ck) + cpu_checks(cpu) + chooser_checks(ch) + templates.checks(tp)
               + boilerplate_sources.checks(bs) + repeats_cv.checks(rp, REPEAT_MIN_WORDS)
               + title_line_cv.checks(tl, TITLE_LINE_MATCH)
               + many_feeds_checks(mf) + many_feeds_floors(mf) + lake_checks(lk) + lake_upkeep_checks(lu)
               + rising_eval.checks(rw) + rising_cost.checks(rc) + watch_cost.checks(wc) + search_index_cost.checks(si)
               + pdf_paragraphs_cv.checks(pp))
    target_results = targets(sp) + [chooser_target(ch),
        (f"whole ingest (Prefect flow) ≤ {INGEST_VS_TRAFILATURA_GOAL}× single-thread raw trafilatura.extract on the same "
         f"pages (issue #17): {throughput['flow_vs_trafilatura']:.2f}×",
         throughput["flow_vs_trafilatura"] <= INGEST_VS_TRAFILATURA_GOAL)]
    REPORT.write_text(render(throughput, quality, results, render_cpu(cpu) + render_chooser(ch) + render_templates(tp) + pdf_paragraphs_cv.render(pp) + boilerplate_sources.render(bs)
                             + repeats_cv.render(rp, REPEAT_MIN_WORDS) + title_line_cv.render(tl, TITLE_LINE_MATCH)
                             + render_dedupe(dd, kinds, errors, scale, rb)
                             + render_incremental(inc) + render_checkpoint(ck)
                             + render_spikes(sp) + rising_eval.render(rw, RISING_SEEDS) + rising_cost.render(rc) + watch_cost.render(wc) + search_index_cost.render(si) + render_many_feeds(mf) + render_lake(lk)
                             + lake_upkeep.render(lu) + lake_remote.render(lr),
                             target_results),
                      encoding="utf-8")
    print(REPORT.read_text(encoding="utf-8"))
    failed = [t for t, ok in results if not ok]
    if failed:
        print("FLOORS NOT MET:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
