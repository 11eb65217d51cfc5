"""Per-source page templates (issue #17): where a source's pages hold the article, and where the chrome.

A source serves hundreds of pages from one template. Its pages are cut into blocks (the text of each
paragraph-like element, `page_blocks`), each at a location: the last PATH_DEPTH steps of its element path,
tag + id + classes with digits folded ("article>div.entry-content>p"). Over the source's recent pages, with
the text the extractor kept from each, `learn` finds

- chrome texts: a block text found on many of the pages (share bars, newsletter boxes, footers);
- chrome locations: where the extractor drops the text on most pages (comments, related cards), or where the
  text is mostly links (teaser lists, "most read"), or mostly chrome texts;
- content locations: where the extractor keeps the text on most pages (the article body's paragraphs,
  whatever its containers are called).

`apply` uses that on one page, with the text the extractor kept from it: lines that come from chrome are
dropped, and when the extractor kept too little of what the content locations hold on this page (it lost
the second half of a split body, say), the missing content blocks are put back where they stand on the
page. The extractor's per-page mistakes differ from page to page while the template stays, so the source's
majority corrects the odd page. A page that does not fit the template (another layout) is left as it is;
so is a source with too few pages to learn from. Thresholds are the named constants below, chosen on the
synthetic multi-site corpus of bench/template_corpus.py by folds over sites (docs/design.md, #17).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

PATH_DEPTH = 4         # steps of the element path a location keeps: enough to tell the body's <p> from a comment's
                       # or a card's; more would split one location over pages that wrap the body differently
MIN_PAGES = 5          # a source with fewer pages learns nothing (one page cannot show what repeats)
PATH_MIN_SHARE = 0.2   # a location found on fewer of the pages is the page's own, not the template's …
PATH_MIN_PAGES = 3     # … and on at least this many pages
REPEAT_SHARE = 0.3     # a block text on this share of the pages (and ≥ PATH_MIN_PAGES) is chrome, as in
                       # balkanwatch/boilerplate.py (MIN_SHARE): an article's own sentence is on one page
KEPT_MATCH = 0.5       # a block is kept by the extractor when this share of its word trigrams is in its text
HELD_MATCH = 0.9       # a content block no line came from is missing unless this share of its trigrams is in the
                       # text anyway (an extractor that merged two paragraphs into one line has it)
CONTENT_KEPT = 0.8     # a location whose (non-repeated) words the extractor kept at least this share of: content
CHROME_KEPT = 0.2      # … at most this share: chrome (comments, cards the extractor already drops)
LINK_CHROME = 0.5      # a location whose words are half link text is navigation (teasers, "most read", tags);
                       # fixed, not fitted: on the bench corpus (inline links in a quarter of the body paragraphs)
                       # no value from 0.2 to 0.8 changes a page, so the safer half was taken (a body of
                       # link-heavy paragraphs, a round-up, must not become chrome)
REPEAT_CHROME = 0.5    # a location whose words are mostly chrome texts is chrome (footers, share bars)
FIT_MIN = 0.4          # the template applies to a page when locations it knows hold this share of the page's words
COVER_MIN = 0.95       # recover content blocks when the extractor kept less than this share of their words
LEARN_WINDOW = 20      # a source's last pages a template is learned from (the bench learns from 20 pages a site)
RELEARN_NEW = 20       # … and learned again once this many new pages came since (the window has turned over)
MAX_DROP = 0.5         # chrome removal never takes more than half of the extractor's words (in doubt, keep)

BLOCK_TAGS = frozenset({"body", "main", "article", "section", "div", "header", "footer", "nav", "aside", "p",
                        "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
                        "pre", "table", "tr", "td", "th", "caption", "figure", "figcaption", "form", "address",
                        "details", "summary", "center", "fieldset", "hr", "br"})
SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "select", "button",
                       "textarea", "head", "title", "meta", "link"})
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Block:
    """The own text of one paragraph-like element of a page, where it stands."""

    path: str
    text: str
    tokens: tuple[str, ...]     # lowercased \w+ words (the WCXB tokenisation)
    linked: int                 # how many of them are link text

    @cached_property
    def key(self) -> str:
        """What a block text is compared across pages by (hashed once: learn and apply ask it per block often)."""
        return hashlib.sha1(" ".join(self.tokens).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Template:
    """What one source's template says (picklable: it travels to the extraction workers)."""

    content: frozenset[str]       # locations holding the article
    chrome: frozenset[str]        # locations holding chrome
    chrome_texts: frozenset[str]  # Block.key of texts repeated across the pages
    pages: int                    # pages it was learned from


def _step(el: HtmlElement) -> str:
    ident = el.get("id")
    classes = sorted(set((el.get("class") or "").split()))
    out = str(el.tag)
    if ident:
        out += "#" + _DIGITS.sub("0", ident.strip())
    if classes:
        out += "." + ".".join(_DIGITS.sub("0", c) for c in classes)
    return out


def _path(steps: list[str]) -> str:
    return ">".join(steps[-PATH_DEPTH:])


class _Walk:
    """Blocks of a tree in document order: each block element's own text, its inline children's included."""

    def __init__(self) -> None:
        self.blocks: list[Block | None] = []

    def block(self, el: HtmlElement, steps: list[str]) -> None:
        steps = [*steps, _step(el)]
        at = len(self.blocks)
        self.blocks.append(None)
        parts: list[str] = [el.text or ""]
        linked: list[str] = [el.text or ""] if el.tag == "a" else []
        self.children(el, steps, parts, linked, el.tag == "a")
        text = " ".join(" ".join(parts).split())
        tokens = tuple(_WORD.findall(text.lower()))
        if tokens:
            self.blocks[at] = Block(_path(steps), text, tokens, len(_WORD.findall(" ".join(linked))))

    def children(self, el: HtmlElement, steps: list[str], parts: list[str], linked: list[str], in_link: bool) -> None:
        for child in el:
            tag = child.tag
            if isinstance(tag, str) and tag not in SKIP_TAGS:
                if tag in BLOCK_TAGS:
                    self.block(child, steps)
                else:
                    link = in_link or tag == "a"
                    parts.append(child.text or "")
                    if link:
                        linked.append(child.text or "")
                    self.children(child, [*steps, _step(child)], parts, linked, link)
            parts.append(child.tail or "")
            if in_link:
                linked.append(child.tail or "")


def page_blocks(tree: HtmlElement) -> list[Block]:
    """The page's blocks in document order (scripts, styles and forms' controls left out)."""
    body = tree.find("body") if tree.tag != "body" else tree
    walk = _Walk()
    walk.block(body if body is not None else tree, [])
    return [b for b in walk.blocks if b is not None]


def _grams(tokens: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(tokens)] if len(tokens) < 3 else [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]


class _Text:
    """The extractor's text of a page, indexed for 'did it keep this block?'."""

    def __init__(self, text: str) -> None:
        self.lines = [ln for ln in text.split("\n") if ln.strip()]
        self.tokens = [tuple(_WORD.findall(ln.lower())) for ln in self.lines]
        self.grams = {g for t in self.tokens if len(t) >= 3 for g in _grams(t)}
        self.short = {t for t in self.tokens if t}

    def keeps(self, block: Block, share: float | None = None) -> bool:
        """Is most of the block (KEPT_MATCH of its trigrams, or `share`) in the text? Short blocks: as a line."""
        if len(block.tokens) < 3:
            return block.tokens in self.short
        grams = _grams(block.tokens)
        return sum(g in self.grams for g in grams) >= (KEPT_MATCH if share is None else share) * len(grams)


@dataclass
class _PathStats:
    pages: set[int]
    words: int = 0
    kept: int = 0
    linked: int = 0
    repeated: int = 0


def learn(pages: Sequence[tuple[Sequence[Block], str]]) -> Template | None:
    """The template of one source from its recent pages: (page_blocks of the page, the text extracted from
    it) each; None when there are fewer than MIN_PAGES pages or nothing is learned."""
    if len(pages) < MIN_PAGES:
        return None
    per_page = [(blocks, _Text(text)) for blocks, text in pages]
    floor = max(PATH_MIN_PAGES, PATH_MIN_SHARE * len(pages))
    texts: dict[str, set[int]] = defaultdict(set)
    for i, (blocks, _) in enumerate(per_page):
        for b in blocks:
            texts[b.key].add(i)
    repeated = frozenset(k for k, on in texts.items() if len(on) >= max(PATH_MIN_PAGES, REPEAT_SHARE * len(pages)))
    stats: dict[str, _PathStats] = defaultdict(lambda: _PathStats(set()))
    for i, (blocks, text) in enumerate(per_page):
        for b in blocks:
            s = stats[b.path]
            s.pages.add(i)
            if b.key in repeated:
                s.repeated += len(b.tokens)
                continue
            s.words += len(b.tokens)
            s.linked += b.linked
            s.kept += len(b.tokens) if text.keeps(b) else 0
    verdicts = {path: _verdict(s) for path, s in stats.items() if len(s.pages) >= floor}
    content = {path for path, v in verdicts.items() if v == "content"}
    chrome = {path for path, v in verdicts.items() if v == "chrome"}
    if not content and not chrome and not repeated:
        return None
    return Template(frozenset(content), frozenset(chrome), repeated, len(pages))


def _verdict(s: _PathStats) -> str:
    """content | chrome | unknown, for one location's statistics over the pages."""
    if s.repeated >= REPEAT_CHROME * (s.repeated + s.words):
        return "chrome"
    if s.linked >= LINK_CHROME * s.words:
        return "chrome"
    if s.kept >= CONTENT_KEPT * s.words:
        return "content"
    return "chrome" if s.kept <= CHROME_KEPT * s.words else "unknown"


def _line_blocks(text: _Text, blocks: Sequence[Block]) -> list[int | None]:
    """For each line of the text, the block it came from (most of the line's trigrams in it), or None."""
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, b in enumerate(blocks):
        for g in set(_grams(b.tokens)):
            index[g].append(i)
    out: list[int | None] = []
    for tokens in text.tokens:
        grams = _grams(tokens) if tokens else []
        votes: dict[int, int] = defaultdict(int)
        for g in grams:
            for i in index.get(g, ()):
                votes[i] += 1
        best = max(votes, key=lambda i: (votes[i], -i), default=None)
        out.append(best if best is not None and votes[best] >= KEPT_MATCH * len(grams) else None)
    return out


def _is_chrome(t: Template, b: Block) -> bool:
    return b.key in t.chrome_texts or b.path in t.chrome


def _is_content(t: Template, b: Block) -> bool:
    return b.path in t.content and b.key not in t.chrome_texts


def fits(t: Template, blocks: Sequence[Block]) -> bool:
    """Does the page look like the template's pages (its known locations hold most of its words)?"""
    total = sum(len(b.tokens) for b in blocks)
    known = sum(len(b.tokens) for b in blocks if b.path in t.content or b.path in t.chrome)
    return total > 0 and known >= FIT_MIN * total and any(_is_content(t, b) for b in blocks)


def apply(t: Template, blocks: Sequence[Block], text: str) -> str:
    """The extractor's `text` of a page (of which `blocks` are the page_blocks) corrected by the source's
    template: chrome lines dropped, content the extractor lost put back in page order. Unchanged when the
    page does not fit the template."""
    if not fits(t, blocks):
        return text
    extracted = _Text(text)
    origin = _line_blocks(extracted, blocks)
    chrome = [o is not None and _is_chrome(t, blocks[o]) and not _is_content(t, blocks[o]) for o in origin]
    words = [len(tk) for tk in extracted.tokens]
    if sum(w for w, c in zip(words, chrome, strict=True) if c) > MAX_DROP * sum(words):
        chrome = [False] * len(chrome)
    placed: list[tuple[float, int, str]] = []
    last = -1.0
    for n, (line, o, drop) in enumerate(zip(extracted.lines, origin, chrome, strict=True)):
        last = float(o) if o is not None else last + 1e-6
        if not drop:
            placed.append((last, n, line))
    content = [i for i, b in enumerate(blocks) if _is_content(t, b)]
    covered = {o for o in origin if o is not None}
    missing = [i for i in content if i not in covered and not extracted.keeps(blocks[i], HELD_MATCH)]
    need = sum(len(blocks[i].tokens) for i in content)
    if need - sum(len(blocks[i].tokens) for i in missing) < COVER_MIN * need:
        placed += [(float(i), len(extracted.lines), blocks[i].text) for i in missing]
    return "\n".join(line for _, _, line in sorted(placed))


def due(has_template: bool, new_pages: int) -> bool:
    """Should a source's template be learned (again)? Without one, as soon as it has MIN_PAGES pages; with
    one, once RELEARN_NEW pages came since (a template reads 20 pages: each run relearning it would cost
    more than extracting a run's few new pages)."""
    return new_pages >= (RELEARN_NEW if has_template else MIN_PAGES)


NOTHING_LEARNED = ("none", "")   # the row stored when a source's pages taught nothing: it is not asked again
                                 # before RELEARN_NEW more pages (learning reads LEARN_WINDOW pages each time)


def rows(t: Template | None) -> list[tuple[str, str]]:
    """(kind, key) rows of a template as stored (table source_templates); None: the nothing-learned row."""
    if t is None:
        return [NOTHING_LEARNED]
    return ([("content", p) for p in sorted(t.content)] + [("chrome", p) for p in sorted(t.chrome)]
            + [("chrome_text", k) for k in sorted(t.chrome_texts)])


def from_rows(stored: Iterable[tuple[str, str]], pages: int) -> Template | None:
    """The template back from its stored rows (None from the nothing-learned row)."""
    by: dict[str, set[str]] = defaultdict(set)
    for kind, key in stored:
        by[kind].add(key)
    if not (by["content"] or by["chrome"] or by["chrome_text"]):
        return None
    return Template(frozenset(by["content"]), frozenset(by["chrome"]), frozenset(by["chrome_text"]), pages)
