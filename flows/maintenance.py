"""Jobs over stored data: re-extraction from raw pages, dedupe threshold backtests, spike backtests, trials of a
watchlist.

None of them imports Prefect (the CLI starts in a second); the flows call them.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import BrokenExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from balkanwatch.alerting import (
    BUDGETS,
    TopicSeries,
    budget_series,
    kept_of,
    replay_verdicts,
    spikes_of,
    suggest_budget,
    topic_series,
)
from balkanwatch.boilerplate import keys_for, strip
from balkanwatch.config import Config, WatchlistSettings
from balkanwatch.dedupe import SHIPPED, Thresholds, compare_partitions, recluster
from balkanwatch.models import ExtractedArticle
from balkanwatch.progress import Progress, counted
from balkanwatch.spikes import MONTH_SECONDS, shown_months
from balkanwatch.textclean import content_hash, paragraphs
from balkanwatch.textnorm import phrases
from balkanwatch.trial import TopicTrial
from connectors.extract import PageJob, extractor_version, safe_extract
from warehouse import Warehouse
from warehouse.base import utc_naive
from warehouse.store import utcnow

REEXTRACT_BATCH = 200   # articles written per transaction
RECLUSTER_REPORT_EVERY = 500   # articles between progress reports: assigning one takes microseconds


def dedupe_backtest(config: Config, proposed: Thresholds, examples: int = 20,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Re-cluster the warehouse (read-only) with the shipped and the proposed thresholds; what would change.
    `progress` counts articles assigned, over both clusterings (total: twice the articles)."""
    with Warehouse.for_config(config, read_only=True) as wh:
        rows = [(a, frozenset(h), k, head) for a, _, h, k, head in wh.story_sketches(datetime(1970, 1, 1))]
        titles = {r["article_id"]: (r["source"], r["title"]) for r in wh.rows("SELECT article_id, source, title FROM articles")}
    n, every = len(rows), RECLUSTER_REPORT_EVERY
    shipped = recluster(counted(rows, progress, 2 * n, every=every), SHIPPED)
    then = recluster(counted(rows, progress, 2 * n, start=n, every=every), proposed)
    change = compare_partitions(shipped, then)
    groups: dict[str, list[str]] = defaultdict(list)
    for art, story in then.items():
        groups[story].append(art)
    moved = [{"article": " — ".join(map(str, titles.get(a, ("?", a)))),
              "with_shipped": len([b for b in rows if shipped[b[0]] == shipped[a]]) - 1,
              "with_proposed": len(groups[then[a]]) - 1,
              "now_together_with": " | ".join(str(titles.get(b, ("", b))[1]) for b in groups[then[a]] if b != a)[:200]}
             for a in change.moved[:examples]]
    return {"shipped": asdict(SHIPPED), "proposed": asdict(proposed), "articles": change.articles,
            "stories_shipped": change.stories_now, "stories_proposed": change.stories_then,
            "pairs_shipped": change.pairs_now, "pairs_proposed": change.pairs_then,
            "pairs_added": change.pairs_added, "pairs_removed": change.pairs_removed,
            "articles_moved": len(change.moved), "examples": moved}


def reextract(config: Config, *, everything: bool = False, progress: Progress | None = None) -> int:
    """Re-run extraction on stored raw pages whose extractor version differs (or all); returns how many.
    The pages are extracted as ingest extracts and cleans them: with `ingest.extractor_agreement`, each
    source's learned page template (#17), then without its learned boilerplate paragraphs; by ingest's
    extraction workers (`ingest.extract_workers`), a batch of REEXTRACT_BATCH pages at a time, so memory
    holds one batch, not the warehouse's pages. `progress` counts pages extracted."""
    version = extractor_version()
    done = 0
    with Warehouse.for_config(config) as wh:
        ids = wh.raw_page_ids(where_version_not=None if everything else version)
        templates = wh.source_templates()
        learned = wh.boilerplate_by_source()
        workers = config.ingest.extract_workers or os.cpu_count() or 1
        for start in range(0, len(ids), REEXTRACT_BATCH):
            jobs = [PageJob(source=source, url=url, final_url=url, body=body, encoding=enc, fetched_at=datetime.now(UTC),
                            agreement=config.ingest.extractor_agreement, template=templates.get(source),
                            timeout=config.ingest.extract_timeout)
                    for _art_id, source, url, enc, body in wh.raw_pages(ids[start:start + REEXTRACT_BATCH])]
            batch = []
            for result in counted(_extract_all(jobs, workers), progress, len(ids), start=start):
                if not isinstance(result, str):
                    kept, gone = strip(paragraphs(result.text), keys_for(result.source, learned))
                    if gone:
                        clean = "\n".join(kept)
                        result = replace(result, text=clean, content_hash=content_hash(clean))
                    batch.append(result)
            done += wh.update_extractions(batch)
        if done:
            wh.rebuild_fts()
    return done


def _extract_all(jobs: list[PageJob], workers: int) -> Iterator[ExtractedArticle | str]:
    """`safe_extract` of every job, in order, on this process's extraction pool (ingest's); inline when
    `workers` is 1 or the pool broke (a worker killed: the batch is done again here)."""
    if workers <= 1:
        yield from map(safe_extract, jobs)
        return
    from flows.poll import retire_pool, shared_pool

    pool = shared_pool(workers)
    try:
        results = list(pool.map(safe_extract, jobs, chunksize=4))
    except BrokenExecutor:
        retire_pool(pool)
        results = [safe_extract(job) for job in jobs]
    yield from results


def topic_stories(wh: Warehouse, config: Config, start: datetime, now: datetime,
                  topics: Sequence[str] | None = None) -> dict[str, list[tuple[str, datetime]]]:
    """(story_id, first_seen_at) of every topic's stories (of `topics` only, when given) from `start` to the
    bucket holding `now`, by topic."""
    rows: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for watchlist, story_id, when in wh.story_mentions(start, now + timedelta(minutes=config.alerts.bucket_minutes),
                                                       topics):
        rows[watchlist].append((story_id, when))
    return rows


def backtest(wh: Warehouse, config: Config, now: datetime | None = None,
             progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every alert the detector would have raised over the warehouse's whole history (read-only).
    `progress` counts topics scored (each is its whole history bucket by bucket, with its spikes' stories)."""
    now = now or utcnow()
    start = wh.first_story_time() or now
    rows = topic_stories(wh, config, start, now)
    out = []
    for w in counted(config.watchlists, progress, len(config.watchlists)):
        out += _alert_rows(wh, topic_series(w.name, rows[w.name], start, now, config.topic_alerts(w.name)))
    return sorted(out, key=lambda r: (r["bucket_start"], r["watchlist"]))


def budget_replays(wh: Warehouse, config: Config, budgets: Sequence[float], *, topics: Sequence[str] = (),
                   now: datetime | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """`balkanwatch spikes budgets`: every topic's history replayed at each of `budgets` (alerts a month), as
    `backtest` replays it at the topic's own; per topic and budget, the alerts it would have sent and how many
    of the desk's verdicts it keeps (`replay_verdicts`: alerts rated useful, rated noise, surges noted as
    missed), marked "current" at the topic's budget and "suggested" where `suggest_budget` points. Of
    `topics` only, when given."""
    now = now or utcnow()
    start = wh.first_story_time() or now
    months = (now - start).total_seconds() / MONTH_SECONDS
    rows = topic_stories(wh, config, start, now, topics or None)
    rated, missed = wh.rated_alerts(), wh.missed_surges()
    cooldown = timedelta(hours=config.alerts.cooldown_hours)
    out = []
    watchlists = [w for w in config.watchlists if not topics or w.name in topics]
    for w in counted(watchlists, progress, len(watchlists)):
        a = config.topic_alerts(w.name)
        tried = sorted({*budgets, a.alerts_per_month})
        replays = []
        for budget, series in zip(tried, budget_series(w.name, rows[w.name], start, now, a, tried), strict=True):
            alerts = [(w.name, spike.bucket_start) for spike in spikes_of(series)]
            _, kept = replay_verdicts(alerts, [r for r in rated if r[0] == w.name], cooldown,
                                      [m for m in missed if m[0] == w.name])
            replays.append({"budget": budget, "alerts": len(alerts), **kept.get(w.name, {})})
        suggested = suggest_budget(replays, a.alerts_per_month)
        for r in replays:
            note = [n for n, yes in (("current", r["budget"] == a.alerts_per_month), ("suggested", r["budget"] == suggested))
                    if yes]
            out.append({"watchlist": w.name, "budget_a_month": r["budget"], "alerts": r["alerts"],
                        "alerts_a_month": round(r["alerts"] / months, 2) if months > 0 else None,
                        "useful_kept": kept_of(r, "useful"), "noise_kept": kept_of(r, "noise"),
                        "missed_caught": kept_of(r, "missed"),
                        "note": ", ".join(note)})
    return out


def suggested_budgets(wh: Warehouse, config: Config, now: datetime | None = None) -> dict[str, float]:
    """The budget `spikes budgets` suggests (at its default budgets, BUDGETS) for every topic the desk has
    labelled (an alert rated, a surge noted as missed); topics without labels get none. What the `topics`
    artifact and `topics list` show beside each topic's budget."""
    known = {w.name for w in config.watchlists}
    labelled = sorted(known & ({t for t, _, _ in wh.rated_alerts()} | {t for t, _ in wh.missed_surges()}))
    if not labelled:
        return {}
    rows = budget_replays(wh, config, BUDGETS, topics=labelled, now=now)
    return {str(r["watchlist"]): float(r["budget_a_month"]) for r in rows if "suggested" in r["note"].split(", ")}


def _alert_rows(wh: Warehouse, series: TopicSeries) -> list[dict[str, Any]]:
    """The alerts the detector raises on `series`, as `spikes backtest` lists them."""
    out = []
    for spike in spikes_of(series):
        titles = [s["title"] for s in wh.story_details(spike.story_ids)[:3]]
        out.append({"bucket_start": spike.bucket_start, "watchlist": spike.watchlist,
                    "window_start": spike.window_start, "observed": int(spike.observed),
                    "expected": round(spike.expected, 2),
                    "usual_per_day": None if spike.usual_per_day is None else round(spike.usual_per_day, 2),
                    "ordinary_peak": round(spike.peak, 1), "score": round(spike.score, 3),
                    "once_in_months": shown_months(spike.months), "why": spike.rarity,
                    "stories": len(spike.story_ids), "first_titles": " | ".join(t or "" for t in titles)})
    return out


def try_topic(wh: Warehouse, config: Config, candidate: WatchlistSettings, *, examples: int = 10,
              since: datetime | None = None, now: datetime | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """What `candidate` (a watchlist not necessarily in the config) would make of the stored articles
    (read-only; `balkanwatch topics try`): its stories and how many a day, which term brings how many and
    how many each `none` term keeps out (balkanwatch.trial), how many it shares with each configured topic,
    the alerts the detector would have raised on it over the whole history at its budget, and its newest
    stories. `since`: only the stories first seen since then (a large warehouse's last months: the trial
    reads every article's text). `progress` counts articles matched."""
    now = now or utcnow()
    trial = TopicTrial.of(candidate.name, candidate.any, candidate.all_of_any, candidate.none)
    first_seen = wh.story_first_seen()
    ids = wh.story_article_ids(since)
    done = 0
    if progress:
        progress(0, len(ids))
    for batch in wh.story_texts(ids):
        for story_id, title, text in batch:
            trial.add(story_id, title, text)
        done += len(batch)
        if progress:
            progress(done, len(ids))
    start = max(filter(None, (wh.first_story_time(), utc_naive(since))), default=now)
    rows = sorted(((s, first_seen[s]) for s in trial.stories if s in first_seen), key=lambda r: (r[1], r[0]))
    alerts_config = replace(config, watchlists=[*[w for w in config.watchlists if w.name != candidate.name], candidate])
    settings = alerts_config.topic_alerts(candidate.name)
    series = topic_series(candidate.name, rows, start, now, settings)
    alerts = _alert_rows(wh, series)
    months = (now - start).total_seconds() / MONTH_SECONDS
    ours = set(trial.stories)
    others = topic_stories(wh, config, start, now)      # from `start`: the same stories as the trial read
    overlap = [{"topic": w.name, "shared_stories": len(shared := ours & {s for s, _ in others[w.name]}),
                "share": round(len(shared) / len(ours), 3) if ours else None}
               for w in config.watchlists if w.name != candidate.name]
    newest = [s for s, _ in rows[::-1][:examples]]
    kept_out = trial.excluded_stories()
    excluded = sorted(kept_out, key=lambda s: first_seen.get(s, start), reverse=True)[:examples]
    details = {d["story_id"]: d for d in wh.story_details([*newest, *excluded])}
    days = max((now - start).total_seconds() / 86_400, 1 / 24)
    return {
        "topic": candidate.name,
        "definition": {"any": candidate.any, "all_of_any": candidate.all_of_any, "none": candidate.none},
        "articles": trial.articles, "matched_articles": trial.matched_articles, "stories": len(ours),
        "excluded_stories": len(kept_out),
        "history_start": start, "days": round(days, 1), "stories_a_day": round(len(ours) / days, 2),
        "terms": trial.term_rows(), "overlap": overlap,
        "budget_a_month": settings.alerts_per_month, "alerts": alerts,
        "alerts_a_month": round(len(alerts) / months, 2) if months >= 1 / 30 else None,
        "examples": [{"first_seen_at": first_seen[s], "title": details[s]["title"] if s in details else None,
                      "terms": sorted(trial.stories[s]), "story_id": s} for s in newest],
        "excluded_examples": [{"first_seen_at": first_seen.get(s), "title": details[s]["title"] if s in details else None,
                               "kept_out_by": sorted(trial.kept_out[s]), "story_id": s} for s in excluded],
    }


BASELINE_DAYS = 28    # the baseline of rising words: as the alerts' history (alerts.history_days' default)
RISING_EXAMPLES = 3   # titles shown for each rising word


def rising_words(wh: Warehouse, *, span: timedelta, topics: Sequence[str] | None = None,
                 baseline_days: float = BASELINE_DAYS,
                 limit: int = 20, now: datetime | None = None) -> dict[str, Any]:
    """`balkanwatch rising`: the words rising in the last `span` against the `baseline_days` before it
    (`balkanwatch.rising`), of every story or of those any of `topics` matched (counted, and judged against
    their own weeks before, within those topics' stories); words of one event (nearly the same stories)
    are one row, headed by the most surprising (`rising.group`). Each row: its words (folded, and as its
    stories' titles and excerpts write them: `as_written`, side-by-side words as one phrase), stories and sources,
    how many stories held the head word before, the stories it would get at its usual share and in its
    busiest period, how improbable its count is, the watchlists that matched its stories, the newest titles
    and links, and the ids of all its stories."""
    from balkanwatch.rising import MIN_STORIES, group, rising

    end = now or utcnow()
    start = end - span
    blocks = max(1, int(baseline_days * 86400 // span.total_seconds()))
    counts = wh.word_counts(start, end, blocks, topics=topics, min_stories=MIN_STORIES)
    found = rising(counts["window"], counts["window_total"], counts["baseline"], counts["block_totals"])
    groups = group(found, wh.word_stories(start, end, [r.word for r in found], topics=topics))
    shown = groups[:limit] if limit else groups
    ids = sorted({sid for g in shown for sid in g.stories})
    details = {d["story_id"]: d for d in wh.story_details(ids)} if ids else {}
    matched = wh.story_topics(ids) if ids else {}
    rows = []
    for g in shown:
        r = g.head
        newest = sorted((details[sid] for sid in g.stories if sid in details),
                        key=lambda d: (d["first_seen_at"], d["story_id"]), reverse=True)
        written = phrases(g.words, [f"{d['title'] or ''} | {d['excerpt'] or ''}" for d in newest])
        rows.append({"word": r.word, "with": list(g.words[1:]), "as_written": written,
                     "stories": r.stories, "sources": r.sources,
                     "stories_before": r.baseline_stories, "usual": round(r.expected, 2),
                     "busiest_before": round(r.peak, 1), "surprise": round(r.surprise, 1),
                     "topics": sorted({t for sid in g.stories for t in matched.get(sid, [])}),
                     "examples": [" ".join(str(d["title"] or d["url"]).split()) for d in newest[:RISING_EXAMPLES]],
                     "links": [str(d["url"]) for d in newest[:RISING_EXAMPLES]],
                     "story_ids": sorted(g.stories)})
    return {"start": start, "end": end, "stories": counts["window_total"],
            "stories_before": sum(counts["block_totals"]), "blocks": blocks, "rising_words": len(found),
            "events": len(groups), "words": rows}
