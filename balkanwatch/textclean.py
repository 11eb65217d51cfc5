"""Pure text helpers shared by extraction and (later) dedupe: paragraph splitting, repeats, hashing."""

from __future__ import annotations

import hashlib
import re
import unicodedata

CONTENT_HASH_VERSION = "v1"   # bump when normalise_for_hash changes; stored with every hash
_WS = re.compile(r"\s+")


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs of extracted text, whitespace collapsed."""
    return [p for p in (_WS.sub(" ", line).strip() for line in text.split("\n")) if p]


def paragraph_key(paragraph: str) -> str:
    """Comparison key of a paragraph: NFKC, case-folded, whitespace and quote styles unified."""
    p = unicodedata.normalize("NFKC", paragraph).casefold()
    p = p.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WS.sub(" ", p).strip()


def drop_repeated_paragraphs(paras: list[str]) -> tuple[list[str], list[str]]:
    """(kept, repeats): each paragraph kept at its first occurrence; later exact repeats returned apart."""
    seen: set[str] = set()
    kept, repeats = [], []
    for p in paras:
        key = paragraph_key(p)
        if key in seen:
            repeats.append(p)
        else:
            seen.add(key)
            kept.append(p)
    return kept, repeats


def content_hash(text: str) -> str:
    """Versioned hash of the normalised text: equal for texts that differ only in spacing or case."""
    key = paragraph_key(text)
    return f"{CONTENT_HASH_VERSION}:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
