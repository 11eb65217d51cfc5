"""Second opinions on a page's article text: other extractors than trafilatura, each as `html -> text`.

Used by the extractor-agreement chooser (balkanwatch/chooser.py decides, `extract_page` runs them) and by
bench/extraction_chooser.py (which adds newspaper4k and goose3, measured but not used: slow and wrong together). Imports are lazy (each library costs tens of milliseconds to import). Every
function returns plain text, paragraphs separated by newlines, or "" when the library finds nothing or
fails on the page (a second opinion that fails is no opinion; it never fails the page).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

LOGGER = logging.getLogger(__name__)
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "div", "tr", "br", "dd", "dt")


def _block_text(root: HtmlElement) -> str:
    """Text of an element tree with a newline after every block element (paragraphs kept apart)."""
    for el in root.iter(*_BLOCKS):
        el.tail = "\n" + (el.tail or "")
    return "\n".join(" ".join(line.split()) for line in root.text_content().split("\n") if line.strip())


def readability(html: str, url: str) -> str:
    """readability-lxml's summary (Mozilla Readability's old Python port), as text. Without the page's URL:
    given one, it rewrites every link absolute (a third of its time), and links are not text."""
    from lxml.html import fromstring
    from readability import Document

    summary = Document(html).summary(html_partial=True)
    return _block_text(fromstring(summary)) if summary.strip() else ""


def resiliparse(html: str, url: str) -> str:
    """Resiliparse's main-content text (a C++ DOM walk with boilerplate rules: ~3 ms a page)."""
    from resiliparse.extract.html2text import extract_plain_text

    return str(extract_plain_text(html, main_content=True))


def boilerpy3(html: str, url: str) -> str:
    """boilerpy3's ArticleExtractor (Kohlschütter's boilerpipe, shallow text features)."""
    from boilerpy3 import extractors

    logging.getLogger("boilerpy3").setLevel(logging.ERROR)   # it warns on every page with nested <a>: noise
    return str(extractors.ArticleExtractor(raise_on_failure=False).get_content(html))


JUSTEXT_STOPLISTS = {"en": "English", "sr": "Serbian", "hr": "Croatian", "bs": "Bosnian", "sl": "Slovenian",
                     "mk": "Macedonian", "bg": "Bulgarian", "sq": "Albanian", "ro": "Romanian", "el": "Greek",
                     "hu": "Hungarian", "tr": "Turkish", "de": "German", "fr": "French", "it": "Italian",
                     "es": "Spanish", "ru": "Russian", "uk": "Ukrainian"}
JUSTEXT_DEFAULT = "en"   # pages that name no language (or one jusText has no stoplist for)


@cache
def _stoplist(name: str) -> frozenset[str]:
    """jusText's stoplist (it reads and splits the file on every call otherwise)."""
    import justext as jt

    return frozenset(jt.get_stoplist(name))


def justext(html: str, url: str, language: str | None = None) -> str:
    """jusText's good paragraphs, with the stoplist of the page's language (English when unknown)."""
    import justext as jt

    name = JUSTEXT_STOPLISTS.get(language or JUSTEXT_DEFAULT, JUSTEXT_STOPLISTS[JUSTEXT_DEFAULT])
    return "\n".join(p.text for p in jt.justext(html, _stoplist(name)) if not p.is_boilerplate)


Extractor = Callable[[str, str], str]
SECOND_OPINIONS: dict[str, Extractor] = {"resiliparse": resiliparse, "readability": readability,
                                          "boilerpy3": boilerpy3, "justext": justext}


def warm() -> None:
    """Import every second opinion's library (a worker does it before its first page)."""
    import boilerpy3.extractors  # noqa: F401
    import justext as _justext  # noqa: F401
    import readability as _readability  # noqa: F401
    import resiliparse.extract.html2text  # noqa: F401


def opinion(name: str, html: str, url: str, language: str | None = None) -> str:
    """One extractor's text of the page, "" when it fails (logged: the page goes on with the others)."""
    try:
        if name == "justext":
            return justext(html, url, language)
        return SECOND_OPINIONS[name](html, url)
    except Exception as exc:  # any of these libraries can raise on hostile HTML; trafilatura's text remains
        LOGGER.info("%s failed on %s: %s: %s", name, url, type(exc).__name__, exc)
        return ""
