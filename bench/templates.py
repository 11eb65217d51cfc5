"""Per-source template learning (issue #17) on a synthetic multi-site corpus: word F1 with and without.

    bench/template_corpus.py: SITES sites × PAGES pages (WCXB dev bodies in generated templates)
      | our extraction (safe_extract, as ingest runs it) and raw trafilatura.extract on every page
      | per site: learn the template from its first LEARN_PAGES pages (what earlier runs stored)
      | apply it to the site's other pages (the next runs' pages) | word F1 against the known body

The thresholds of balkanwatch/templates.py are chosen by folds over sites: for each fold, the grid value
that scores best on the other folds' sites is applied to the fold's sites, so no reported site helped
choose its thresholds. The shipped constants are also reported on all sites, apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import mean

from balkanwatch import templates
from balkanwatch.textclean import token_f1
from bench.data import LabelledPage
from bench.template_corpus import SyntheticPage, corpus
from connectors.extract import PageJob, parse_html, safe_extract

SITES = 12         # sites of the corpus: 4 folds of 3
PAGES = 40         # pages per site
LEARN_PAGES = 20   # the first pages of a site are what its template is learned from; the rest are scored
FOLDS = 4
GRID: dict[str, tuple[float, ...]] = {      # thresholds chosen by the folds, and the values tried
    "CONTENT_KEPT": (0.5, 0.65, 0.8),
    "COVER_MIN": (0.8, 0.9, 0.95),
    "FIT_MIN": (0.0, 0.1, 0.2, 0.4),   # 0.4 was the lowest value in session 12 and was chosen: the grid reaches below it
}                                    # LINK_CHROME is not in the grid: no value of 0.2–0.8 changes a page here

MAX_WORSE = 0.05   # floor: at most this share of the scored pages may score lower with their template
FEW_PAGES = 5      # also reported: templates learned from this few pages (a source's first template)
MIXED_PAGES = 240  # a source whose pages come from many sites: this many WCXB dev pages (≤ 3 a site) …
MIXED_DRAWS = 60   # … drawn this many times as one source's last LEARN_PAGES pages and its next MIXED_NEXT
MIXED_NEXT = 20
MIXED_COPIES = 5   # … also with each learned page served this many times under other URLs (the issue's ×5 feed)
MAX_MIXED_CHANGED = 0.01   # floor: such a template changes at most this share of the next pages …
MAX_MIXED_LOSS = 0.001     # … and costs them at most this much word F1 a page on average


@dataclass(frozen=True)
class ScoredPage:
    """One page with what each extraction made of it."""

    site: str
    truth: str
    blocks: list[templates.Block]
    ours: str
    raw: str


@contextmanager
def thresholds(values: dict[str, float]) -> Iterator[None]:
    """balkanwatch.templates' constants set to `values` for the block (the bench's grid; nothing else sets them)."""
    old = {k: getattr(templates, k) for k in values}
    for k, v in values.items():
        setattr(templates, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(templates, k, v)


def _scored(site: str, url: str, html: bytes, truth: str) -> ScoredPage:
    """One page through our extraction (safe_extract, as ingest runs it) and raw trafilatura.extract."""
    import trafilatura

    art = safe_extract(PageJob(source=site, url=url, final_url=url, body=html, encoding="utf-8",
                               fetched_at=datetime.now(UTC)))
    tree = parse_html(html.decode("utf-8", errors="replace"), url)
    return ScoredPage(site, truth, templates.page_blocks(tree), "" if isinstance(art, str) else art.text,
                      trafilatura.extract(html, url=url) or "")


def _extract(page: SyntheticPage) -> ScoredPage:
    return _scored(page.site, page.url, page.html, page.text)


def site_scores(site: Sequence[ScoredPage], learn_pages: int = LEARN_PAGES) -> dict[str, float]:
    """F1 of the scored pages of one site with the current thresholds, and how often the template acted.
    The template is learned from the last `learn_pages` pages before the scored ones."""
    learned = templates.learn([(p.blocks, p.ours) for p in site[LEARN_PAGES - learn_pages:LEARN_PAGES]])
    scored = site[LEARN_PAGES:]
    out = [templates.apply(learned, p.blocks, p.ours) if learned else p.ours for p in scored]
    return {"with": mean(token_f1(o, p.truth) for o, p in zip(out, scored, strict=True)),
            "without": mean(token_f1(p.ours, p.truth) for p in scored),
            "raw": mean(token_f1(p.raw, p.truth) for p in scored),
            "changed": sum(o != p.ours for o, p in zip(out, scored, strict=True)),
            "worse": sum(token_f1(o, p.truth) < token_f1(p.ours, p.truth) - 1e-9 for o, p in zip(out, scored, strict=True)),
            "pages": len(scored)}


def mixed_source(dev: list[LabelledPage]) -> dict[str, dict[str, float]]:
    """One source whose pages come from many sites (an aggregator's feed, a URL list, or one loopback site
    serving a benchmark's pages as in issue #17's held-out measurement): a template learned from its last
    pages must leave its next pages alone. Random draws of LEARN_PAGES learned pages and MIXED_NEXT next ones from
    the WCXB dev pages, and the same with every learned page MIXED_COPIES times (four fifths of the window
    copies of one page). Shipped constants."""
    import random

    pages = [p for p in (_scored("mixed", page.url, page.html, page.main_content) for page in dev[:MIXED_PAGES])
             if p.ours]
    rng = random.Random(22)
    out = {}
    for name, copies in (("distinct pages", 1), (f"each page ×{MIXED_COPIES}", MIXED_COPIES)):
        learned = changed = worse = scored = 0
        delta = 0.0
        for _ in range(MIXED_DRAWS):
            sample = rng.sample(pages, LEARN_PAGES // copies + MIXED_NEXT)
            learn_from = [p for p in sample[:LEARN_PAGES // copies] for _ in range(copies)]
            template = templates.learn([(p.blocks, p.ours) for p in learn_from])
            learned += template is not None
            for p in sample[LEARN_PAGES // copies:]:
                out_text = templates.apply(template, p.blocks, p.ours) if template else p.ours
                before, after = token_f1(p.ours, p.truth), token_f1(out_text, p.truth)
                scored, changed = scored + 1, changed + (out_text != p.ours)
                worse, delta = worse + (after < before - 1e-9), delta + after - before
        out[name] = {"draws": MIXED_DRAWS, "learned": learned, "pages": scored, "changed": changed, "worse": worse,
                     "delta": delta / scored}
    return out


def _grid() -> list[dict[str, float]]:
    return [dict(zip(GRID, combo, strict=True)) for combo in itertools.product(*GRID.values())]


def evaluate(dev: list[LabelledPage]) -> dict:
    """Fold-chosen thresholds per fold, held-out F1 with and without templates, raw trafilatura's."""
    sites = [[_extract(p) for p in site] for site in corpus(dev, SITES, PAGES)]
    grid = _grid()
    table: list[list[dict[str, float]]] = []           # [combo][site]
    for combo in grid:
        with thresholds(combo):
            table.append([site_scores(s) for s in sites])
    folds = [list(range(f, SITES, FOLDS)) for f in range(FOLDS)]
    held: list[dict[str, float]] = [{}] * SITES
    chosen = []
    for fold in folds:
        others = [i for i in range(SITES) if i not in fold]
        best = max(range(len(grid)), key=lambda c: (mean(table[c][i]["with"] for i in others), -c))
        chosen.append(grid[best])
        for i in fold:
            held[i] = table[best][i]
    shipped = [site_scores(s) for s in sites]
    few = [site_scores(s, FEW_PAGES) for s in sites]
    return {"sites": SITES, "pages": PAGES, "learn_pages": LEARN_PAGES, "folds": chosen, "mixed": mixed_source(dev),
            "held_out": _summary(held), "shipped": _summary(shipped), "few": _summary(few),
            "per_site": [{"site": s[0].site, **h} for s, h in zip(sites, held, strict=True)]}


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {"with": mean(r["with"] for r in rows), "without": mean(r["without"] for r in rows),
            "raw": mean(r["raw"] for r in rows), "changed": sum(r["changed"] for r in rows),
            "worse": sum(r["worse"] for r in rows), "pages": sum(r["pages"] for r in rows)}


def report(r: dict) -> list[str]:
    """The bench report's section lines."""
    h, s, f = r["held_out"], r["shipped"], r["few"]
    lines = [
        f"{r['sites']} synthetic sites × {r['pages']} pages (bench/template_corpus.py: WCXB dev bodies in generated "
        f"templates, half with opaque class names); each site's template learned from its first {r['learn_pages']} "
        f"pages and applied to the other {r['pages'] - r['learn_pages']}; word F1 against the known body, macro over "
        f"sites. Thresholds chosen by {len(r['folds'])} folds over sites (each fold's sites scored with the grid "
        "values best on the other folds).", "",
        "| | raw `trafilatura.extract` | ours, no template | ours + template | pages changed | pages worse |",
        "|---|---|---|---|---|---|",
        f"| held-out folds | {h['raw']:.4f} | {h['without']:.4f} | {h['with']:.4f} | {h['changed']}/{h['pages']} | {h['worse']} |",
        f"| shipped constants, all sites | {s['raw']:.4f} | {s['without']:.4f} | {s['with']:.4f} | {s['changed']}/{s['pages']} | {s['worse']} |",
        f"| shipped constants, learned from {FEW_PAGES} pages only | {f['raw']:.4f} | {f['without']:.4f} | {f['with']:.4f} | {f['changed']}/{f['pages']} | {f['worse']} |",
        "", "Thresholds chosen per fold: " + "; ".join(
            ", ".join(f"{k} {v}" for k, v in c.items()) for c in r["folds"]) + ".", "",
        "| site | raw | no template | template |", "|---|---|---|---|",
        *(f"| {p['site']} | {p['raw']:.4f} | {p['without']:.4f} | {p['with']:.4f} |" for p in r["per_site"]),
        "", f"One source whose pages come from many sites (an aggregator's feed, a URL list, or one loopback site "
        f"serving a benchmark's pages): {MIXED_DRAWS} random draws from the first {MIXED_PAGES} WCXB dev pages "
        f"of {LEARN_PAGES} learned pages and {MIXED_NEXT} next ones, shipped constants. Something is learned from such "
        "pages (generic locations); what matters is that it leaves the next pages alone.", "",
        "| learned pages | templates learned | next pages changed | worse | mean F1 change a page |",
        "|---|---|---|---|---|",
        *(f"| {name} | {m['learned']}/{m['draws']} | {m['changed']}/{m['pages']} | {m['worse']} | {m['delta']:+.5f} |"
          for name, m in r["mixed"].items()),
    ]
    return lines


def checks(r: dict) -> list[tuple[str, bool]]:
    """Floors: on held-out sites the template never lowers F1 on average, and lowers it on few pages."""
    h = r["held_out"]
    return [(f"template learning, held-out sites: F1 with templates ≥ without ({h['with']:.4f} vs {h['without']:.4f})",
             h["with"] >= h["without"]),
            (f"template learning, held-out sites: ≤ {MAX_WORSE:.0%} of pages worse with templates "
             f"({h['worse']}/{h['pages']})", h["worse"] <= MAX_WORSE * h["pages"]),
            *((f"template learning, one source of many sites ({name}): ≤ {MAX_MIXED_CHANGED:.0%} of next pages "
               f"changed ({m['changed']}/{m['pages']}), F1 not lower ({m['delta']:+.5f})",
               m["changed"] <= MAX_MIXED_CHANGED * m["pages"] and m["delta"] >= -MAX_MIXED_LOSS)
              for name, m in r["mixed"].items())]


if __name__ == "__main__":
    import json
    import sys

    from bench.data import extraction_dev

    result = evaluate(extraction_dev())
    print("\n".join(report(result)))
    json.dump(result, sys.stderr, indent=1)
