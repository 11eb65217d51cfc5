"""Does a change to the extraction path change any output? Every field of every dev page's article, compared.

`python -m bench.extraction_identity save FILE` records a digest of each WCXB dev page's `ExtractedArticle`
(chooser on and off; the raw page compared decompressed, fetched_at fixed) or of its error; `... check FILE`
extracts again and lists the pages and fields that differ (exit 1 when any does). Run `save` on the code
before a change and `check` after it (issue #17: cuts in CPU per page must not move an output).
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

from balkanwatch.models import ExtractedArticle
from bench.data import LabelledPage, extraction_dev
from connectors.charset import detect_encoding
from connectors.extract import PageJob, safe_extract

FETCHED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def _digest(value: object) -> str:
    return hashlib.sha1(repr(value).encode()).hexdigest()[:16]


def article_fields(out: ExtractedArticle | str) -> dict[str, str]:
    """A digest of every field of the article (the raw page decompressed), or of the error message."""
    if isinstance(out, str):
        return {"error": _digest(out)}
    values = {f.name: getattr(out, f.name) for f in fields(out)}
    values["raw_html"] = zlib.decompress(out.raw_html)
    return {name: _digest(v) for name, v in values.items()}


def page_outputs(page: LabelledPage) -> dict[str, dict[str, str]]:
    job = PageJob(source="bench", url=page.url, final_url=page.url, body=page.html,
                  encoding=detect_encoding(page.html, None), fetched_at=FETCHED_AT)
    return {"on": article_fields(safe_extract(job)), "off": article_fields(safe_extract(replace(job, agreement=False)))}


def outputs(pages: list[LabelledPage]) -> dict[str, dict[str, dict[str, str]]]:
    return {p.file_id: page_outputs(p) for p in pages}


def differences(old: dict[str, dict[str, dict[str, str]]], new: dict[str, dict[str, dict[str, str]]]) -> list[str]:
    """'page mode field' for every field that differs (a page or mode missing on one side counts)."""
    out = []
    for page in sorted(old.keys() | new.keys()):
        for mode in ("on", "off"):
            a, b = old.get(page, {}).get(mode, {}), new.get(page, {}).get(mode, {})
            out += [f"{page} {mode} {name}" for name in sorted(a.keys() | b.keys()) if a.get(name) != b.get(name)]
    return out


if __name__ == "__main__":
    command, path = sys.argv[1], Path(sys.argv[2])
    got = outputs(extraction_dev())
    if command == "save":
        path.write_text(json.dumps(got, indent=0, sort_keys=True), encoding="utf-8")
        print(f"{len(got)} pages saved to {path}")
    else:
        diff = differences(json.loads(path.read_text(encoding="utf-8")), got)
        print("\n".join(diff) or f"{len(got)} pages: every field identical (chooser on and off)")
        sys.exit(1 if diff else 0)
