"""Boilerplate learned across many sources, on real pages with ground truth (issue #3's rules, issue #17's text).

The WCXB dev pages come from ~700 sites, each page its site's only one or nearly: a warehouse fed by that
many sources. Each page is extracted as ingest extracts it (`safe_extract`: its text and paragraph
signatures, link lines marked from the page's links), its host taken as its source, and the cleaning step's
pure rules applied as `flows.boilerplate` applies them (each source's own boilerplate from its articles, exact
paragraphs learned anywhere, labels chrome everywhere). Word F1 against the truth before and after cleaning,
with the shipped rule for labels everywhere (link lines on ≥ LABEL_MIN_SOURCES sources) and with the rule
before session 24 (any labelled line on that many sources), which is what the shipped one is checked against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from balkanwatch import boilerplate as bp
from balkanwatch.textclean import paragraphs, token_f1
from bench.data import LabelledPage
from connectors.charset import detect_encoding
from connectors.extract import PageJob, safe_extract


def _spread(rows: Iterable[tuple[str, str, bp.Signature]], kinds: set[str]) -> list[tuple[str, str, int, int]]:
    """(key, example, sources, articles) of the label signatures of these kinds, as `label_spread` reads them."""
    sources: dict[str, set[str]] = defaultdict(set)
    articles: dict[str, set[str]] = defaultdict(set)
    example: dict[str, str] = {}
    for source, article, sig in rows:
        if sig.kind in kinds:
            sources[sig.key].add(source)
            articles[sig.key].add(article)
            example.setdefault(sig.key, sig.example)
    return [(key, example[key], len(sources[key]), len(articles[key])) for key in sources]


def measure(pages: list[LabelledPage]) -> dict[str, float]:
    texts: dict[str, str] = {}
    source: dict[str, str] = {}
    sigs: dict[str, list[bp.Signature]] = {}
    for page in pages:
        art = safe_extract(PageJob(source="bench", url=page.url, final_url=page.url, body=page.html,
                                   encoding=detect_encoding(page.html, None), fetched_at=datetime.now(UTC)))
        texts[page.file_id] = "" if isinstance(art, str) else art.text
        sigs[page.file_id] = [] if isinstance(art, str) else [bp.Signature(*s) for s in art.signatures]
        source[page.file_id] = urlsplit(page.url).hostname or "?"
    per_source: dict[str, list[list[bp.Signature]]] = defaultdict(list)
    for page in pages:
        per_source[source[page.file_id]].append(sigs[page.file_id])
    own = {s: {b.key for b in bp.learn(arts[:bp.LEARN_WINDOW])} for s, arts in per_source.items()}
    rows = [(source[p.file_id], p.file_id, sig) for p in pages for sig in sigs[p.file_id]]
    rules = {"shipped": {"link"}, "before": {"label", "link"}}
    out: dict[str, float] = {"pages": len(pages), "sources": len(per_source)}
    truth = {p.file_id: p.main_content for p in pages}
    out["f1_before_cleaning"] = sum(token_f1(texts[k], truth[k]) for k in texts) / len(texts)
    for name, kinds in rules.items():
        learned = {**own, bp.EVERYWHERE: {b.key for b in bp.learn_everywhere(_spread(rows, kinds))}}
        f1, removed, changed = 0.0, 0, 0
        for k, text in texts.items():
            kept, gone = bp.strip(paragraphs(text), bp.keys_for(source[k], learned))
            f1 += token_f1("\n".join(kept), truth[k])
            removed += len(gone)
            changed += bool(gone)
        out[f"f1_{name}"] = f1 / len(texts)
        out[f"labels_{name}"] = len(learned[bp.EVERYWHERE])
        out[f"removed_{name}"] = removed
        out[f"changed_{name}"] = changed
    return out


def render(r: dict[str, float]) -> list[str]:
    return [
        "## Boilerplate across many sources (issues #3, #17)", "",
        f"{r['pages']:.0f} WCXB dev pages from {r['sources']:.0f} sites, each site a source (`bench/boilerplate_sources.py`): "
        "each page extracted as ingest does, then the cleaning step's rules (own boilerplate, exact paragraphs "
        "learned anywhere, labels chrome everywhere). Word F1 against the truth.", "",
        "| labels chrome everywhere | labels learned | lines removed | pages changed | word F1 after cleaning |",
        "|---|---|---|---|---|",
        f"| no cleaning | | | | {r['f1_before_cleaning']:.5f} |",
        f"| link lines on ≥ 3 sources (shipped since session 24) | {r['labels_shipped']:.0f} | "
        f"{r['removed_shipped']:.0f} | {r['changed_shipped']:.0f} | {r['f1_shipped']:.5f} |",
        f"| any labelled line on ≥ 3 sources (before) | {r['labels_before']:.0f} | {r['removed_before']:.0f} | "
        f"{r['changed_before']:.0f} | {r['f1_before']:.5f} |", "",
        "Labels such as \"Q:\", \"Location:\", \"Price:\" and \"Conclusion:\" recur on many sites as content; "
        "\"Read more:\", \"Also read:\" and \"Related:\" lines whose rest is a link are the sites' chrome.", ""]


def checks(r: dict[str, float]) -> list[tuple[str, bool]]:
    return [(f"cleaning across {r['sources']:.0f} sources keeps the dev pages' word F1 (after ≥ before): "
             f"{r['f1_shipped']:.5f} vs {r['f1_before_cleaning']:.5f}", r["f1_shipped"] >= r["f1_before_cleaning"])]
