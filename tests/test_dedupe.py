"""Story verdicts on the seed articles and their variants (pure functions, no I/O)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from app.corpus import LOCAL_ARTICLE, seed_articles, to_cyrillic
from balkanwatch.dedupe import StoryIndex, key_hashes, shingle_hashes, similarity, verdict

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SEEDS = {a.story: a for a in seed_articles(NOW) if a.slug.startswith("seed-")}

def text(paras: list[str]) -> str:
    return "\n".join(paras)


def same_story(a: str, b: str) -> bool:
    ha, hb = shingle_hashes(a), shingle_hashes(b)
    return verdict(similarity(ha, hb), len(ha), len(hb)) is not None


def test_the_five_seeds_are_five_stories() -> None:
    for a, b in itertools.combinations(SEEDS.values(), 2):
        assert not same_story(text(a.paragraphs), text(b.paragraphs)), (a.story, b.story)


@pytest.mark.parametrize("variant", ["truncated 40%", "re-headlined with dateline", "reordered", "padded",
                                     "lightly edited"])
def test_copies_join_their_original(variant: str) -> None:
    orig = SEEDS["seed-000"].paragraphs
    n = len(orig)
    copy = {
        "truncated 40%": orig[: int(n * 0.4)],
        "re-headlined with dateline": ["Türkiye back at the helm of KFOR", "ANKARA (Wire) — " + orig[0]] + orig[1:-3],
        "reordered": orig[n // 2:] + orig[: n // 2],
        "padded": orig[: int(n * 0.6)] + LOCAL_ARTICLE + ["Local reaction was muted, the mayor of Prizren said."],
        "lightly edited": [p.replace("Türkiye", "Turkey").replace("KFOR", "the Kosovo Force") for p in orig],
    }[variant]
    assert same_story(text(orig), text(copy))


def test_a_cyrillic_copy_joins_the_latin_original() -> None:
    latin = text(LOCAL_ARTICLE)
    assert same_story(latin, to_cyrillic(latin))


def test_sharing_two_paragraphs_or_boilerplate_is_not_a_copy() -> None:
    a, b = SEEDS["seed-003"].paragraphs, SEEDS["seed-000"].paragraphs
    quoting = a[:10] + b[3:5]
    assert not same_story(text(quoting), text(b))
    footer = ["Subscribe to get the latest posts sent to your email.",
              "More stories like this are available on bloomberg.com", "©2023 Bloomberg L.P."]
    assert not same_story(text(SEEDS["seed-002"].paragraphs + footer), text(SEEDS["seed-004"].paragraphs + footer))


def test_index_assigns_stories_incrementally_and_deterministically() -> None:
    corpus = sorted(seed_articles(NOW), key=lambda a: (a.published, a.slug))
    runs = []
    for _ in range(2):
        index = StoryIndex()
        runs.append({a.slug: index.assign(a.slug, shingle_hashes(text(a.paragraphs))) for a in corpus})
    assert runs[0] == runs[1]
    got = runs[0]
    labels = {a.slug: a.story for a in corpus}
    for x, y in itertools.combinations(labels, 2):
        assert (got[x].story_id == got[y].story_id) == (labels[x] == labels[y]), (x, y)
    copy = got["turkey-to-lead-kfor"]
    assert copy.story_id == "seed-001" and copy.matched_article_id == "seed-001" and copy.rule in ("jaccard", "containment")
    assert got["seed-001"].rule == "new-story"


def test_bulk_loaded_index_answers_exactly_like_one_built_article_by_article() -> None:
    """add_many (a run loading its 30-day window) must equal add in a loop: same stories, matches, ranks."""
    import random

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(400)]
    docs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(40, 160))) for _ in range(120)]
    docs += [d[: len(d) // 2] for d in docs[:30]]                    # truncated copies
    known = [(f"a{i}", shingle_hashes(d), f"s{i % 90}", (f"url:{i % 100}",)) for i, d in enumerate(docs)]
    known += [(f"b{i}", shingle_hashes(f"brief {i}"), f"t{i}", (f"text:{i}",)) for i in range(30)]   # too short
    rng.shuffle(known)
    one_by_one, bulk = StoryIndex(), StoryIndex()
    for art, hashes, story, keys in known[:50]:                      # some already there, then a bulk load
        one_by_one.add(art, hashes, story, keys)
        bulk.add(art, hashes, story, keys)
    for art, hashes, story, keys in known[50:]:
        one_by_one.add(art, hashes, story, keys)
    hashed = [(art, hashes, story, key_hashes(keys)) for art, hashes, story, keys in known]   # as stored
    bulk.add_many(hashed[50:] + hashed[:5])                          # repeats are ignored, as by add
    fresh = StoryIndex()
    fresh.add_many(hashed)                                           # a run's index: one bulk load
    probes = [" ".join(rng.choice(vocab) for _ in range(80)) for _ in range(20)] + docs[::7]
    probes += [f"brief {i}" for i in range(0, 30, 3)]                # joined only by their exact keys
    joined = 0
    for i, probe in enumerate(probes):
        hashes = shingle_hashes(probe)
        assert bulk.candidates(hashes) == one_by_one.candidates(hashes)
        keys = (f"text:{probe.split()[1]}",) if probe.startswith("brief") else (f"url:{i}",)
        got = bulk.assign(f"p{i}", hashes, keys)
        assert got == one_by_one.assign(f"p{i}", hashes, keys) == fresh.assign(f"p{i}", hashes, keys)
        joined += got.rule == "exact-text"
    assert joined == 10
    assert len(bulk) == len(one_by_one) and bulk.story_count() == one_by_one.story_count()


def test_exact_keys_join_short_items_and_url_variants_but_not_a_section_canonical():
    from balkanwatch.dedupe import StoryIndex, exact_keys

    long_a = shingle_hashes(" ".join(f"kfor patrol {i} near jarinje reported by the mission" for i in range(40)))
    long_b = shingle_hashes(" ".join(f"energy prices {i} rose in pristina according to officials" for i in range(40)))
    short = shingle_hashes("KFOR: patrols up.")
    index = StoryIndex()
    first = index.assign("a", long_a, exact_keys(content_hash="v1:aaa", urls=["https://herald.example/news/patrols"]))
    assert first.rule == "new-story"
    amp = index.assign("amp", long_a, exact_keys(content_hash="v1:aaa2", urls=[
        "https://amp.herald.example/news/patrols/amp", None, "https://www.herald.example/news/patrols/"]))
    assert (amp.story_id, amp.rule) == ("a", "exact-url")          # canonical of the AMP page = the article
    brief = index.assign("brief", short, exact_keys(content_hash="v1:brief", urls=["https://x.example/b/1"]))
    copy = index.assign("brief-copy", short, exact_keys(content_hash="v1:brief", urls=["https://y.example/c/9"]))
    assert brief.rule == "new-story" and (copy.story_id, copy.rule) == ("brief", "exact-text")   # too short to sketch
    guid = index.assign("moved", short, exact_keys(content_hash=None, urls=[], source="Herald", guid="tag:h,1"))
    again = index.assign("moved2", short, exact_keys(content_hash=None, urls=[], source="Herald", guid="tag:h,1"))
    other_source = index.assign("o", short, exact_keys(content_hash=None, urls=[], source="Wire", guid="tag:h,1"))
    assert again.rule == "exact-guid" and again.story_id == guid.story_id and other_source.rule == "new-story"
    # a site whose canonical points at a section page for every article: different texts stay apart
    s1 = index.assign("s1", long_b, exact_keys(content_hash="v1:s1", urls=["https://bad.example/news"]))
    s2 = index.assign("s2", long_a, exact_keys(content_hash="v1:s2", urls=["https://bad.example/news"]))
    assert s1.rule == "new-story" and s2.story_id == "a" and s2.rule in ("jaccard", "containment")
    root = exact_keys(content_hash=None, urls=["https://bad.example/", "https://bad.example"])
    assert root == ()


PAYWALL = ("This article is for subscribers only. Subscribe now to read the full story and get unlimited access "
           "to our reporting from Kosovo, Serbia and the Western Balkans, with our daily newsletter and archive.\n"
           "Already a subscriber? Log in to continue reading. Questions? Contact our customer service team.")


def test_one_site_s_same_text_under_other_headlines_is_not_a_copy() -> None:
    """A paywalled site: every article's text is its subscription notice (some after a lede of their own).
    Under different headlines they are different stories, by exact text or by shingles; the site's own
    re-post under its headline is still a copy (before session 33 all six were one story). Since session
    36 a text one site uses under other headlines is its notice for everyone: another site's page showing
    it, or one without a title, is no copy of those pages either (a paywall vendor's notice on two sites
    made every paywalled article of both one story)."""
    from balkanwatch.dedupe import exact_keys, headline, other_headlines

    titles = ["KFOR patrols Zvečan after overnight clash", "Serbia and Kosovo trade accusations at the border",
              "EULEX mission extended by another two years", "Türkiye takes command of the NATO mission",
              "Power cut hits northern Mitrovica for a third day", "Pristina court sentences former commander"]
    index = StoryIndex()
    for i, title in enumerate(titles):
        body = (f"{title}: what we know so far.\n" if i % 2 else "") + PAYWALL
        got = index.assign(f"daily-{i}", shingle_hashes(body), exact_keys(content_hash=f"v1:{hash(body)}", urls=[]),
                           headline("daily.example", title))
        assert got.rule == "new-story", (title, got)
    repost = index.assign("daily-repost", shingle_hashes(PAYWALL), exact_keys(content_hash=f"v1:{hash(PAYWALL)}", urls=[]),
                          headline("daily.example", titles[0] + " (updated)"))
    assert (repost.story_id, repost.rule) == ("daily-0", "exact-text")
    elsewhere = index.assign("wire-0", shingle_hashes(PAYWALL + "\nShare this story."), (),
                             headline("wire.example", "Breaking news from the region"))
    assert (elsewhere.story_id, elsewhere.rule) == ("wire-0", "new-story")
    same_notice = [index.assign(f"other-{i}", shingle_hashes(PAYWALL), exact_keys(content_hash=f"v1:{hash(PAYWALL)}",
                                                                                  urls=[]),
                                headline("other.example", title)) for i, title in enumerate(titles[:3])]
    assert [(a.story_id, a.rule) for a in same_notice] == [(f"other-{i}", "new-story") for i in range(3)]
    untitled = index.assign("notitle", shingle_hashes(PAYWALL), (), headline("daily.example", None))
    assert untitled.rule == "new-story"

    kfor = headline("daily.example", "Clash in Zvečan: KFOR deploys")
    assert not other_headlines(kfor, headline("daily.example", "Clash in Zvečan: KFOR deploys, three injured"))
    assert other_headlines(kfor, headline("daily.example", "Power cut hits northern Mitrovica"))
    assert not other_headlines(kfor, headline("other.example", "Power cut hits northern Mitrovica"))
    assert not other_headlines(kfor, headline(None, "Power cut hits northern Mitrovica"))


def test_a_notice_in_the_loaded_window_holds_for_the_next_run() -> None:
    """A run loads its 30-day window (`add_columns`, key hashes as stored, the text's first): a text one site
    showed under other headlines in earlier runs is its notice in this one too, so another site's first
    page showing it starts its own story instead of joining the first of them."""
    import numpy as np

    from balkanwatch.dedupe import WindowColumns, exact_keys, headline

    titles = ["KFOR patrols Zvečan after overnight clash", "EULEX mission extended by another two years",
              "Power cut hits northern Mitrovica for a third day"]
    notice_key = exact_keys(content_hash="v1:the-notice", urls=[])
    sketch = sorted(shingle_hashes(PAYWALL))
    n = len(titles)
    window = WindowColumns(
        [f"daily-{i}" for i in range(n)], [f"daily-{i}" for i in range(n)],
        np.arange(n + 1, dtype=np.int64) * len(sketch), np.array(sketch * n, dtype=np.uint32),
        np.arange(n + 1, dtype=np.int64), np.array(key_hashes(notice_key) * n, dtype=np.uint64),
        ["daily.example"] * n, titles)
    for loaded in (True, False):
        index = StoryIndex()
        if loaded:
            index.add_columns(window)
        else:   # the same articles assigned one by one, as the earlier runs did
            for i, title in enumerate(titles):
                index.assign(f"daily-{i}", frozenset(sketch), notice_key, headline("daily.example", title))
        got = index.assign("other-0", frozenset(sketch), notice_key, headline("other.example", "Pristina votes"))
        assert (got.story_id, got.rule) == ("other-0", "new-story"), loaded
        lede = index.assign("other-1", shingle_hashes("Pristina votes today on the new budget.\n" + PAYWALL), (),
                            headline("other.example", "Budget vote"))
        assert lede.rule == "new-story", loaded   # a lede above the notice: its own lede is all it has
        repost = index.assign("daily-0-again", frozenset(sketch), notice_key,
                              headline("daily.example", titles[0] + " (updated)"))
        assert (repost.story_id, repost.rule) == ("daily-0", "exact-text"), loaded   # the site's own re-post


def test_compare_partitions_counts_merged_and_split_pairs():
    from balkanwatch.dedupe import compare_partitions

    now = {"a": "s1", "b": "s1", "c": "s1", "d": "s2", "e": "s3"}
    then = {"a": "s1", "b": "s1", "c": "x", "d": "x", "e": "s3"}
    ch = compare_partitions(now, then)
    assert (ch.stories_now, ch.stories_then, ch.pairs_now, ch.pairs_then, ch.pairs_kept) == (3, 3, 3, 2, 1)
    assert (ch.pairs_added, ch.pairs_removed) == (1, 2) and set(ch.moved) == {"a", "b", "c", "d"}
    assert compare_partitions(now, now).moved == ()


def test_a_run_s_articles_are_grouped_where_their_times_are_more_than_a_window_apart() -> None:
    from datetime import timedelta

    from balkanwatch.dedupe import time_groups

    day = datetime(2026, 1, 1)
    at = [day + timedelta(days=d) for d in (0, 1, 40, 41, 71, 200)]
    assert time_groups(at, timedelta(days=30)) == [(0, 2), (2, 5), (5, 6)]   # 41 → 71: 30 days, one group
    assert time_groups(at[:2], timedelta(days=30)) == [(0, 2)] and time_groups([], timedelta(days=30)) == []
