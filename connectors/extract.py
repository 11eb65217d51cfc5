"""Pages to clean articles with trafilatura. CPU-bound: the ingest flow runs `extract_page` in worker processes.

Date precedence: the page's own publication metadata (precise, no guessing) → the feed/sitemap date →
htmldate's extensive search → none. A day-only page date is refined by a feed time on the same day.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import TYPE_CHECKING, Any, cast

from balkanwatch.boilerplate import has_label, signatures
from balkanwatch.chooser import DEFAULT, Choice, PageSignals, choose
from balkanwatch.dedupe import shingle_hashes
from balkanwatch.errors import ExtractionError, ExtractionTimeout
from balkanwatch.models import (
    FEED_CONTENT,
    FEED_SUMMARY,
    PAGE_DESCRIPTION,
    PDF_TEXT,
    ExtractedArticle,
    FeedItem,
)
from balkanwatch.textclean import (
    TITLE_LINE_MAX_WORDS,
    content_hash,
    drop_repeated_paragraphs,
    drop_title_line,
    paragraph_key,
    paragraphs,
    repeat_dropped,
    token_f1,
    word_counts,
)
from balkanwatch.textnorm import fold
from balkanwatch.urls import article_id
from connectors.extractors import opinion
from connectors.pdf import is_pdf, read_pdf

if TYPE_CHECKING:
    from lxml.html import HtmlElement
    from trafilatura.settings import Document

    from balkanwatch.templates import Template

LOGGER = logging.getLogger(__name__)
EXTRACTOR_REVISION = "bw6"   # bump when our post-processing of trafilatura's output changes (bw6: a first line repeating the title goes, #17)
PLAIN_REVISION = "bw3"       # the same post-processing with the extractor-agreement chooser switched off
MIN_TEXT_CHARS = 100          # below this a "page" is a stub, a paywall or an index, not an article
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"   # htmldate's output: time and offset kept when the page gives them
RAW_HTML_ZLIB_LEVEL = 1       # 1.7 ms a page against 4.1 at level 6, 20% more bytes (dev pages, #17)
# A page's extraction has a deadline (`ingest.extract_timeout`, PageJob.timeout): some pages cost time that
# grows with the square of their size (boilerpy3's parser, one of the chooser's opinions: a 2 MB page of
# links took 74 s, so a 10 MB one, under fetch.max_body_bytes, about half an hour), and a page that holds
# an extraction worker that long holds the whole run. The extra opinions may use OPINIONS_SHARE of it;
# past that trafilatura's text stands (it is the primary; the chooser only ever replaces it). Past the
# whole deadline the page fails as an item (tried again by later runs, at most MAX_ITEM_ATTEMPTS times).
# The chooser takes ~35 ms on an ordinary page: neither limit comes near the WCXB dev pages.
OPINIONS_SHARE = 0.5
# trafilatura 2.3.1 retries a short extraction in its recall mode itself, but not one that found nothing, and
# that is what a page gives whose article a broken element swallowed (an unclosed newsletter <aside> wrapping
# the page: the default mode prunes asides, recall mode keeps them). A page given up loses a story, so its
# recall mode is asked once before we give up; texts trafilatura's default mode finds are never touched.
# WCXB dev: 1 page of 710 rescued (F1 0 -> 0.99), the one page with no article stays without one; dev pages
# with their article text removed: recall finds text on 1 of the 9 that the default mode leaves empty
# (the default mode finds some on the other 701). docs/design.md, "Extractor agreement", session 23.
RECALL_RETRY = True


def extractor_version(agreement: bool = True) -> str:
    import trafilatura

    return f"trafilatura-{trafilatura.__version__}+{EXTRACTOR_REVISION if agreement else PLAIN_REVISION}"


@dataclass(frozen=True)
class PageJob:
    """Everything a worker process needs to extract one page (picklable)."""

    source: str
    url: str
    final_url: str
    body: bytes
    encoding: str
    fetched_at: datetime
    item: FeedItem | None = None
    source_language: str | None = None
    agreement: bool = True     # run the extractor-agreement chooser (ingest.extractor_agreement)
    template: Template | None = None   # the source's learned page template (balkanwatch/templates.py, #17)
    timeout: float = 0.0       # seconds the extraction may take (ingest.extract_timeout); 0: no limit


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)   # the page's own offset is kept; stored as UTC


def choose_published(page: datetime | None, feed: datetime | None, guessed: datetime | None,
                     page_has_time: bool) -> tuple[datetime | None, str]:
    """(published_at, where it came from) by the documented precedence."""
    if page is not None:
        if not page_has_time and feed is not None and feed.date() == page.date():
            return feed, "feed"
        return page, "page"
    if feed is not None:
        return feed, "feed"
    if guessed is not None:
        return guessed, "htmldate"
    return None, "none"


_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_TITLE_SEP = re.compile(r"\s+[|\-–—:·»]\s+")
H1_WORDS = (2, TITLE_LINE_MAX_WORDS)   # an <h1> outside this many words is a logo or a paragraph, not a headline
H1_AGREES = 0.5           # token F1 with the metadata title above which the <h1> is the same headline
SITE_SUFFIX_WORDS = 4     # "Title | Site Name": a last segment this short is the site's name…
MIN_HEADLINE_WORDS = 3    # …unless what would remain is too short to be a headline on its own


def _element_text(inner_html: str) -> str:
    """Plain text of an element's inner HTML: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(unescape(_TAG.sub(" ", inner_html)).split())


def headings(html: str) -> list[str]:
    """Plain text of the page's <h1> elements that look like headlines."""
    out = []
    for raw in _H1.findall(html):
        text = _element_text(raw)
        if H1_WORDS[0] <= len(text.split()) <= H1_WORDS[1]:
            out.append(text)
    return out


def strip_site_suffix(title: str) -> str:
    """'Headline | Site' → 'Headline' when the last segment is short enough to be a site name."""
    parts = _TITLE_SEP.split(title)
    if len(parts) > 1 and len(parts[-1].split()) <= SITE_SUFFIX_WORDS:
        head = title[: title.rfind(parts[-1])].rstrip(" |-–—:·»")
        if len(head.split()) >= MIN_HEADLINE_WORDS:   # "Belgrade – Pristina talks" keeps its second half
            return head
    return title


def choose_title(meta_title: str | None, h1s: list[str]) -> str | None:
    """The page's headline: its <h1> when it agrees with the metadata or stands alone, else the
    metadata title without a site-name suffix. Measured on WCXB dev: 0.66 → 0.89 title accuracy."""
    if h1s and (len(h1s) == 1 or token_f1(h1s[0], meta_title or "") >= H1_AGREES):
        return h1s[0]
    return strip_site_suffix(meta_title) if meta_title else None


_P = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.IGNORECASE | re.DOTALL)


def page_repeats(html: str, kept: list[str]) -> int:
    """How many extra copies of the kept paragraphs the page's <p> elements hold (the repeats trafilatura or
    drop_repeated_paragraphs removed), so the stored article records that it was cleaned."""
    counts: dict[str, int] = {}
    for raw in _P.findall(html):
        key = paragraph_key(_element_text(raw))
        counts[key] = counts.get(key, 0) + 1
    dropped = {paragraph_key(p) for p in kept if repeat_dropped(p)}   # shorter repeats stay in the text
    return sum(counts.get(key, 1) - 1 for key in dropped)


def _html_lang(html: str) -> str | None:
    m = re.search(r"<html[^>]*\slang\s*=\s*[\"']?([A-Za-z]{2,3})", html[:5000], re.IGNORECASE)
    return m.group(1).lower() if m else None


def _guess_date(tree: HtmlElement, url: str) -> datetime | None:
    """htmldate's extensive search (dateparser over the page's text): only for pages whose metadata and feed
    both give no date. It deep-copies the tree it is given, so the page is not parsed again."""
    from htmldate import find_date

    try:
        return _parse_date(find_date(tree, url=url, extensive_search=True, original_date=True,
                                     outputformat=DATE_FORMAT))
    except Exception:  # htmldate raises assorted errors on junk; a missing guess is the honest result
        return None


def parse_html(html: str, url: str) -> HtmlElement:
    """The page's one lxml parse (trafilatura's loader), shared by metadata, extraction and the date guess."""
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise ExtractionError(f"no article text found in {url}")
    return tree


_INVISIBLE = frozenset({"script", "style", "noscript", "template"})


def visible_chars(root: HtmlElement) -> int:
    """Characters of the visible text under `root` (text outside script, style, noscript and template)."""
    visible = 0
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag not in _INVISIBLE and el.text:
            visible += len(el.text.strip())
        if el.tail and el is not root:
            visible += len(el.tail.strip())
    return visible


def page_signals(tree: HtmlElement, text: str, count_visible: bool = True) -> PageSignals:
    """The chooser's cheap signals of trafilatura's `text` on the parsed page (balkanwatch/chooser.py).
    `count_visible=False` leaves the page's visible text uncounted (0; 1.5 ms a page): for thresholds whose
    coverage test is off."""
    body = tree.find("body")
    root = body if body is not None else tree
    visible = visible_chars(root) if count_visible else 0
    words = word_counts(text)
    linked = word_counts(" ".join(a.text_content() for a in root.iter("a")))
    total = sum(words.values())
    share = sum((words & linked).values()) / total if total else 0.0
    return PageSignals(len(text), visible, share, len(paragraphs(text)))


def page_metadata(tree: HtmlElement, url: str) -> Document:
    """trafilatura's `extract_metadata` without the fields we never read (categories, tags, license:
    3.5 ms of its 10.5 ms a page on WCXB dev); the same steps in the same order otherwise (trafilatura
    2.3.1, metadata.py; tests/test_extract_cpu.py compares the two on real pages)."""
    from courlan import extract_domain
    from htmldate import find_date
    from trafilatura import metadata as tm

    doc = tm.examine_meta(tree)
    if doc.author and " " not in doc.author:
        doc.author = None
    try:
        doc = tm.extract_meta_json(tree, doc)
    except Exception as exc:  # trafilatura guards its JSON-LD reader the same way (bugs in json_metadata.py)
        LOGGER.warning("error in JSON metadata extraction: %s", exc)
    doc.title = doc.title or tm.extract_title(tree)
    doc.author = doc.author or tm.extract_author(tree)
    doc.url = doc.url or tm.extract_url(tree, url)
    if doc.url:
        doc.hostname = extract_domain(doc.url, fast=True)
    doc.date = find_date(tree, extensive_search=False, original_date=True, outputformat=DATE_FORMAT, url=doc.url)
    doc.sitename = doc.sitename or tm.extract_sitename(tree)
    if doc.sitename:
        doc.sitename = doc.sitename.lstrip("@")
        if doc.sitename and "." not in doc.sitename and not doc.sitename[0].isupper():
            doc.sitename = doc.sitename.title()
    elif doc.url and (m := tm.META_URL.match(doc.url)):
        doc.sitename = m[1]
    doc.clean_and_trim()
    return doc


def _bare_text(tree: HtmlElement, url: str, fast: bool, recall: bool) -> str:
    """trafilatura's main text of the page ("" when it finds none)."""
    import trafilatura

    # without as_dict=True it returns a Document or None; its annotation has no overload to say so.
    # Given a tree, it works on a copy (0.9 ms a page; a second parse costs 3.2 ms).
    doc = cast("Document | None", trafilatura.bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, deduplicate=False, fast=fast,
        favor_recall=recall))
    return str(doc.text or "") if doc is not None else ""


def extract_html(tree: HtmlElement, url: str, fast: bool = False, recall: bool = False) -> dict[str, Any]:
    """trafilatura's extraction as a plain dict (title, author, date, sitename, text, recall_retry, ...) or
    ExtractionError. When the default mode finds less than MIN_TEXT_CHARS, trafilatura's recall mode is asked
    before the page is given up (`recall_retry`: its text was kept; RECALL_RETRY, docs/design.md).
    `fast`: trafilatura without its own readability/jusText fallbacks; `recall`: its `favor_recall` mode from
    the start (both measured and not used: docs/design.md, "#17, trafilatura's fallbacks" and session 22's
    recall mode)."""
    meta = extract_html_meta(tree, url, fast, recall)
    if not meta["text"].strip():
        raise ExtractionError(f"no article text found in {url}")
    return meta


def extract_html_meta(tree: HtmlElement, url: str, fast: bool = False, recall: bool = False) -> dict[str, Any]:
    """`extract_html` without the error: a page with no article text gives its metadata and text "" (a
    listed item's teaser is made from them: `_page_teaser`)."""
    meta = page_metadata(tree, url)
    text = _bare_text(tree, url, fast, recall)
    retried = False
    if RECALL_RETRY and not recall and len(text.strip()) < MIN_TEXT_CHARS:
        again = _bare_text(tree, url, fast, True)
        if len(again.strip()) > len(text.strip()):
            text, retried = again, True
    return {"title": meta.title, "author": meta.author, "date": meta.date, "sitename": meta.sitename,
            "language": meta.language, "url": meta.url, "description": meta.description, "text": text,
            "recall_retry": retried}


def cleaned(text: str) -> str:
    """An extractor's text as we store it: exact repeats of a paragraph dropped; "" below MIN_TEXT_CHARS."""
    kept = "\n".join(drop_repeated_paragraphs(paragraphs(text))[0])
    return kept if len(kept) >= MIN_TEXT_CHARS else ""


def choose_text(tree: HtmlElement, html: str, url: str, trafilatura_text: str, cleaned_text: str | None = None
                ) -> Choice:
    """The extractor-agreement chooser on a page (balkanwatch/chooser.py decides; this runs the opinions it
    asks for). `trafilatura_text` is trafilatura's text as it came; the candidates are compared cleaned
    (`cleaned_text`: trafilatura's, when the caller has cleaned it already)."""
    language = _html_lang(html)

    def ask(name: str) -> str:
        return cleaned(opinion(name, html, url, language))

    signals = page_signals(tree, trafilatura_text, count_visible=DEFAULT.min_coverage > 0)
    return choose(cleaned(trafilatura_text) if cleaned_text is None else cleaned_text, signals, ask)


def with_template(template: Template, tree: HtmlElement, text: str, kept: list[str]) -> tuple[str, list[str]]:
    """(text, its paragraphs) corrected by the source's template; as they were when that leaves too little."""
    from balkanwatch.templates import apply, page_blocks

    fixed = apply(template, page_blocks(tree), text)
    return (fixed, paragraphs(fixed)) if len(fixed) >= MIN_TEXT_CHARS else (text, kept)


def without_title_line(text: str, kept: list[str], title: str | None, match: float | None = None, within: int = 1
                       ) -> tuple[str, list[str]]:
    """(text, its paragraphs `kept`) without a paragraph repeating the title among the first `within`
    (`textclean.drop_title_line`), as they were when that would leave less than MIN_TEXT_CHARS."""
    body = drop_title_line(kept, title, match, within)
    if body is not kept and len(without := "\n".join(body)) >= MIN_TEXT_CHARS:
        return without, body
    return text, kept


def link_texts(tree: HtmlElement) -> set[str]:
    """The folded texts of the page's links: what tells a "Read More: <a>headline</a>" line (a link line,
    chrome when sites use its label so) from a "Q: …" or "Location: …" line (content)."""
    return {text for a in tree.iter("a") if (text := fold(a.text_content()))}


_DEADLINES: list[float] = []   # the deadlines of the `deadline` blocks this thread is in, innermost last


class _PastDeadline(BaseException):
    """Raised by the timer in a `deadline` block: a BaseException, so that no library's `except Exception`
    swallows it on its way out (and the timer fires again every EXTRA_SECONDS in case a bare `except:` does)."""

    EXTRA_SECONDS = 0.5


def _past_deadline(signum: int, frame: object) -> None:
    signal.setitimer(signal.ITIMER_REAL, _PastDeadline.EXTRA_SECONDS)
    raise _PastDeadline()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """_PastDeadline raised in this block once `seconds` have passed (SIGALRM, so Python code is
    stopped between two steps; a C call runs to its end first). Only in the main thread, where the jobs of
    the extraction workers run (and the CLI's); elsewhere, or for seconds ≤ 0, no limit. Blocks nest: an
    inner one never outlasts the one around it, and the outer one's timer is set again when it ends."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    now = time.monotonic()
    outermost = not _DEADLINES
    if outermost:   # a timer someone else set (and its handler) are put back afterwards, what is left of it
        previous, (was, interval) = signal.signal(signal.SIGALRM, _past_deadline), signal.getitimer(signal.ITIMER_REAL)
    mine = min([now + seconds, *_DEADLINES])
    _DEADLINES.append(mine)
    signal.setitimer(signal.ITIMER_REAL, max(mine - now, 1e-3))
    try:
        yield
    finally:
        _DEADLINES.pop()
        if not outermost:
            signal.setitimer(signal.ITIMER_REAL, max(_DEADLINES[-1] - time.monotonic(), 1e-3))
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if was:
                signal.setitimer(signal.ITIMER_REAL, max(was - (time.monotonic() - now), 1e-3), interval)


def _outer_deadline_passed() -> bool:
    return bool(_DEADLINES) and time.monotonic() >= _DEADLINES[-1]


def extract_page(job: PageJob) -> ExtractedArticle:
    """One page → ExtractedArticle; raises ExtractionError when there is no article in it, ExtractionTimeout
    when its extraction takes longer than `job.timeout`."""
    try:
        with deadline(job.timeout):
            return _extract_page(job)
    except _PastDeadline:
        raise ExtractionTimeout(f"extraction of {job.url} took longer than {job.timeout:g} s (ingest.extract_timeout; "
                                f"{len(job.body) / 1e6:.1f} MB of HTML)") from None


def _extract_page(job: PageJob) -> ExtractedArticle:
    if is_pdf(job.body):
        return _pdf_article(job)
    html = job.body.decode(job.encoding, errors="replace")
    tree = parse_html(html, job.final_url)
    meta = extract_html_meta(tree, job.final_url)
    kept, repeats = drop_repeated_paragraphs(paragraphs(meta["text"]))
    text = "\n".join(kept)
    if len(text) < MIN_TEXT_CHARS:
        teaser = _page_teaser(job, tree, html, meta)
        if teaser is not None:
            return teaser
        if not meta["text"].strip():
            raise ExtractionError(f"no article text found in {job.final_url}")
        raise ExtractionError(f"only {len(text)} characters of text in {job.url} (minimum {MIN_TEXT_CHARS})")
    text_from = "trafilatura-recall" if meta["recall_retry"] else "trafilatura"
    if job.agreement:
        try:
            with deadline(job.timeout * OPINIONS_SHARE):
                choice: Choice | None = choose_text(tree, html, job.final_url, meta["text"], text)   # `text`: cleaned
        except _PastDeadline:
            if _outer_deadline_passed():
                raise
            choice = None   # the opinions took too long: trafilatura's text stands
            LOGGER.info("extractor agreement given up on %s after %g s", job.url, job.timeout * OPINIONS_SHARE)
        if choice is not None and choice.chosen != "trafilatura":   # already cleaned; the page's repeats below
            text, text_from, kept, repeats = choice.text, choice.chosen, paragraphs(choice.text), []
    if job.template is not None:   # the source's template: chrome it kept dropped, article text it lost put back
        text, kept = with_template(job.template, tree, text, kept)
    title = _title(job, html, meta)
    text, kept = without_title_line(text, kept, title)   # the headline is the title field, not the body's start
    links = link_texts(tree) if any(has_label(p) for p in kept) else None
    return _page_article(job, tree, html, meta, title, text, text_from,
                         repeated=max(len(repeats), page_repeats(html, kept)),
                         signatures=tuple((s.key, s.kind, s.example) for p in kept for s in signatures(p, links)))


def _title(job: PageJob, html: str, meta: dict[str, Any]) -> str | None:
    return choose_title(meta["title"], headings(html)) or (job.item.title if job.item else None)


def _page_article(job: PageJob, tree: HtmlElement, html: str, meta: dict[str, Any], title: str | None, text: str,
                  text_from: str, repeated: int = 0, signatures: tuple[tuple[str, str, str], ...] = ()
                  ) -> ExtractedArticle:
    """The article a fetched page gives: `text` with the page's metadata (the listing's where it has none)."""
    page_date = _parse_date(meta["date"])
    feed_date = job.item.published if job.item else None
    guessed = _guess_date(tree, job.final_url) if page_date is None and feed_date is None else None
    page_has_time = bool(page_date and (page_date.hour or page_date.minute or page_date.second))
    published, origin = choose_published(page_date, feed_date, guessed, page_has_time)
    canonical = meta["url"] if meta["url"] and meta["url"].startswith(("http://", "https://")) else None
    return ExtractedArticle(
        article_id=article_id(job.url), url=job.url, canonical_url=canonical, source=job.source,
        title=title,
        author=meta["author"] or (job.item.author if job.item else None),
        published_at=published, published_from=origin, fetched_at=job.fetched_at,
        language=_html_lang(html) or meta["language"] or job.source_language or None,
        site_name=meta["sitename"], text=text, content_hash=content_hash(text),
        extractor_version=extractor_version(job.agreement), text_from=text_from, feed_guid=job.item.guid if job.item else None,
        repeated_paragraphs=repeated, sketch=tuple(sorted(shingle_hashes(text))),
        final_url=job.final_url, encoding=job.encoding, raw_html=zlib.compress(job.body, RAW_HTML_ZLIB_LEVEL), raw_bytes=len(job.body),
        listed_updated_at=job.item.updated if job.item else None, signatures=signatures,
    )


# -- teasers: listed items whose page gives no article text --------------------------------------------
# A paywalled page (only the subscription notice), a page drawn by script, a publisher that answers our
# fetcher 401/403/451 or whose robots.txt disallows the page: the listing still says the story exists, and
# an analyst watching a topic wants it counted, matched and shown. Such an item is stored with the listing's
# summary as its text (the page's own description when the listing has none), and `text_from` says so
# (balkanwatch.models.TEASERS).
TEASER_MIN_CHARS = 40   # a summary shorter than this (after the title and "read more" tails go) is not kept:
                        # a title alone gives dedupe, watchlists and the e-mail too little; the item stays an
                        # item error as before. 40 characters is about one short sentence; on the dev
                        # pages' descriptions, 13 of the 17 under it say nothing of the article (design.md).
REFUSED_STATUSES = frozenset({401, 402, 403, 451})   # answers that say "not for you", not "try later"
_HIDDEN = re.compile(r"<!--.*?-->|<(script|style|noscript|template|iframe|svg)\b.*?</\1\s*>",
                     re.IGNORECASE | re.DOTALL)
_BLOCK_END = re.compile(r"<\s*(?:br|/p|/div|/li|/h[1-6]|/blockquote|/tr)\b[^>]*>", re.IGNORECASE)
_TEASER_TAIL = re.compile(
    r"\s*(?:the post\b.{1,300}\bappeared first on\b.{1,200}"      # WordPress's feed footer
    r"|(?:(?<=[.!?…»\"”)])|^)\s*(?:continue reading|read more|read the full (?:story|article))\b.{0,80}"
    r"|\[(?:…|\.\.\.|&hellip;)\])\s*$", re.IGNORECASE | re.DOTALL)


def teaser_text(summary: str | None, title: str | None) -> str:
    """A listing's summary (HTML or plain text) as the stored text of an item whose page gave no article:
    one paragraph per line; the title where a line repeats it (Google News' summary is the title and the
    outlet's name), WordPress's "The post … appeared first on …" and "Continue reading" tails dropped;
    "" when less than TEASER_MIN_CHARS is left."""
    if not summary:
        return ""
    summary = _HIDDEN.sub(" ", summary)   # feeds are parsed unsanitised: a script's code is not text
    lines = [_element_text(part) for part in _BLOCK_END.split(summary)]
    title_words = fold(title or "").split()
    out = []
    for line in lines:
        line = _without_title(_TEASER_TAIL.sub("", line), title_words).strip()
        if line:
            out.append(line)
    text = "\n".join(dict.fromkeys(out))
    return text if len(text) >= TEASER_MIN_CHARS else ""


_WORD = re.compile(r"\w+")


def _without_title(line: str, title_words: list[str]) -> str:
    """`line` without a start that repeats the title (folded word by word), and the separator after it."""
    if not title_words:
        return line
    got: list[str] = []
    for m in _WORD.finditer(line):
        got.extend(fold(m.group()).split())
        if len(got) >= len(title_words):
            return line[m.end():].lstrip(" -–—|:·,.") if got[:len(title_words)] == title_words else line
    return line


def _page_teaser(job: PageJob, tree: HtmlElement, html: str, meta: dict[str, Any]) -> ExtractedArticle | None:
    """A listed item's page without article text (paywalled, drawn by script) as a teaser: the page's
    metadata with the listing's summary, else the page's description, as text; None when neither has
    TEASER_MIN_CHARS or the page was not listed (`balkanwatch extract FILE`, `reextract`: no listing)."""
    if job.item is None:
        return None
    title = _title(job, html, meta)
    text, text_from = listing_text(job.item, title)
    if not text:
        text, text_from = teaser_text(meta.get("description"), title), PAGE_DESCRIPTION
    if not text or not title:
        return None
    return _page_article(job, tree, html, meta, title, text, text_from)


def listing_text(item: FeedItem, title: str | None) -> tuple[str, str]:
    """(text, text_from) of what the listing says of an item: its full content when the feed carries it
    (content:encoded, Atom <content>: `feed-content`) and it says more than the summary, else its summary
    (`feed-summary`); ("", "") when neither has TEASER_MIN_CHARS."""
    summary = teaser_text(item.summary, title)
    content = "\n".join(drop_repeated_paragraphs(paragraphs(teaser_text(item.content, title)))[0])
    if len(content) > len(summary):
        return content, FEED_CONTENT
    return (summary, FEED_SUMMARY) if summary else ("", "")


def listing_teaser(item: FeedItem, source: str, fetched_at: datetime, language: str | None,
                   agreement: bool = True) -> ExtractedArticle | None:
    """A listed item whose page we may not read (REFUSED_STATUSES, robots.txt) from its listing alone: the
    title, date, author, and the feed's full content or summary (`listing_text`); None when it has no title
    or under TEASER_MIN_CHARS of either."""
    text, text_from = listing_text(item, item.title)
    if not text or not item.title:
        return None
    published, origin = choose_published(None, item.published, None, False)
    return ExtractedArticle(
        article_id=article_id(item.link), url=item.link, canonical_url=None, source=source, title=item.title,
        author=item.author, published_at=published, published_from=origin, fetched_at=fetched_at,
        language=language, site_name=None, text=text, content_hash=content_hash(text),
        extractor_version=extractor_version(agreement), text_from=text_from, feed_guid=item.guid,
        sketch=tuple(sorted(shingle_hashes(text))), listed_updated_at=item.updated)


PDF_TITLE_LINES = 3   # a document's title line is looked for among its first paragraphs (a letterhead first)


def _pdf_article(job: PageJob) -> ExtractedArticle:
    """A PDF (a press release, a statement) as an article: its text, its title (else the listing's, else its
    first line), author, and the listing's date (the document's creation date when the listing has none:
    a document is often written days before it is published). A PDF with
    under MIN_TEXT_CHARS of text (a scan) is kept from its listing, as a page without article text is."""
    doc = read_pdf(job.body, job.url)
    kept, repeats = drop_repeated_paragraphs(paragraphs(doc.text))
    text, text_from = "\n".join(kept), PDF_TEXT
    title = doc.title or (job.item.title if job.item else None) or (kept[0] if kept else None)
    if len(text) < MIN_TEXT_CHARS:
        text, text_from = listing_text(job.item, title) if job.item is not None else ("", "")
        if not text or not title:
            raise ExtractionError(f"only {len(doc.text)} characters of text in the PDF {job.url} (a scan, or "
                                  f"images only; minimum {MIN_TEXT_CHARS})")
        kept, repeats = paragraphs(text), []
    text, kept = without_title_line(text, kept, title, within=PDF_TITLE_LINES)   # after a letterhead, often
    feed_date = job.item.published if job.item else None   # a PDF's creation date is when it was written:
    published, origin = (feed_date, "feed") if feed_date else (doc.created, "page" if doc.created else "none")
    return ExtractedArticle(
        article_id=article_id(job.url), url=job.url, canonical_url=None, source=job.source, title=title,
        author=doc.author or (job.item.author if job.item else None), published_at=published,
        published_from=origin, fetched_at=job.fetched_at, language=job.source_language or None, site_name=None,
        text=text, content_hash=content_hash(text), extractor_version=extractor_version(job.agreement),
        text_from=text_from, feed_guid=job.item.guid if job.item else None, repeated_paragraphs=len(repeats),
        sketch=tuple(sorted(shingle_hashes(text))), final_url=job.final_url, encoding=job.encoding,
        raw_html=zlib.compress(job.body, RAW_HTML_ZLIB_LEVEL), raw_bytes=len(job.body),
        listed_updated_at=job.item.updated if job.item else None)


def safe_extract(job: PageJob) -> ExtractedArticle | str:
    """Worker entry point: the article, or the error message (exceptions do not cross processes well)."""
    try:
        return extract_page(job)
    except ExtractionError as exc:
        return str(exc)
    except Exception as exc:  # a crash inside lxml/trafilatura on hostile HTML must not kill the pool
        return f"extraction crashed on {job.url}: {type(exc).__name__}: {exc}"
