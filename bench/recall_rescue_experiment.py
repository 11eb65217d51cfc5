"""Session 23, #17: trafilatura's recall mode as a rescue for texts much shorter than the first opinion's.

    .venv/bin/python -m bench.recall_rescue_experiment

Since session 23 a page whose default-mode text is under MIN_TEXT_CHARS is asked again in recall mode
(`connectors.extract.RECALL_RETRY`). The question here: should the same happen when trafilatura's text is
merely much shorter than resiliparse's (the chooser's first opinion, run on every page anyway), i.e. when
trafilatura kept a fragment? Rule with one constant R: when trafilatura's words < R x resiliparse's and its
recall-mode text is longer, the recall text replaces trafilatura's before the chooser runs. R is chosen
jointly with the chooser's thresholds inside the same 5-fold CV (six shuffled page orders,
bench.extraction_chooser), "never" included; from the chooser's cache plus the recall texts (computed here).
"""

from __future__ import annotations

import random
import sys
from statistics import mean

import numpy as np

from balkanwatch import chooser
from bench import extraction_chooser as ec
from bench.data import extraction_dev
from bench.fast_primary_experiment import recall_text

RATIOS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75)   # 0.0: never


def main() -> None:
    pages = extraction_dev()
    rows = ec.candidates(pages)
    cs = [ec._case(page, rows[page.file_id]) for page in pages]
    recall = [recall_text(ec._decode(p), p.url) for p in pages]   # as our path gives it, cleaned by _case
    variants: dict[float, list[ec.PageCase]] = {}
    for r in RATIOS:
        out = []
        for c, p, rt in zip(cs, pages, recall, strict=True):
            n, first = len(chooser.words(c.texts["trafilatura"])), len(chooser.words(c.texts[chooser.FIRST_OPINION]))
            hit = r > 0 and n > 0 and n < r * first and len(chooser.words(ec.cleaned(rt))) > n
            row = rows[p.file_id]
            out.append(ec._case(p, {**row, "texts": {**row["texts"], "trafilatura": rt}}) if hit else c)
        variants[r] = out
        changed = sum(a is not b for a, b in zip(out, cs, strict=True))
        print(f"R={r}: {changed} pages take recall's text; chooser at shipped constants "
              f"{mean(ec.outcome(c, chooser.DEFAULT)[0] for c in out):.4f}", flush=True)
    params = ec.grid()
    results = []
    for seed in range(ec.SHUFFLES):
        order = list(range(len(cs)))
        random.Random(seed).shuffle(order)
        f1s, picked = [], []
        for k in range(ec.FOLDS):
            train = [order[i] for i in range(len(order)) if i % ec.FOLDS != k]
            test = [order[i] for i in range(len(order)) if i % ec.FOLDS == k]
            best = None
            for r in RATIOS:   # ties go to the smaller R (never first)
                f, n = ec._means([variants[r][i] for i in train], params)
                j = ec._pick(f, n)
                if best is None or f[j] > best[0] + 1e-12:
                    best = (f[j], r, params[j])
            assert best is not None
            _, r, p = best
            picked.append(r)
            f1s += [ec.outcome(variants[r][i], p)[0] for i in test]
        results.append(mean(f1s))
        print(f"shuffle {seed}: CV {mean(f1s):.4f}, R chosen {picked}", flush=True)
    base = ec.shuffled_cv(cs, params)
    print(f"recall rescue: CV mean {mean(results):.4f} (sd {float(np.std(results, ddof=1)):.4f}); "
          f"without: {base['f1']:.4f} (sd {base['sd']:.4f})")


if __name__ == "__main__":
    sys.exit(main())
