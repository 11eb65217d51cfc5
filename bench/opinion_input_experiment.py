"""Do the second opinions cost less on a slimmer page? (#17, session 17; an experiment, not used.)

`python -m bench.opinion_input_experiment [PAGES]`: each of readability, boilerpy3 and jusText on the first
PAGES WCXB dev pages (200 by default) as served, then with `<script>`, `<style>`, `<svg>` and comments
removed first; CPU per page of each and how many pages give identical text. Measured twice: 61 % of the
bytes go, the time moves by at most 10 % (docs/design.md, "Extraction CPU").
"""

from __future__ import annotations

import re
import sys
import time

from bench.data import extraction_dev
from connectors.extractors import opinion, warm

SLIM = re.compile(r"<script\b[^>]*>.*?</script\s*>|<style\b[^>]*>.*?</style\s*>|<!--.*?-->|<svg\b[^>]*>.*?</svg\s*>",
                  re.S | re.I)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    warm()
    pages = [(p.html.decode("utf-8", "replace"), p.url) for p in extraction_dev()[:n]]
    t0 = time.process_time()
    slim = [(SLIM.sub("", html), url) for html, url in pages]
    cut_ms = (time.process_time() - t0) / n * 1000
    share = sum(len(h) for h, _ in slim) / sum(len(h) for h, _ in pages)
    print(f"{n} pages: removing them costs {cut_ms:.1f} ms a page and leaves {share:.0%} of the bytes")
    for name in ("readability", "boilerpy3", "justext"):
        texts, ms = [], []
        for variant in (pages, slim):
            t0 = time.process_time()
            texts.append([opinion(name, html, url) for html, url in variant])
            ms.append((time.process_time() - t0) / n * 1000)
        same = sum(a == b for a, b in zip(*texts, strict=True))
        print(f"{name}: {ms[0]:.1f} → {ms[1]:.1f} ms a page, identical text on {same} of {n}")


if __name__ == "__main__":
    main()
