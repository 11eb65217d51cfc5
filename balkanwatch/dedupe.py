"""Story clustering: which earlier article, if any, is this one a copy of. Pure: no I/O.

    exact keys (same normalised text, same URL / canonical URL, same feed GUID in one source) → that story
    else text → folded words (textnorm) → word 5-gram shingles → 32-bit hashes, 1 in SAMPLE_MOD kept
         → candidates from an inverted index (shared sampled shingles) → verdict per candidate
         → the article joins the story of its best match, or starts its own.

Mod-sampling keeps the sketch small and still estimates Jaccard and containment without bias, so a
truncated copy (high containment, low Jaccard) is found as well as a lightly edited one (high both).
In doubt: not a duplicate. The thresholds are provisional (chosen on the seed corpus and the cases in
tests/test_dedupe.py) until the labelled evaluation of issue #3 pins them.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import NamedTuple

import numpy as np

from balkanwatch.textnorm import words

SHINGLE_WORDS = 5       # word n-grams: long enough that shared topic vocabulary is not a match
SAMPLE_MOD = 4          # keep shingles whose hash % 4 == 0: a quarter of the memory, unbiased estimates
MIN_SKETCH = 8          # sketches smaller than this (≈ < 40 words) never match: too little evidence
JACCARD_MIN = 0.5       # near-identical copies (re-headlined, lightly edited, reordered)
CONTAINMENT_MIN = 0.6   # truncated or padded copies: most of the smaller text is in the larger one…
SHARED_MIN = 12         # …and they share at least this many sampled shingles (≈ 50 shingles ≈ 3 paragraphs)
MAX_CANDIDATES = 20     # verified per article, most-shared first
STORY_WINDOW_DAYS = 30  # a copy joins a story whose articles are at most this much older (wire copies come
                        # within days; a month bounds the index held in memory at the start of a run)
SAME_SITE_TITLE_MIN = 0.3  # two articles of one publisher are copies by their text only when their titles share
                        # at least this share of their words (Jaccard of folded title words of 3+ letters).
                        # Under different headlines, one site's same text is its paywall notice, teaser or
                        # template, not a copy: a session-33 probe made six paywalled articles of one site one
                        # story, so a surge on such a site counted as one. A site's own re-posts keep most of
                        # their headline ("Clash in Zvečan" → "Clash in Zvečan: three injured": 0.75).
                        # Gated by bench/dedupe_eval.py (its "template" negatives and every copy kind).


FUTURE_TOLERANCE = timedelta(hours=1)   # a published date later than fetch time + this is not believed


def story_time(published: datetime | None, fetched: datetime) -> datetime:
    """When an article entered its story: its publication time, or the fetch time when that is unknown or
    in the future (clock skew, scheduled posts, junk dates)."""
    if published is None or published > fetched + FUTURE_TOLERANCE:
        return fetched
    return published


def time_groups(times: Sequence[datetime], gap: timedelta) -> list[tuple[int, int]]:
    """[start, end) ranges of `times` (sorted) split wherever two consecutive times are more than `gap` apart.
    A run's articles are assigned group by group, each against the stories within `gap` of it: one article
    dated a year back (an archive page, a backfilled sitemap, a wrong page date) no longer loads the whole
    year's stories into the index of every other article of its run."""
    cuts = [i for i in range(1, len(times)) if times[i] - times[i - 1] > gap]
    return list(zip([0, *cuts], [*cuts, len(times)], strict=True)) if times else []


@dataclass(frozen=True)
class Sketch:
    """The sampled shingle hashes of one article."""

    article_id: str
    hashes: frozenset[int]


@dataclass(frozen=True)
class Similarity:
    shared: int
    jaccard: float
    containment: float   # of the smaller sketch in the larger


@dataclass(frozen=True)
class StoryAssignment:
    """The verdict for one article: its story, and the evidence (None when it starts a story)."""

    article_id: str
    story_id: str
    matched_article_id: str | None
    jaccard: float | None
    containment: float | None
    rule: str                      # new-story | jaccard | containment | exact-text | exact-url | exact-guid


EXACT_GUARD_JACCARD = 0.1    # an exact URL/GUID key is not believed when both texts are long enough to compare
EXACT_GUARD_CONTAINMENT = 0.2  # and they share almost nothing (a canonical pointing at a section page, a reused GUID)


def exact_keys(*, content_hash: str | None, urls: Iterable[str | None], source: str | None = None,
               guid: str | None = None) -> tuple[str, ...]:
    """Keys that make two articles one story without comparing texts: the same normalised text, the same
    normalised URL (the article's, its final one after redirects, its rel=canonical; site roots ignored,
    they are a common canonical bug), the same feed GUID within one source."""
    from balkanwatch.urls import normalise_url

    keys = [f"text:{content_hash}"] if content_hash else []
    for url in urls:
        if url and url.startswith(("http://", "https://")):
            norm = normalise_url(url)
            if norm.split("://", 1)[1].strip("/").count("/") >= 1:   # host/path, not a bare host
                keys.append(f"url:{norm}")
    if guid and source:
        keys.append(f"guid:{source}|{guid}")
    return tuple(dict.fromkeys(keys))


def shingle_hashes(text: str) -> frozenset[int]:
    """Sampled hashes of the word SHINGLE_WORDS-grams of the folded text."""
    ws = words(text)
    if len(ws) < SHINGLE_WORDS:
        ws = ws + [""] * (SHINGLE_WORDS - len(ws)) if ws else []
    out = set()
    for i in range(max(0, len(ws) - SHINGLE_WORDS + 1)):
        h = zlib.crc32(" ".join(ws[i:i + SHINGLE_WORDS]).encode("utf-8"))
        if h % SAMPLE_MOD == 0:
            out.add(h)
    return frozenset(out)


def sketch(article_id: str, text: str) -> Sketch:
    return Sketch(article_id, shingle_hashes(text))


class Headline(NamedTuple):
    """Who published an article under which title: what tells one site's template text from a copy."""

    publisher: str | None = None
    title: str | None = None


NO_HEADLINE = Headline()


def title_words(title: str | None) -> frozenset[int]:
    """Hashes of the folded words of 3+ letters of a title."""
    return frozenset(zlib.crc32(w.encode("utf-8")) for w in words(title or "") if len(w) >= 3)


def headline(publisher: str | None, title: str | None) -> Headline:
    return Headline(publisher or None, title or None)


def other_headlines(a: Headline, b: Headline) -> bool:
    """Whether two articles are one publisher's under different headlines (SAME_SITE_TITLE_MIN): then the
    text they share is the site's (a paywall notice, a teaser), not a copy. Unknown publisher or title: no."""
    if a.publisher is None or a.publisher != b.publisher:
        return False
    words_a, words_b = title_words(a.title), title_words(b.title)
    if not words_a or not words_b:
        return False
    shared = len(words_a & words_b)
    return shared / (len(words_a) + len(words_b) - shared) < SAME_SITE_TITLE_MIN


def similarity(a: frozenset[int], b: frozenset[int]) -> Similarity:
    shared = len(a & b)
    union = len(a) + len(b) - shared
    smaller = min(len(a), len(b))
    return Similarity(shared, shared / union if union else 0.0, shared / smaller if smaller else 0.0)


@dataclass(frozen=True)
class Thresholds:
    """The verdict's thresholds; the defaults are the shipped ones (see the constants above)."""

    jaccard: float = JACCARD_MIN
    containment: float = CONTAINMENT_MIN
    shared: int = SHARED_MIN
    min_sketch: int = MIN_SKETCH


SHIPPED = Thresholds()


def verdict(sim: Similarity, size_a: int, size_b: int, t: Thresholds = SHIPPED) -> str | None:
    """'jaccard' or 'containment' when the two are copies of one story; None otherwise (in doubt: None)."""
    if min(size_a, size_b) < t.min_sketch:
        return None
    if sim.jaccard >= t.jaccard:
        return "jaccard"
    if sim.containment >= t.containment and sim.shared >= t.shared:
        return "containment"
    return None


class WindowColumns(NamedTuple):
    """Known articles as columns: article i has hashes[hash_offsets[i]:hash_offsets[i + 1]] (its sketch),
    keys[key_offsets[i]:key_offsets[i + 1]] (its exact keys, hashed by `key_hashes`) and, when given, the
    headline publishers[i] and titles[i]."""

    article_ids: Sequence[str]
    story_ids: Sequence[str]
    hash_offsets: np.ndarray
    hashes: np.ndarray
    key_offsets: np.ndarray
    keys: np.ndarray
    publishers: Sequence[str | None] = ()
    titles: Sequence[str | None] = ()


def _offsets(lists: Sequence[Sequence[int]]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(x) for x in lists], dtype=np.int64)]).astype(np.int64)


MERGE_EVERY = 2_000    # articles buffered in the index's small dict before they are merged into its arrays
                       # (a merge is one sorted insert, O(postings) memcpy: cheap, so the dict stays small)


class StoryIndex:
    """Sketches of known articles with their stories, and an inverted index over the sampled hashes.

    Compact, for a million articles in well under 2 GB: articles are numbered; sketches live in one uint32
    array with offsets; postings are two sorted numpy arrays (hash, article number) plus a small dict of
    the most recent articles, merged into the arrays every MERGE_EVERY articles; exact keys are 64-bit
    hashes. Python sets and per-hash lists (the first version) took ≈ 17 KB per article.
    """

    def __init__(self, thresholds: Thresholds = SHIPPED) -> None:
        self.thresholds = thresholds
        self._num: dict[str, int] = {}
        self._ids: list[str] = []
        self._story: array[int] = array("i")
        self._story_ids: list[str] = []
        self._story_num: dict[str, int] = {}
        self._sketch = array("I")
        self._offset = array("q", [0])
        self._post_hash = np.empty(0, dtype=np.uint32)
        self._post_art = np.empty(0, dtype=np.int32)
        self._recent: dict[int, list[int]] = defaultdict(list)
        self._recent_articles = 0
        self._exact: dict[int, int] = {}
        self._publisher = array("i")          # publisher number per article (-1: unknown)
        self._publisher_num: dict[str, int] = {}
        self._title: list[str | None] = []    # compared only with a same-publisher candidate's: folded then
        self._text_key = array("Q")           # each article's exact-text key hash (0: none)
        self._twins: dict[int, dict[int, list[int]]] = {}   # text key → publisher → the later articles
                                              # holding it (the first: _exact); only texts held twice or more
        self._notices: set[int] = set()       # text keys that are a site's notice, not an article (`_notice`)
        self._notice_cache: tuple[int, frozenset[int]] = (0, frozenset())   # (notices seen, their shingles)

    def __len__(self) -> int:
        return len(self._ids)

    def story_of(self, article_id: str) -> str | None:
        n = self._num.get(article_id)
        return None if n is None else self._story_ids[self._story[n]]

    def story_count(self) -> int:
        return len(self._story_ids)

    def _hashes(self, n: int) -> frozenset[int]:
        return frozenset(self._sketch[self._offset[n]: self._offset[n + 1]])

    def _number(self, article_id: str, story_id: str, hashed_keys: Iterable[int],
                head: Headline = NO_HEADLINE, text_key: int = 0) -> int:
        """Give a new article its number, its story's number, its exact keys (hashed; `text_key` the one of
        its text, 0 if none) and its headline; returns the number."""
        n = len(self._ids)
        pub = -1 if head.publisher is None else self._publisher_num.setdefault(head.publisher, len(self._publisher_num))
        if text_key:
            self._notice(text_key, head)       # before it holds the key: compared with the earlier holders
            if text_key in self._exact:
                self._twins.setdefault(text_key, {}).setdefault(pub, []).append(n)
        self._num[article_id] = n
        self._ids.append(article_id)
        if story_id not in self._story_num:
            self._story_num[story_id] = len(self._story_ids)
            self._story_ids.append(story_id)
        self._story.append(self._story_num[story_id])
        for h in hashed_keys:
            self._exact.setdefault(int(h), n)
        self._publisher.append(pub)
        self._title.append(head.title)
        self._text_key.append(text_key)
        return n

    def _same_headline(self, text_key: int, head: Headline) -> int | None:
        """The first holder of `text_key` of the same publisher under about the same headline (not
        `other_headlines`): a site re-posting the page whose text is its notice."""
        if head.publisher is None or head.title is None:
            return None
        return next((m for m in self._holders(text_key, head.publisher) if self._title[m] is not None
                     and not other_headlines(Headline(head.publisher, self._title[m]), head)), None)

    def _holders(self, text_key: int, publisher: str) -> list[int]:
        """The articles of `publisher` holding `text_key`, oldest first (never all holders: a wire text held
        by hundreds of publishers is not walked for each of them)."""
        pub = self._publisher_num.get(publisher, -2)
        first = self._exact[text_key]
        return ([first] if self._publisher[first] == pub else []) + self._twins.get(text_key, {}).get(pub, [])

    def _notice_shingles(self) -> frozenset[int]:
        """The sampled shingles of every notice text (`_notice`): no evidence of a story in any article, so
        another site's page showing the notice, or an article's lede above it, is compared without them."""
        if self._notice_cache[0] != len(self._notices):
            texts = [self._hashes(self._exact[h]) for h in self._notices]   # a notice is a held text (_notice)
            self._notice_cache = (len(self._notices), frozenset().union(*texts))
        return self._notice_cache[1]

    def _notice(self, text_key: int, head: Headline) -> bool:
        """Whether the text of key `text_key` is a site's notice, not an article: its publisher already holds
        it under another headline (`other_headlines`: a paywall notice, a teaser). Then it is no evidence of
        a story for any publisher: not as an exact key, nor by its shingles. Once found, remembered (_notices)."""
        if text_key in self._notices:
            return True
        if text_key not in self._exact or head.publisher is None:
            return False
        if any(self._other_headline(m, head) for m in self._holders(text_key, head.publisher)):
            self._notices.add(text_key)
            return True
        return False

    def _other_headline(self, n: int, head: Headline) -> bool:
        """other_headlines(article n's headline, head), without reading n's title when the publishers differ."""
        if head.publisher is None or self._publisher_num.get(head.publisher, -2) != self._publisher[n]:
            return False
        return other_headlines(Headline(head.publisher, self._title[n]), head)

    def add(self, article_id: str, hashes: frozenset[int], story_id: str, keys: Iterable[str] = (),
            head: Headline = NO_HEADLINE) -> None:
        if article_id in self._num:
            return
        n = self._number(article_id, story_id, key_hashes(keys), head, _text_key(keys))
        ordered = sorted(hashes)
        self._sketch.extend(ordered)
        self._offset.append(len(self._sketch))
        for h in ordered:
            self._recent[h].append(n)
        self._recent_articles += 1
        if self._recent_articles >= MERGE_EVERY:
            self._merge()

    def add_many(self, rows: Iterable[tuple[str, Iterable[int], str, Iterable[int]]]) -> None:
        """Known articles (article_id, hashes, story_id, `key_hashes` of their exact keys) in bulk, in the
        order given: the same index as calling `add` for each (see `add_columns`)."""
        ids, stories, sketches, keys = [], [], [], []
        for article_id, hashes, story_id, hashed_keys in rows:
            ids.append(article_id)
            stories.append(story_id)
            sketches.append(sorted(set(hashes)))
            keys.append(list(hashed_keys))
        self.add_columns(WindowColumns(
            ids, stories, _offsets(sketches), np.fromiter(chain.from_iterable(sketches), dtype=np.uint32),
            _offsets(keys), np.fromiter(chain.from_iterable(keys), dtype=np.uint64)))

    def add_columns(self, w: WindowColumns) -> None:
        """Known articles in bulk, as columns (how the warehouse hands over a run's 30-day window: no Python
        list per article). The same index as `add` for each in order, but the postings are built with one
        sort instead of one append per hash (20,000 articles: ≈0.6 s instead of ≈2.3 s), and the exact keys
        come hashed (stored at assignment: deriving them normalised every URL of the window on every run)."""
        self._merge()
        n0 = len(self._ids)
        keys, ko = w.keys.tolist(), w.key_offsets.tolist()
        keep = []
        for i, (article_id, story_id) in enumerate(zip(w.article_ids, w.story_ids, strict=True)):
            if article_id not in self._num:
                head = Headline(w.publishers[i], w.titles[i]) if w.publishers else NO_HEADLINE
                mine = keys[ko[i]:ko[i + 1]]   # the text's key first, as exact_keys orders them
                self._number(article_id, story_id, mine, head, int(mine[0]) if mine else 0)
                keep.append(i)
        if not keep:
            return
        lengths = np.diff(w.hash_offsets)
        flat = np.asarray(w.hashes, dtype=np.uint32)
        if len(keep) < len(w.article_ids):                      # some were known already
            kept = np.zeros(len(w.article_ids), dtype=bool)
            kept[keep] = True
            flat, lengths = flat[np.repeat(kept, lengths)], lengths[kept]
        owner = np.repeat(np.arange(n0, n0 + len(keep), dtype=np.int32), lengths)
        if np.any((owner[1:] == owner[:-1]) & (flat[1:] <= flat[:-1])):   # a sketch not sorted and distinct
            order = np.lexsort((flat, owner))
            flat, owner = flat[order], owner[order]
            repeated = np.concatenate([[False], (owner[1:] == owner[:-1]) & (flat[1:] == flat[:-1])])
            flat, owner = flat[~repeated], owner[~repeated]
            lengths = np.bincount(owner - n0, minlength=len(keep))
        self._sketch.frombytes(flat.tobytes())
        self._offset.extend((self._offset[-1] + np.cumsum(lengths)).tolist())
        self._insert_postings(flat, owner)

    def _merge(self) -> None:
        """Fold the recent dict into the sorted posting arrays."""
        if not self._recent:
            return
        hs = np.fromiter((h for h, arts in self._recent.items() for _ in arts), dtype=np.uint32)
        ns = np.fromiter((a for arts in self._recent.values() for a in arts), dtype=np.int32)
        self._insert_postings(hs, ns)
        self._recent.clear()
        self._recent_articles = 0

    def _insert_postings(self, hs: np.ndarray, ns: np.ndarray) -> None:
        """Insert (hash, article number) pairs into the sorted posting arrays; among equal hashes older
        articles stay first (the new numbers are higher, and a stable sort keeps their order)."""
        order = np.argsort(hs, kind="stable")
        hs, ns = hs[order], ns[order]
        if not len(self._post_hash):                      # a fresh index (each run's bulk load)
            self._post_hash, self._post_art = hs, ns
            return
        at = np.searchsorted(self._post_hash, hs, "right")
        self._post_hash = np.insert(self._post_hash, at, hs)
        self._post_art = np.insert(self._post_art, at, ns)

    def exact_match(self, hashes: frozenset[int], keys: Iterable[str],
                    head: Headline = NO_HEADLINE) -> tuple[str, str] | None:
        """(article, rule) of the first known article sharing an exact key, unless the texts clearly differ
        or, for the same text, it is the same publisher's under another headline (`other_headlines`), or a
        text some publisher uses so (`_notice`)."""
        for key in keys:
            n = self._exact.get(_key_hash(key))
            if n is None:
                continue
            if key.startswith("text:") and self._notice(_key_hash(key), head):
                n = self._same_headline(_key_hash(key), head)   # only the site's re-post of that page
                if n is None:
                    continue
            elif key.startswith("text:") and self._other_headline(n, head):
                continue
            theirs = self._hashes(n)
            if not key.startswith("text:") and min(len(hashes), len(theirs)) >= self.thresholds.min_sketch:
                sim = similarity(hashes, theirs)
                if sim.jaccard < EXACT_GUARD_JACCARD and sim.containment < EXACT_GUARD_CONTAINMENT:
                    continue
            return self._ids[n], "exact-" + key.split(":", 1)[0]
        return None

    def candidates(self, hashes: Iterable[int]) -> list[tuple[str, int]]:
        """Known articles sharing sampled shingles with `hashes`, most shared first (ties by id)."""
        query = sorted(hashes)
        counts: Counter[int] = Counter()
        if len(self._post_hash) and query:
            q = np.asarray(query, dtype=np.uint32)
            lo = np.searchsorted(self._post_hash, q, "left")
            hi = np.searchsorted(self._post_hash, q, "right")
            spans = [self._post_art[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True) if b > a]
            if spans:
                counts.update(np.concatenate(spans).tolist())
        recent = self._recent
        counts.update(chain.from_iterable(recent[h] for h in query if h in recent))   # one C-level count
        ranked = sorted(((self._ids[n], c) for n, c in counts.items()), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:MAX_CANDIDATES]

    def assign(self, article_id: str, hashes: frozenset[int], keys: tuple[str, ...] = (),
               head: Headline = NO_HEADLINE) -> StoryAssignment:
        """Decide this article's story against the index, then add it. Deterministic; old labels never change.
        `head`: its publisher and title, so that one site's text under other headlines is not a copy."""
        known = self.story_of(article_id)
        if known is not None:
            return StoryAssignment(article_id, known, None, None, None, "known")
        exact = self.exact_match(hashes, keys, head)
        if exact is not None:
            other, rule = exact
            sim = similarity(hashes, self._hashes(self._num[other]))
            result = StoryAssignment(article_id, self.story_of(other) or other, other, round(sim.jaccard, 4),
                                     round(sim.containment, 4), rule)
            self.add(article_id, hashes, result.story_id, keys, head)
            return result
        best: tuple[str, Similarity, str] | None = None
        text_key = _text_key(keys)
        notice = bool(text_key) and self._notice(text_key, head)
        ignored = self._notice_shingles()
        mine = hashes - ignored if ignored else hashes
        for other, _ in ([] if notice else self.candidates(mine)):   # a notice is nobody's copy…
            m = self._num[other]
            if self._other_headline(m, head) or self._text_key[m] in self._notices:   # …and has none
                continue
            theirs = self._hashes(m) - ignored if ignored else self._hashes(m)
            sim = similarity(mine, theirs)
            found = verdict(sim, len(mine), len(theirs), self.thresholds)
            if found and (best is None or (sim.containment, sim.jaccard) > (best[1].containment, best[1].jaccard)):
                best = (other, sim, found)
        if best is None:
            result = StoryAssignment(article_id, article_id, None, None, None, "new-story")
        else:
            other, sim, rule = best
            result = StoryAssignment(article_id, self.story_of(other) or other, other, round(sim.jaccard, 4),
                                     round(sim.containment, 4), rule)
        self.add(article_id, hashes, result.story_id, keys, head)
        return result


def _text_key(keys: Iterable[str]) -> int:
    """The hash of the exact-text key among `keys` (0: none)."""
    return next((_key_hash(k) for k in keys if k.startswith("text:")), 0)


def _key_hash(key: str) -> int:
    """64-bit hash of an exact key (collisions at 2^-64 per pair: far below any other error here)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def key_hashes(keys: Iterable[str]) -> list[int]:
    """The 64-bit hashes of exact keys, as the index holds them and the warehouse stores them."""
    return [_key_hash(key) for key in keys]


# -- backtesting thresholds (`balkanwatch dedupe-backtest`) ---------------------------------------------------
def recluster(rows: Iterable[tuple[str, frozenset[int], tuple[str, ...], Headline]], t: Thresholds) -> dict[str, str]:
    """Assign every (article_id, hashes, exact keys, headline) row, in the order given, with thresholds `t`."""
    index = StoryIndex(t)
    return {art: index.assign(art, hashes, keys, head).story_id for art, hashes, keys, head in rows}


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


@dataclass(frozen=True)
class PartitionChange:
    """How a proposed clustering differs from the current one (pairs = articles in the same story)."""

    articles: int
    stories_now: int
    stories_then: int
    pairs_now: int
    pairs_then: int
    pairs_kept: int            # together in both
    moved: tuple[str, ...]     # articles whose story-mates change

    @property
    def pairs_added(self) -> int:
        return self.pairs_then - self.pairs_kept

    @property
    def pairs_removed(self) -> int:
        return self.pairs_now - self.pairs_kept


def compare_partitions(now: dict[str, str], then: dict[str, str]) -> PartitionChange:
    """Compare two clusterings of the same articles."""
    arts = sorted(set(now) & set(then))
    both = Counter((now[a], then[a]) for a in arts)
    groups_now: dict[str, set[str]] = defaultdict(set)
    groups_then: dict[str, set[str]] = defaultdict(set)
    for a in arts:
        groups_now[now[a]].add(a)
        groups_then[then[a]].add(a)
    moved = tuple(a for a in arts if groups_now[now[a]] != groups_then[then[a]])
    return PartitionChange(len(arts), len(groups_now), len(groups_then), _pairs(len(g) for g in groups_now.values()),
                           _pairs(len(g) for g in groups_then.values()), _pairs(both.values()), moved)
