"""Listed PDFs (press releases, statements, reports) to text and metadata, with pypdf (pure Python).

    body (%PDF-) → pypdf: the first MAX_PDF_PAGES pages' text, the document's title/author/creation date
      → lines of each page: page numbers and the lines that repeat on most pages (running headers and
        footers) dropped → lines joined into paragraphs (a line much shorter than the page's usual line ends
        one; a word hyphenated across lines is joined)

pypdf's plain extraction gives the lines of a page without the blank lines between paragraphs, so the
paragraphs are put back from the lines' lengths. Pure functions on bytes; `connectors.extract` turns the
result into an article (the listing's title and date where the document has none).
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from balkanwatch.errors import ExtractionError

LOGGER = logging.getLogger(__name__)
MAX_PDF_PAGES = 50     # a news monitor reads the statement, not a whole annual report: later pages are skipped
SHORT_LINE = 0.85      # a line shorter than this share of the page's usual line (its 90th percentile) ends a
                       # paragraph (or is a heading): a full line is wrapped text
RUNNING_SHARE = 0.7    # a line on at least this share of the pages (and on 2 or more) is a running header/footer
# Both chosen by cross-validation on real texts laid out as PDF text (bench/pdf_paragraphs_cv.py, session 38;
# they were 0.75 and 0.5, unevaluated): docs/design.md, "PDF paragraphs".
_SENTENCE_END = (".", "!", "?", "…", '"', "”", "»", ":")
_PAGE_NUMBER = re.compile(r"(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:/|of|od|nga)\s*\d{1,4})?", re.IGNORECASE)
_FILE_TITLE = re.compile(r"^(?:microsoft (?:word|powerpoint) - )|\.(?:docx?|odt|pdf|rtf|pptx?)$", re.IGNORECASE)


def is_pdf(body: bytes) -> bool:
    """True when the body is a PDF (its header within the first 1024 bytes, as readers accept it)."""
    return b"%PDF-" in body[:1024]


@dataclass(frozen=True)
class PdfDocument:
    text: str                  # paragraphs, one per line
    title: str | None
    author: str | None
    created: datetime | None
    pages: int                 # pages in the document (MAX_PDF_PAGES of them at most were read)


def read_pdf(body: bytes, url: str = "") -> PdfDocument:
    """The document's text and metadata; ExtractionError when it cannot be read (damaged, encrypted with a
    password, not a PDF after all)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError(f"the PDF {url} is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
        count = len(reader.pages)
        meta = reader.metadata
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            NotImplementedError, OSError, ZeroDivisionError, AssertionError) as exc:
        raise ExtractionError(f"the PDF {url} could not be read: {type(exc).__name__}: {exc}") from None
    return PdfDocument(text=pdf_paragraphs(pages), title=_title(meta), author=_field(meta, "author"),
                       created=_created(meta), pages=count)


def _field(meta: object, name: str) -> str | None:
    try:
        value = getattr(meta, name, None) if meta is not None else None
    except Exception:   # a malformed info dictionary: the field is missing, the text still counts
        return None
    text = " ".join(str(value).split()) if value else ""
    return text or None


def _title(meta: object) -> str | None:
    """The document's title, unless it is a file name ("Microsoft Word - pr14.docx")."""
    title = _field(meta, "title")
    return None if title is None or _FILE_TITLE.search(title) else title


def _created(meta: object) -> datetime | None:
    try:
        when = getattr(meta, "creation_date", None) if meta is not None else None
    except Exception:   # pypdf raises on a date it cannot parse
        return None
    if not isinstance(when, datetime):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def pdf_paragraphs(pages: list[str], *, short_line: float = SHORT_LINE, running_share: float = RUNNING_SHARE) -> str:
    """Pages' extracted lines as paragraphs, one per line (see the module's docstring); the two thresholds are
    parameters for bench/pdf_paragraphs_cv.py, which chose them."""
    per_page = [[" ".join(line.split()) for line in page.splitlines()] for page in pages]
    per_page = [[line for line in lines if line and not _PAGE_NUMBER.fullmatch(line)] for lines in per_page]
    on_pages = Counter(line for lines in per_page for line in set(lines))
    if len(per_page) >= 2:
        running = {line for line, n in on_pages.items() if n >= 2 and n >= running_share * len(per_page)}
        per_page = [[line for line in lines if line not in running] for lines in per_page]
    paragraphs: list[str] = []
    current = ""
    for lines in per_page:
        if current.endswith(_SENTENCE_END):   # a page ending on a full line that ends a sentence ends it there
            paragraphs.append(current)
            current = ""
        lengths = sorted(len(line) for line in lines)
        usual = lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0
        for line in lines:
            if not current:
                current = line
            elif current.endswith("-") and line[:1].islower():
                current = current[:-1] + line      # a word hyphenated across lines
            else:
                current = f"{current} {line}"
            if len(line) < short_line * usual:
                paragraphs.append(current)
                current = ""
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)
