"""Dedupe evaluation: a labelled set of originals, syndicated variants and hard negatives, served as web
pages and ingested through the real pipeline; stories compared with the labels.

Originals: the ground-truth texts of WCXB dev (many share a topic: nutrition trends, cloud computing…) and
the seeds. Variants per original (seeded RNG, so the set is the same every run):
  copies (same label): truncated to 40–90%, re-headlined with a dateline and trimmed ending, lightly edited
  (~5% of words changed), paragraphs reordered, padded with ~30% local paragraphs, Serbian-Cyrillic
  transliteration;
  hard negatives: the next original quoting two of its paragraphs (labelled as the next original's copy:
  it must not pull the two stories together), and one footer appended to many unrelated articles.
Since session 33, one site's articles as a paywalled site shows them (session 33's probe): TEMPLATES
articles, each its own story under its own headline, whose text is the same subscription notice, half of
them after a one-sentence lede of their own ("template"); and, as copies that must still join, the same
site re-posting an article under its headline with a few words added ("repost"). Since session 36, a
second site showing the same notice (a paywall vendor's default text), only it, on TEMPLATES pages of its
own under headlines of their own ("notice"): each its own story too.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from math import comb

from app.corpus import to_cyrillic
from balkanwatch.textclean import paragraphs

SEED = 20261122
MIN_PARAGRAPHS = 4   # originals shorter than this are dropped (a "copy" of a 2-paragraph text is ambiguous)
FOOTER = ["Subscribe to get the latest posts sent to your email.",
          "Follow us on Telegram for breaking news from the region. Share this story with your friends."]
PAYWALL = ["This article is for subscribers only. Subscribe now to read the full story and get unlimited access "
           "to our reporting from the region, with our daily newsletter, our archive and exclusive analysis from "
           "our correspondents in Pristina, Belgrade, Skopje and Sarajevo.",
           "Already a subscriber? Log in to continue reading. Questions about your subscription? Contact our "
           "customer service team, available every day from eight in the morning until eight in the evening."]
TEMPLATES = 12       # paywalled articles of one site (site 0), every fourth original's headline


@dataclass(frozen=True)
class Doc:
    doc_id: str
    label: str
    title: str
    paragraphs: tuple[str, ...]
    site: int | None = None     # which site serves it (None: by its position)


def _edit(p: str, rng: random.Random) -> str:
    ws = p.split()
    for i in range(len(ws)):
        if rng.random() < 0.05:
            ws[i] = rng.choice(["the", "reportedly", "officials", "said", "also", "new"])
    return " ".join(ws)


def build(texts: list[tuple[str, str]]) -> list[Doc]:
    """texts: (title, body) originals → labelled docs (originals, copies, hard negatives)."""
    rng = random.Random(SEED)
    originals = [(t, paragraphs(b)) for t, b in texts]
    originals = [(t, ps) for t, ps in originals if len(ps) >= MIN_PARAGRAPHS]
    docs: list[Doc] = []
    for i, (title, ps) in enumerate(originals):
        label = f"o{i}"
        docs.append(Doc(f"{label}-orig", label, title, tuple(ps), site=1 if i % 6 == 1 else None))
        n = len(ps)
        local = [p for _, other in rng.sample(originals, 2) for p in other[:1]]
        variants = {
            "trunc": ps[: max(2, int(n * rng.uniform(0.4, 0.9)))],
            "rehead": [f"PRISTINA (Wire) — {ps[0]}", *ps[1: max(2, n - 2)]],
            "edit": [_edit(p, rng) for p in ps],
            "reorder": rng.sample(ps, n),
            "pad": ps[: max(2, int(n * 0.7))] + [f"Local view: {p}" for p in local],
            "cyr": [to_cyrillic(p) for p in ps],
        }
        for name in rng.sample(sorted(variants), 3):
            new_title = title if name != "rehead" else f"Wire: {title[:60]}"
            docs.append(Doc(f"{label}-{name}", label, new_title, tuple(variants[name])))
        if i % 3 == 0 and i + 1 < len(originals):   # the next article, quoting two of this one's paragraphs
            nxt_title, nxt = originals[i + 1]
            mid = len(nxt) // 2
            docs.append(Doc(f"{label}-quoted-by-next", f"o{i + 1}", nxt_title, tuple(nxt[:mid] + ps[1:3] + nxt[mid:])))
        if i % 5 == 0:                              # this article with a footer that many others carry too
            docs.append(Doc(f"{label}-footer", label, title, tuple(ps + FOOTER)))
        if i % 4 == 0 and i // 4 < TEMPLATES:       # a paywalled article of site 0: its own story
            lede = [ps[0].split(". ")[0].rstrip(".") + "."] if (i // 4) % 2 else []
            docs.append(Doc(f"t{i}-template", f"t{i}", title, tuple(lede + PAYWALL), site=0))
            # another site, a headline of its own: the first words of another original's lede (the originals'
            # own titles are often generic, "Top … Trends in 2025", and two of them read as one headline)
            other_title = " ".join(originals[(i + 2) % len(originals)][1][0].split()[:8])
            docs.append(Doc(f"n{i}-notice", f"n{i}", other_title, tuple(PAYWALL), site=2))
        if i % 6 == 1:                              # site 1 posts this article again, a few words added
            docs.append(Doc(f"{label}-repost", label, f"{title} (updated)", tuple(ps), site=1))
    return docs


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    ari: float
    docs: int
    true_pairs: int
    predicted_pairs: int


def pair_scores(labels: dict[str, str], predicted: dict[str, str]) -> PairScores:
    """Pairwise precision/recall/F1 and the adjusted Rand index of predicted clusters against labels."""
    ids = sorted(labels)
    contingency = Counter((labels[i], predicted[i]) for i in ids)
    same_both = sum(comb(c, 2) for c in contingency.values())
    true_pairs = sum(comb(c, 2) for c in Counter(labels[i] for i in ids).values())
    pred_pairs = sum(comb(c, 2) for c in Counter(predicted[i] for i in ids).values())
    precision = same_both / pred_pairs if pred_pairs else 1.0
    recall = same_both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = comb(len(ids), 2)
    expected = true_pairs * pred_pairs / total if total else 0.0
    max_index = (true_pairs + pred_pairs) / 2
    ari = (same_both - expected) / (max_index - expected) if max_index != expected else 1.0
    return PairScores(precision, recall, f1, ari, len(ids), true_pairs, pred_pairs)


def mistakes(labels: dict[str, str], predicted: dict[str, str], limit: int = 10) -> list[str]:
    """A few wrongly merged and wrongly split pairs, for the report."""
    out = []
    for a, b in combinations(sorted(labels), 2):
        same_l, same_p = labels[a] == labels[b], predicted[a] == predicted[b]
        if same_l != same_p:
            out.append(f"{'merged' if same_p else 'split'}: {a} / {b}")
            if len(out) >= limit:
                break
    return out


def originals() -> list[tuple[str, str]]:
    """(title, text) of the WCXB dev ground truths and the seed articles."""
    from datetime import UTC, datetime

    from app.corpus import seed_articles
    from bench.data import extraction_dev

    texts = [(p.title or p.file_id, p.main_content) for p in extraction_dev()]
    seeds = [a for a in seed_articles(datetime.now(UTC)) if a.slug.startswith("seed-")]
    return texts + [(a.title, "\n".join(a.paragraphs)) for a in seeds]


def run() -> tuple[PairScores, list[str], dict[str, int]]:
    """Serve the labelled set as pages on three loopback sites, ingest it, score the stories."""
    import asyncio
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from app.corpus import SITES, Article, page_html, rss
    from balkanwatch.config import load_config
    from bench.throughput import ServedSites
    from flows.ingest import run_ingest
    from warehouse import Warehouse

    docs = build(originals())
    sites = [s for s in SITES if s.encoding == "utf-8"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(tmp) / s.slug for s in sites]
        for r in roots:
            (r / "news").mkdir(parents=True)
        served = ServedSites(roots)
        try:
            by_site: dict[int, list[tuple[Article, str]]] = {i: [] for i in range(len(sites))}
            for n, doc in enumerate(docs):
                k = n % len(sites) if doc.site is None else doc.site
                offset = timedelta(minutes=n) + (timedelta(hours=2) if not doc.doc_id.endswith("-orig") else timedelta(0))
                art = Article(sites[k].slug, doc.doc_id, doc.title, "Staff", start + offset, list(doc.paragraphs), doc.label)
                url = f"{served.bases[k]}/news/{doc.doc_id}.html"
                (roots[k] / "news" / f"{doc.doc_id}.html").write_text(page_html(sites[k], art, url, []), encoding="utf-8")
                by_site[k].append((art, url))
            for k, site in enumerate(sites):
                (roots[k] / "feed.xml").write_text(rss(site, served.bases[k], by_site[k]), encoding="utf-8")
            config = load_config(served.config(Path(tmp), "dedupe"))
            asyncio.run(run_ingest(config))
            with Warehouse.open(config.warehouse_path, read_only=True) as wh:
                rows = wh.rows("SELECT url, story_id FROM articles")
        finally:
            served.close()
    predicted = {r["url"].rsplit("/", 1)[1].removesuffix(".html"): r["story_id"] for r in rows}
    labels = {d.doc_id: d.label for d in docs if d.doc_id in predicted}
    kinds = Counter(d.doc_id.split("-", 1)[1] for d in docs)
    kinds["not ingested"] = len(docs) - len(labels)
    return pair_scores(labels, predicted), mistakes(labels, predicted), dict(kinds)
