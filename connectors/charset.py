"""Pick the right text encoding for a page body: BOM, then declarations that actually decode, then detection.

Declarations lie in both directions on Balkan sites: windows-1251 bodies declared as UTF-8, UTF-8 bodies
declared as windows-1250. A declaration is only trusted if the body decodes under it, and valid multi-byte
UTF-8 beats a single-byte declaration (accidental valid UTF-8 is vanishingly rare).
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Candidates for undeclared bodies in our region, tried by the detector first.
REGIONAL = ["utf_8", "cp1250", "cp1251", "iso8859_2", "iso8859_5", "cp1252"]


def _canonical(name: str | bytes) -> str | None:
    try:
        return codecs.lookup(name.decode("ascii", "ignore") if isinstance(name, bytes) else name).name
    except LookupError:
        return None


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _is_multibyte_utf8(body: bytes) -> bool:
    return not body.isascii() and _decodes(body, "utf-8")


def declared_encodings(body: bytes, content_type: str | None) -> list[str]:
    """Encodings declared by the Content-Type header, a <meta> tag or the XML declaration, in that order."""
    found: list[str] = []
    if content_type and (m := _HEADER_CHARSET.search(content_type)):
        found.append(m.group(1))
    head = body[:4096]
    for rx in (_META_CHARSET, _XML_DECL):
        if raw := rx.search(head):
            found.append(raw.group(1).decode("ascii", "ignore"))
    return [c for c in (_canonical(x) for x in found) if c]


def detect_encoding(body: bytes, content_type: str | None = None) -> str:
    """Return a Python codec name under which `body` decodes to the text the author meant."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if body.isascii():
        return "utf-8"  # pure ASCII: any ASCII-compatible declaration gives the same text
    multibyte_utf8 = _is_multibyte_utf8(body)
    for enc in declared_encodings(body, content_type):
        if enc == "utf-8" and multibyte_utf8:
            return "utf-8"
        if enc != "utf-8" and multibyte_utf8:
            return "utf-8"  # a single-byte declaration on a valid UTF-8 body is a lie
        if enc != "utf-8" and _decodes(body, enc):
            return enc
    if multibyte_utf8:
        return "utf-8"
    best = charset_normalizer.from_bytes(body[:200_000], cp_isolation=REGIONAL).best()
    if best is None:
        best = charset_normalizer.from_bytes(body[:200_000]).best()
    return (_canonical(best.encoding) or "utf-8") if best is not None else "utf-8"


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, encoding); undecodable bytes become U+FFFD rather than an exception."""
    enc = detect_encoding(body, content_type)
    return body.decode(enc, errors="replace").lstrip("\ufeff"), enc
