"""Agreement between extractors on WCXB dev (issue #17): each extractor alone, the per-page medoid, the chooser.

Step 1 (`candidates`): every dev page through trafilatura as our extraction path runs it (`extract_html`:
our one parse, our metadata, `bare_extraction` without comments) and through readability-lxml, newspaper4k,
goose3, resiliparse, boilerpy3 and jusText; the texts and the CPU time of each call (`time.process_time`,
one warm process) are cached in CACHE (under /tmp, never in the repository), so the analysis is cheap to
repeat. `trafilatura.extract(html, url=...)`, what a new user would call, is timed beside them as the CPU
reference and scored as the quality reference ("raw trafilatura").

Step 2 (`evaluate`): word F1 (WCXB's scorer, bench/extraction.py) of each extractor alone; of the medoid of
the chooser's candidates on every page; and of the chooser (balkanwatch/chooser.py) with its thresholds
chosen by cross-validation: FOLDS folds over pages (page i in fold i % FOLDS), thresholds chosen on the
other folds by a grid search, F1 measured on the held-out fold; the table reports the mean over held-out
pages. The same search on all pages gives the constants the product uses (and must give them, or the
constants are stale: `check_constants`). Every score is of the text after our post-processing
(`connectors.extract.cleaned`: repeats dropped, "" below MIN_TEXT_CHARS as an ingest that drops the page).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np

from balkanwatch import chooser
from balkanwatch.textclean import token_f1
from bench.data import LabelledPage, extraction_dev
from bench.extraction import page_precision_recall, shingle_counts, shingle_f1
from connectors.charset import detect_encoding
from connectors.extract import _html_lang, cleaned, extract_html, page_signals, parse_html
from connectors.extractors import boilerpy3, justext, readability, resiliparse

CACHE = Path(os.environ.get("BALKANWATCH_CHOOSER_CACHE", "/tmp/balkanwatch-chooser/candidates.jsonl"))
FOLDS = 5
# The CV above is one draw of fold assignment: its F1 moved by up to 0.0025 with the pages shuffled (session
# 22). The report's headline is the mean over SHUFFLES shuffled orders (seeded), beside the unshuffled one.
SHUFFLES = 6
# the grid search takes the cheapest point (fewest extractors run) whose F1 is within this of the best: one
# page in 710 moving by 0.35 F1 is 0.0005, so smaller differences are noise the extra CPU cannot buy back
F1_TOLERANCE = 0.0005
OTHERS = ("resiliparse", "readability", "boilerpy3", "justext", "newspaper", "goose")
CHOOSER_POOL = ("trafilatura", *chooser.OPINION_ORDER)   # the candidates the product can run
FOUR = ("trafilatura", "readability", "newspaper", "goose")   # the four


def _newspaper(html: str, url: str) -> str:
    from newspaper import Article

    article = Article(url, fetch_images=False)
    article.download(input_html=html)
    article.parse()
    return str(article.text or "")


def _goose(html: str, url: str) -> str:
    from goose3 import Goose

    with Goose({"enable_image_fetching": False}) as g:
        return str(g.extract(raw_html=html).cleaned_text or "")


def _justext(html: str, url: str) -> str:
    return justext(html, url, _html_lang(html))


def _trafilatura(html: str, url: str) -> str:
    return str(extract_html(parse_html(html, url), url)["text"])


def _raw(html: str, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


CALLS: dict[str, Callable[[str, str], str]] = {
    "trafilatura": _trafilatura, "trafilatura.extract": _raw, "readability": readability,
    "newspaper": _newspaper, "goose": _goose, "resiliparse": resiliparse, "boilerpy3": boilerpy3,
    "justext": _justext}
# bump an extractor's version when its call or its text conversion changes: only its texts are recomputed
# justext 2: the page's stoplist (was English everywhere); trafilatura 2: the recall retry (session 23)
VERSIONS = dict.fromkeys(CALLS, "1") | {"justext": "2", "trafilatura": "2"}


def _decode(page: LabelledPage) -> str:
    return page.html.decode(detect_encoding(page.html, None), errors="replace")


def _run(page: LabelledPage, names: list[str], row: dict[str, Any]) -> dict[str, Any]:
    """The page through the named extractors, texts and CPU seconds written into `row`."""
    html = _decode(page)
    for name in names:
        t0 = time.process_time()
        try:
            row["texts"][name] = CALLS[name](html, page.url)
        except Exception:  # an extractor that fails on the page gives no text, as in the product
            row["texts"][name] = ""
        row["cpu"][name] = time.process_time() - t0
        row["versions"][name] = VERSIONS[name]
    return row


def candidates(pages: list[LabelledPage]) -> dict[str, dict[str, Any]]:
    """Every page's candidate texts and CPU seconds, from CACHE where it has them at the current VERSIONS."""
    warnings.filterwarnings("ignore", message="nltk is not installed")
    done: dict[str, dict[str, Any]] = {}
    if CACHE.exists():
        for line in CACHE.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row.setdefault("versions", dict.fromkeys(row["texts"], row.get("version")))
            done[row["id"]] = row
    stale = {p.file_id: [n for n in CALLS if done.get(p.file_id, {}).get("versions", {}).get(n) != VERSIONS[n]]
             for p in pages}
    todo = [p for p in pages if stale[p.file_id]]
    if not todo:
        return done
    for page in todo[:3]:   # warm the imports before any call is timed
        _run(page, list(CALLS), {"texts": {}, "cpu": {}, "versions": {}})
    for page in todo:
        row = done.setdefault(page.file_id, {"id": page.file_id, "texts": {}, "cpu": {}, "versions": {}})
        _run(page, stale[page.file_id], row)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text("".join(json.dumps(r) + "\n" for r in done.values()), encoding="utf-8")
    return done


Margins = tuple[float, float]   # (medoid_margin, shorter_margin)


def margin_pairs() -> list[Margins]:
    return list(product(chooser.GRID["medoid_margin"], chooser.GRID["shorter_margin"]))


def medoid_f1s(texts: list[str], truth: str) -> dict[Margins, float]:
    """F1 of the medoid of `texts` (the first is trafilatura's) for every pair of margins of the grid."""
    f1 = [token_f1(t, truth) for t in texts]
    split = [chooser.words(t) for t in texts]
    sets, lengths = [chooser.shingles_of(ws) for ws in split], [len(ws) for ws in split]
    ranked = chooser._ranked(sets)   # the margins only decide whether the medoid replaces the first text
    return {m: f1[chooser._keep_or_switch(ranked, lengths, *m)] for m in margin_pairs()}   # = medoid_index


@dataclass(frozen=True)
class PageCase:
    """One dev page as the chooser sees it: its signals, its candidates' texts and CPU, its truth; and, for
    a fast grid search, what each of the chooser's three outcomes would score on it."""

    page_id: str
    truth: str
    signals: chooser.PageSignals
    texts: dict[str, str]
    cpu: dict[str, float]
    agreement: float       # trafilatura's overlap with the first opinion
    confirm: float         # trafilatura's overlap with the CONFIRMER (asked second when the first disagrees)
    f1_kept: float         # F1 when trafilatura's text is kept
    f1_medoid: dict[Margins, float]   # F1 of the medoid of the chooser's pool, per pair of margins of the grid

    def f1(self, name: str) -> float:
        return token_f1(self.texts[name], self.truth)


def _case(page: LabelledPage, row: dict[str, Any]) -> PageCase:
    texts = {name: cleaned(t) for name, t in row["texts"].items()}
    tree = parse_html(_decode(page), page.url)
    t0 = time.process_time()
    signals = page_signals(tree, row["texts"]["trafilatura"])
    cpu = {**row["cpu"], "signals": time.process_time() - t0}
    first = chooser.FIRST_OPINION
    agreement = chooser.overlap(chooser.shingles(texts["trafilatura"]), chooser.shingles(texts[first]))
    confirm = chooser.overlap(chooser.shingles(texts["trafilatura"]), chooser.shingles(texts[chooser.CONFIRMER]))
    meds = medoid_f1s([texts[n] for n in CHOOSER_POOL], page.main_content)
    return PageCase(page.file_id, page.main_content, signals, texts, cpu, agreement, confirm,
                    token_f1(texts["trafilatura"], page.main_content), meds)


def cases(pages: list[LabelledPage], cands: dict[str, dict[str, Any]] | None = None) -> list[PageCase]:
    """Every page's case, from the cache's rows (`cands`, read here when not given)."""
    rows = cands if cands is not None else candidates(pages)
    return [_case(page, rows[page.file_id]) for page in pages]


def run_chooser(case: PageCase, params: chooser.Params) -> chooser.Choice:
    """The chooser itself on a cached page, `ask` answering from the cache. A page trafilatura finds no
    article in is dropped before the chooser runs (as in `extract_page`)."""
    if not case.texts["trafilatura"]:
        return chooser.Choice("", "trafilatura", ("trafilatura",), "no article")
    return chooser.choose(case.texts["trafilatura"], case.signals, lambda name: case.texts[name], params)


def outcome(case: PageCase, p: chooser.Params) -> tuple[float, int]:
    """(F1, extractors run) that `run_chooser` gives, from the precomputed parts (the grid search's shortcut)."""
    return _pool_outcome(case, p, case.f1_medoid, len(CHOOSER_POOL))


def score(cs: list[PageCase], params: chooser.Params) -> float:
    return mean(outcome(c, params)[0] for c in cs)


def grid() -> list[chooser.Params]:
    """Every threshold combination the cross-validation chooses among."""
    return [chooser.Params(*values) for values in product(*chooser.GRID.values())]


def outcomes_by_test(cs: list[PageCase], params: list[chooser.Params], live: np.ndarray
                     ) -> Iterator[tuple[tuple[Any, ...], np.ndarray, np.ndarray]]:
    """For each distinct (buying thresholds, confirmer threshold) among `params`: the key, the pages that buy
    opinions, and those where the CONFIRMER sides with trafilatura (kept, 3 extractors ran). The buying test
    runs once per distinct buying thresholds; `live`: pages where trafilatura found a text."""
    confirm = np.array([c.confirm for c in cs])
    buying: dict[tuple[Any, ...], np.ndarray] = {}
    for key in {(*p[:4], p.confirm_agreement) for p in params}:
        if key[:4] not in buying:
            probe = chooser.Params(*key[:4], 0.0, 0.0)
            buying[key[:4]] = live & np.array([chooser.needs_opinions(c.agreement, c.signals, probe) is not None
                                               for c in cs])
        buy = buying[key[:4]]
        yield key, buy, buy & (confirm >= key[4])


def threshold_cv(n: int, word: dict[Any, list[float]], shingles: dict[Any, list[tuple[float, float, float]]],
                 pick: Callable[[dict[Any, float]], Any]) -> dict[str, Any]:
    """Cross-validation of one threshold of a text step, from every candidate value's per-page word F1 and
    shingle counts over `n` pages: FOLDS folds (page i in fold i mod FOLDS, then SHUFFLES seeded shuffles),
    each fold's value `pick`ed from the other folds' shingle F1 (issue #17's held-out scoring). Returns the
    held-out word and shingle F1 (means over the orders), the values chosen per fold, and the choice on all
    pages."""
    import random

    held_word, held_shingle, chosen = [], [], []
    for seed in range(SHUFFLES + 1):             # seed 0: file order; then shuffled orders
        order = list(range(n))
        if seed:
            random.Random(seed).shuffle(order)
        fold_of = {i: k % FOLDS for k, i in enumerate(order)}
        picked = {k: pick({v: shingle_f1([counts[i] for i in order if fold_of[i] != k])["f1"]
                           for v, counts in shingles.items()}) for k in range(FOLDS)}
        chosen.append(tuple(picked[k] for k in range(FOLDS)))
        held_word.append(mean(word[picked[fold_of[i]]][i] for i in order))
        held_shingle.append(shingle_f1([shingles[picked[fold_of[i]]][i] for i in order])["f1"])
    return {"cv_word": mean(held_word), "cv_shingle": mean(held_shingle), "chosen": chosen,
            "all_pages": pick({v: shingle_f1(counts)["f1"] for v, counts in shingles.items()})}


def chosen_per_fold(r: dict[str, Any], label: Callable[[Any], str]) -> str:
    """`threshold_cv`'s choices in words: "per fold a, b, …; … On all pages: x."."""
    return (f"per fold {'; '.join(', '.join(label(v) for v in c) for c in r['chosen'])}. "
            f"On all pages: {label(r['all_pages'])}.")


def _means(cs: list[PageCase], params: list[chooser.Params], meds: list[dict[Margins, float]] | None = None,
           size: int = len(CHOOSER_POOL)) -> tuple[np.ndarray, np.ndarray]:
    """(mean F1, mean extractors run) over `cs` of every grid point, as `outcome` gives them (`meds`, `size`:
    another pool's medoid F1s and size). Vectorised: the buying test once per distinct buying thresholds,
    the medoid's F1 once per pair of margins (the grid has 16128 points)."""
    meds = meds or [c.f1_medoid for c in cs]
    live = np.array([bool(c.texts["trafilatura"]) for c in cs])
    kept = np.array([c.f1_kept for c in cs])
    base = np.where(live, 2, 1)
    pairs = sorted({(p.medoid_margin, p.shorter_margin) for p in params})
    med = np.array([[m[pair] for m in meds] for pair in pairs])
    f1s: dict[tuple[Any, ...], np.ndarray] = {}
    runs: dict[tuple[Any, ...], float] = {}
    for key, buy, stop in outcomes_by_test(cs, params, live):
        f1s[key] = np.where(buy & ~stop, med, kept).mean(axis=1)
        runs[key] = float(np.where(stop, 3, np.where(buy, size, base)).mean())
    at = {pair: j for j, pair in enumerate(pairs)}
    f = np.array([f1s[(*p[:4], p.confirm_agreement)][at[(p.medoid_margin, p.shorter_margin)]] for p in params])
    return f, np.array([runs[(*p[:4], p.confirm_agreement)] for p in params])


def _pick(f: np.ndarray, n: np.ndarray) -> int:
    """The index running the fewest extractors among those within F1_TOLERANCE of the best F1 (then the
    higher F1, then the first)."""
    ok = np.flatnonzero(f >= f.max() - F1_TOLERANCE)
    return int(min(ok, key=lambda i: (n[i], -f[i], i)))


def best(cs: list[PageCase], params: list[chooser.Params]) -> chooser.Params:
    """The grid point running the fewest extractors among those within F1_TOLERANCE of the best mean F1 on
    these pages (then the higher F1, then the first)."""
    return params[_pick(*_means(cs, params))]


def cross_validate(cs: list[PageCase], params: list[chooser.Params]) -> dict[str, Any]:
    """Mean held-out F1 of the chooser (run for real) with thresholds chosen on the other folds."""
    f1s, opinions, cpu, chosen, shingled = [], [], [], [], []
    by_page: dict[str, float] = {}
    shingle_by_page: dict[str, tuple[float, float, float]] = {}
    for k in range(FOLDS):
        train = [c for i, c in enumerate(cs) if i % FOLDS != k]
        test = [c for i, c in enumerate(cs) if i % FOLDS == k]
        p = best(train, params)
        chosen.append(p)
        for c in test:
            choice = run_chooser(c, p)
            f1s.append(token_f1(choice.text, c.truth))
            shingled.append(shingle_counts(choice.text, c.truth))
            by_page[c.page_id] = f1s[-1]
            shingle_by_page[c.page_id] = shingled[-1]
            assert abs(f1s[-1] - outcome(c, p)[0]) < 1e-9, (c.page_id, choice)   # the shortcut is the chooser
            opinions.append(len(choice.ran) - 1)
            cpu.append(c.cpu["signals"] + sum(c.cpu[name] for name in choice.ran))
    return {"f1": mean(f1s), "shingle": shingle_f1(shingled)["f1"], "by_page": by_page,
            "shingle_by_page": shingle_by_page, "chosen": chosen,
            "extra_any": mean(n > 0 for n in opinions),
            "extra_all": mean(n > 1 for n in opinions), "extra_rest": mean(n > 2 for n in opinions),
            "opinions": mean(opinions), "cpu": sum(cpu)}


def shuffled_cv(cs: list[PageCase], params: list[chooser.Params], shuffles: int = SHUFFLES) -> dict[str, Any]:
    """`cross_validate` over `shuffles` seeded shuffles of the pages: the mean and spread of the held-out F1,
    the mean share of pages buying and extractors run, and the CPU (a less noisy estimate than one order)."""
    import random

    runs = []
    for seed in range(shuffles):
        order = list(range(len(cs)))
        random.Random(seed).shuffle(order)
        runs.append(cross_validate([cs[i] for i in order], params))
    f1s = [r["f1"] for r in runs]
    by_page = {c.page_id: mean(r["by_page"][c.page_id] for r in runs) for c in cs}
    shingle_by_page = {c.page_id: tuple(float(np.mean([r["shingle_by_page"][c.page_id][k] for r in runs]))
                                        for k in range(3)) for c in cs}
    return {"f1": mean(f1s), "f1s": f1s, "sd": float(np.std(f1s, ddof=1)) if len(f1s) > 1 else 0.0,
            "shingle": mean(r["shingle"] for r in runs),
            "by_page": by_page, "shingle_by_page": shingle_by_page,
            "extra_all": mean(r["extra_all"] for r in runs), "extra_rest": mean(r["extra_rest"] for r in runs),
            "opinions": mean(r["opinions"] for r in runs), "cpu": mean(r["cpu"] for r in runs)}


BOOTSTRAP = 2000   # resamples of the pages for the gain's interval
MOVED = 0.05       # a page counts as moved by the chooser when its F1 changes by more than this


def gain_over_raw(cs: list[PageCase], by_page: dict[str, float]) -> dict[str, Any]:
    """How sure the chooser's gain over raw trafilatura.extract is, from its held-out F1 per page: the mean gain,
    a 95% paired bootstrap interval over pages (seeded), the pages it moves up and down by more than MOVED,
    and the mean gain without the single page that gains most (is the figure one page?)."""
    gains = np.array([by_page[c.page_id] - c.f1("trafilatura.extract") for c in cs])
    rng = np.random.default_rng(0)
    boots = gains[rng.integers(0, len(gains), size=(BOOTSTRAP, len(gains)))].mean(axis=1)
    return {"mean": float(gains.mean()), "low": float(np.quantile(boots, 0.025)),
            "high": float(np.quantile(boots, 0.975)), "up": int((gains > MOVED).sum()),
            "down": int((gains < -MOVED).sum()), "without_top": float(np.sort(gains)[:-1].mean())}


def _shingle_arrays(counts: list[tuple[float, float, float]]) -> tuple[np.ndarray, ...]:
    """Per page: precision, whether it counts (a prediction), recall, whether it counts (a truth), as
    `bench.extraction.shingle_f1` averages them."""
    tp, fp, fn = (np.array(v) for v in zip(*counts, strict=True))
    precision, recall = (np.array(v) for v in zip(*(page_precision_recall(*c) for c in counts), strict=True))
    return precision, tp + fp > 0, recall, tp + fn > 0


def _shingle_f1s(arrays: tuple[np.ndarray, ...], rows: np.ndarray) -> np.ndarray:
    """`shingle_f1` of every resample of pages (`rows`: resamples × pages, indices)."""
    precision, has_pred, recall, has_truth = arrays
    p = (precision * has_pred)[rows].sum(axis=1) / np.maximum(has_pred[rows].sum(axis=1), 1)
    r = (recall * has_truth)[rows].sum(axis=1) / np.maximum(has_truth[rows].sum(axis=1), 1)
    return np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)


def shingle_gain_over_raw(cs: list[PageCase], by_page: dict[str, tuple[float, float, float]],
                          raw: dict[str, tuple[float, float, float]]) -> dict[str, float]:
    """The chooser's gain over raw `trafilatura.extract` on issue #17's scoring (shingle F1 is a ratio of
    means, not a mean of pages), with a 95% paired bootstrap interval over pages (seeded, as gain_over_raw)."""
    ours = _shingle_arrays([by_page[c.page_id] for c in cs])
    theirs = _shingle_arrays([raw[c.page_id] for c in cs])
    everything = np.arange(len(cs))[None, :]
    rows = np.random.default_rng(0).integers(0, len(cs), size=(BOOTSTRAP, len(cs)))
    gains = _shingle_f1s(ours, rows) - _shingle_f1s(theirs, rows)
    return {"mean": float((_shingle_f1s(ours, everything) - _shingle_f1s(theirs, everything))[0]),
            "low": float(np.quantile(gains, 0.025)), "high": float(np.quantile(gains, 0.975))}


def medoid_f1(cs: list[PageCase], pool: tuple[str, ...]) -> float:
    """F1 of the plain medoid (no margin) of `pool` on every page."""
    return mean(token_f1(chooser.medoid([c.texts[n] for n in pool]), c.truth) for c in cs)


def raw_shingle(pages: list[LabelledPage], cands: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Issue #17's held-out scoring (`bench.extraction.shingle_f1`) of raw `trafilatura.extract` and of our
    trafilatura path (`cands`: the cache's rows), each text as it came (not cleaned: what a user of
    trafilatura alone gets)."""
    return {name: shingle_f1(list(raw_shingle_counts(pages, cands, name).values()))["f1"]
            for name in ("trafilatura.extract", "trafilatura")}


def raw_shingle_counts(pages: list[LabelledPage], cands: dict[str, dict[str, Any]],
                       name: str = "trafilatura.extract") -> dict[str, tuple[float, float, float]]:
    """Per page, `shingle_counts` of one cached extractor's text as it came."""
    return {p.file_id: shingle_counts(cands[p.file_id]["texts"][name], p.main_content) for p in pages}


def evaluate(pages: list[LabelledPage]) -> dict[str, Any]:
    cands = candidates(pages)
    cs = cases(pages, cands)
    raw_cpu = sum(c.cpu["trafilatura.extract"] for c in cs)
    alone = {name: mean(c.f1(name) for c in cs) for name in ("trafilatura.extract", "trafilatura", *OTHERS)}
    cpu = {name: sum(c.cpu[name] for c in cs) / raw_cpu for name in ("trafilatura", "signals", *OTHERS)}
    pools = {"the issue's four": FOUR, "the chooser's five": CHOOSER_POOL, "all seven": ("trafilatura", *OTHERS)}
    params = grid()
    cv = cross_validate(cs, params)
    shuffled = shuffled_cv(cs, params)
    full = best(cs, params)
    return {"pages": len(cs), "alone": alone, "cpu_ratio": cpu, "raw_ms": 1000 * raw_cpu / len(cs),
            "medoids": {k: (medoid_f1(cs, pool), sum(cpu[n] for n in pool)) for k, pool in pools.items()},
            "cv": cv, "cv_cpu_ratio": cv["cpu"] / raw_cpu, "shuffled": shuffled,
            "shuffled_cpu_ratio": shuffled["cpu"] / raw_cpu, "gain": gain_over_raw(cs, shuffled["by_page"]),
            "shingle_gain": shingle_gain_over_raw(cs, shuffled["shingle_by_page"], raw_shingle_counts(pages, cands)),
            "full": full, "full_f1": score(cs, full), "raw_shingle": raw_shingle(pages, cands),
            "constants_f1": score(cs, chooser.DEFAULT), "constants_match": full == chooser.DEFAULT,
            "oracle": mean(max(c.f1(n) for n in CHOOSER_POOL) for c in cs), "cases": cs}


def report(result: dict[str, Any]) -> list[str]:
    """Markdown lines: the table bench/run.py puts in bench/report.md."""
    alone, cpu, cv = result["alone"], result["cpu_ratio"], result["cv"]
    lines = [f"Word F1 on the {result['pages']} WCXB dev pages (CC-BY-4.0); CPU per page relative to "
             f"`trafilatura.extract` ({result['raw_ms']:.1f} ms a page, same process).", "",
             "| candidate | word F1 | CPU / trafilatura.extract |", "|---|---|---|",
             f"| raw `trafilatura.extract` | {alone['trafilatura.extract']:.4f} | 1.00 |",
             f"| trafilatura as our path runs it (parse, metadata, `bare_extraction`; today's text) | {alone['trafilatura']:.4f} | {cpu['trafilatura']:.2f} |"]
    lines += [f"| {name} alone | {alone[name]:.4f} | {cpu[name]:.2f} |" for name in OTHERS]
    lines += [f"| medoid of {k}, every page | {f1:.4f} | {c:.2f} |" for k, (f1, c) in result["medoids"].items()]
    sh, g, sg = result["shuffled"], result["gain"], result["shingle_gain"]
    lines += [f"| **chooser, {FOLDS}-fold CV, mean of {len(sh['f1s'])} shuffled page orders (sd {sh['sd']:.4f})** | "
              f"**{sh['f1']:.4f}** | {result['shuffled_cpu_ratio']:.2f} |",
              f"| chooser, {FOLDS}-fold CV, pages in file order (page i in fold i mod {FOLDS}) | {cv['f1']:.4f} | "
              f"{result['cv_cpu_ratio']:.2f} |",
              f"| best of the chooser's five per page (oracle, not reachable) | {result['oracle']:.4f} | |",
              "", f"Shuffled orders' CV F1: {' '.join(f'{f:.4f}' for f in sh['f1s'])}; more opinions bought on "
              f"{sh['extra_all']:.1%} of pages, {chooser.CONFIRMER}'s verdict overruled on {sh['extra_rest']:.1%}.",
              "", f"Gain over raw `trafilatura.extract`, page by page (each page's held-out F1 averaged over the "
              f"shuffled orders): {g['mean']:+.4f}, 95% paired bootstrap interval over pages {g['low']:+.4f} to "
              f"{g['high']:+.4f}; {g['up']} pages up and {g['down']} down by more than {MOVED}; without the one "
              f"page that gains most, {g['without_top']:+.4f}.",
              "", "Scored as issue #17 scores its held-out pages (the article-extraction-benchmark's word 4-gram "
              "shingles, case kept, precision and recall averaged over pages; `bench.extraction.shingle_f1`): "
              f"the chooser's CV {sh['shingle']:.4f} (mean of the shuffled orders) against "
              f"{result['raw_shingle']['trafilatura.extract']:.4f} for raw `trafilatura.extract` as it comes "
              f"({sh['shingle'] - result['raw_shingle']['trafilatura.extract']:+.4f}) and "
              f"{result['raw_shingle']['trafilatura']:.4f} for our trafilatura path uncleaned. The gain with each "
              f"page's counts averaged over the shuffled orders: {sg['mean']:+.4f}, 95% paired bootstrap interval "
              f"over pages {sg['low']:+.4f} to {sg['high']:+.4f} (the held-out target, 0.975 against the issue's "
              "0.960 for raw `trafilatura.extract` there, asks for about +0.015).",
              "", f"Chooser (held-out folds, file order): {chooser.FIRST_OPINION} on every page, more opinions bought on "
              f"{cv['extra_all']:.1%} of pages, {chooser.CONFIRMER} first, the rest on {cv['extra_rest']:.1%} "
              f"({cv['opinions']:.2f} extractors beyond trafilatura a page on average). Its CPU is our trafilatura path + its signals ({cpu['signals']:.2f}) + the opinions bought. "
              f"Thresholds chosen per fold "
              f"(agreement, coverage, link share, paragraphs, margin, margin when shorter, {chooser.CONFIRMER} "
              f"agreement that keeps trafilatura): "
              f"{'; '.join(str(tuple(p)) for p in cv['chosen'])}. On all pages: {tuple(result['full'])} "
              f"(in-sample F1 {result['full_f1']:.4f}); the module's constants "
              f"{'match it' if result['constants_match'] else 'DO NOT match it'} (F1 {result['constants_f1']:.4f})."]
    return lines




# Issue #17, session 13: cheaper opinion sets. Each set is what the chooser buys after resiliparse (in the
# order of chooser.OPINION_ORDER); for each, the thresholds are cross-validated as above and the held-out F1
# and CPU reported. POOL_F1_NOISE: a cheaper set is as good when its CV F1 is at most this below today's
# (two dev pages in 710 moving by 0.35 F1 each; the folds' own F1 spread is larger, see pool_study's output).
OPINION_SETS: dict[str, tuple[str, ...]] = {
    "readability, boilerpy3, justext (today)": ("readability", "boilerpy3", "justext"),
    "boilerpy3, justext (no readability)": ("boilerpy3", "justext"),
    "readability, justext (no boilerpy3)": ("readability", "justext"),
    "readability, boilerpy3 (no justext)": ("readability", "boilerpy3"),
    "readability only": ("readability",),
    "justext only": ("justext",),
    "boilerpy3 only": ("boilerpy3",),
}
POOL_F1_NOISE = 0.001


def _pool_outcome(c: PageCase, p: chooser.Params, meds: dict[Margins, float], size: int) -> tuple[float, int]:
    """`outcome` with another pool's medoid F1s (`meds`) and size."""
    if not c.texts["trafilatura"]:
        return c.f1_kept, 1
    if chooser.needs_opinions(c.agreement, c.signals, p) is None:
        return c.f1_kept, 2
    if c.confirm >= p.confirm_agreement:       # only grids with the CONFIRMER in the pool set it below 1.01
        return c.f1_kept, 3
    return meds[(p.medoid_margin, p.shorter_margin)], size


def pool_cv(cs: list[PageCase], opinions: tuple[str, ...], params: list[chooser.Params]) -> dict[str, Any]:
    """The chooser buying `opinions` after resiliparse, its thresholds chosen on the other folds (as
    cross_validate): held-out F1 (mean, and per fold), pages buying, CPU seconds of the held-out runs."""
    pool = ("trafilatura", chooser.FIRST_OPINION, *opinions)
    meds = [medoid_f1s([c.texts[n] for n in pool], c.truth) for c in cs]
    f1s, bought, cpu, per_fold, chosen = [], [], [], [], []
    for k in range(FOLDS):
        train = [i for i in range(len(cs)) if i % FOLDS != k]
        test = [i for i in range(len(cs)) if i % FOLDS == k]
        j = _pick(*_means([cs[i] for i in train], params, [meds[i] for i in train], len(pool)))
        chosen.append(params[j])
        fold = [_pool_outcome(cs[i], params[j], meds[i], len(pool)) for i in test]
        per_fold.append(mean(f for f, _ in fold))
        f1s += [f for f, _ in fold]
        bought += [n == len(pool) for _, n in fold]
        cpu += [cs[i].cpu["signals"] + sum(cs[i].cpu[name] for name in pool[:n]) for i, (_, n) in zip(test, fold, strict=True)]
    return {"f1": mean(f1s), "folds": per_fold, "bought": mean(bought), "cpu": sum(cpu), "chosen": chosen}


def pool_study(cs: list[PageCase]) -> dict[str, dict[str, Any]]:
    """Every OPINION_SETS entry through pool_cv, its CPU relative to trafilatura.extract on the same pages."""
    raw = sum(c.cpu["trafilatura.extract"] for c in cs)
    params = [p for p in grid() if p.confirm_agreement > 1]   # session 13's study: no confirmer (not every pool has it)
    out = {}
    for name, opinions in OPINION_SETS.items():
        out[name] = pool_cv(cs, opinions, params)
        out[name]["cpu_ratio"] = out[name]["cpu"] / raw
        out[name]["ms"] = 1000 * out[name]["cpu"] / len(cs)
    return out


def cheapest_as_good(study: dict[str, dict[str, Any]], today: str) -> str:
    """The opinion set of least CV CPU whose CV F1 is at most POOL_F1_NOISE below today's set's."""
    floor = study[today]["f1"] - POOL_F1_NOISE
    return min((r["cpu"], name) for name, r in study.items() if r["f1"] >= floor)[1]


def pool_report(study: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| opinions bought after resiliparse | CV word F1 | per fold | pages buying | CPU / trafilatura.extract |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['f1']:.4f} | {' '.join(f'{f:.4f}' for f in r['folds'])} | {r['bought']:.1%} | "
              f"{r['cpu_ratio']:.2f} |" for name, r in study.items()]
    today = next(iter(OPINION_SETS))
    return [*lines, "", f"Cheapest within {POOL_F1_NOISE} CV F1 of today's: {cheapest_as_good(study, today)}."]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["pools"]:
        print("\n".join(pool_report(pool_study(cases(extraction_dev())))))
    else:
        print("\n".join(report(evaluate(extraction_dev()))))
