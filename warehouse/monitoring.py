"""The monitoring half of `Warehouse`: mentions, topic counts, alerts and the e-mail outbox (issue #4).

A mixin so that store.py stays about articles; every statement still runs on the one connection the
`Warehouse` owns, inside its error wrapping and transactions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pyarrow as pa

from balkanwatch.models import TEASERS_SQL
from balkanwatch.rising import MIN_LETTERS
from balkanwatch.textnorm import fold_sql
from warehouse.base import WarehouseBase, utc_naive

# The words `balkanwatch rising` counts of a story's origin (`a`): folded as watchlists fold (any script, no
# accents, no case), split at anything that is not a letter or a digit, each once, of MIN_LETTERS letters or
# more and not only digits.
_WORDS_SQL = ("list_filter(list_distinct(regexp_split_to_array("
              + fold_sql("coalesce(a.title, '') || ' ' || coalesce(a.text, '')") + r", '[^\pL\pN]+')), "
              + f"w -> length(w) >= {MIN_LETTERS} AND NOT regexp_full_match(w, '[0-9]+'))")
# A story_words row (`w`) that holds the words of the story's (`s`) origin (`a`) as it is now.
_FRESH_SQL = ("w.story_id = s.story_id AND w.article_id = a.article_id AND w.content_hash = a.content_hash "
              "AND w.title IS NOT DISTINCT FROM a.title")
# Only the stories (`s`) of the topics (a list given twice as a parameter: any of them), or every story for NULL.
_OF_TOPICS_SQL = ("(CAST(? AS VARCHAR[]) IS NULL "
                  "OR s.story_id IN (SELECT story_id FROM story_mentions WHERE list_contains(?, watchlist)))")


def _topics_twice(topics: Sequence[str] | None) -> list[list[str] | None]:
    """The parameters of a topic filter that names its list twice (NULL: every topic)."""
    return [None if topics is None else list(topics)] * 2


class MonitoringMixin(WarehouseBase):

    # -- mentions ----------------------------------------------------------------------------------------
    def articles_to_match(self, version: str, batch: int = 2000) -> Iterator[list[tuple[str, str, str]]]:
        """Batches of (article_id, title, text) not yet matched against watchlist definitions `version`.

        Ids are read first, texts one batch at a time, so the caller may write between batches."""
        ids = [r[0] for r in self._exec("""SELECT article_id FROM articles WHERE mentions_version IS DISTINCT FROM ?
                                           ORDER BY article_id""", [version]).fetchall()]
        for i in range(0, len(ids), batch):
            with self.id_table("batch_ids", ids[i: i + batch]):
                rows = self._exec("""SELECT article_id, coalesce(title, ''), text FROM articles
                                     WHERE article_id IN (SELECT id FROM batch_ids) ORDER BY article_id""").fetchall()
            yield [tuple(r) for r in rows]

    def count_to_match(self, version: str) -> int:
        """How many articles `articles_to_match(version)` would hand out now."""
        row = self._exec("SELECT count(*) FROM articles WHERE mentions_version IS DISTINCT FROM ?", [version]).fetchone()
        return int(row[0]) if row else 0

    def record_mentions(self, article_ids: Sequence[str], matches: Sequence[tuple[str, str, list[str]]],
                        version: str, now: datetime) -> None:
        """Replace the mentions of these articles with `matches` (article_id, watchlist, terms); mark them matched."""
        ids = pa.table({"article_id": list(article_ids)})
        found = pa.table({"article_id": [m[0] for m in matches], "watchlist": [m[1] for m in matches],
                          "terms": pa.array([m[2] for m in matches], pa.list_(pa.string()))})
        with self.transaction(), self.registered(matched_ids=ids, matched_rows=found):
            self.con.execute("DELETE FROM mentions WHERE article_id IN (SELECT article_id FROM matched_ids)")
            self.con.execute("INSERT INTO mentions SELECT article_id, watchlist, terms, ? FROM matched_rows", [now])
            self.con.execute("""UPDATE articles SET mentions_version = ?
                                WHERE article_id IN (SELECT article_id FROM matched_ids)""", [version])

    def mark_all_matched(self, version: str) -> int:
        """With no watchlists there is nothing to match: mark every article matched; returns how many changed."""
        row = self._exec("""UPDATE articles SET mentions_version = ? WHERE mentions_version IS DISTINCT FROM ?""",
                         [version, version]).fetchone()   # the count of rows updated (no RETURNING on a lake)
        return int(row[0]) if row else 0

    def forget_mentions(self) -> None:
        """Mark every article unmatched (for `balkanwatch rematch`); mentions are replaced as they are re-matched."""
        self._exec("UPDATE articles SET mentions_version = NULL")

    def drop_mentions_except(self, watchlists: Sequence[str]) -> None:
        """Remove mentions of watchlists no longer configured."""
        self._exec("DELETE FROM mentions WHERE NOT list_contains(?, watchlist)", [list(watchlists)])

    # -- topic counts --------------------------------------------------------------------------------------
    def story_mentions(self, since: datetime, until: datetime,
                       topics: Sequence[str] | None = None) -> list[tuple[str, str, datetime]]:
        """(watchlist, story_id, first_seen_at) of every topic story (of `topics` only, when given) first seen
        in [since, until)."""
        return [tuple(r) for r in self._exec(
            """SELECT watchlist, story_id, first_seen_at FROM story_mentions
               WHERE first_seen_at >= ? AND first_seen_at < ? AND (CAST(? AS VARCHAR[]) IS NULL OR list_contains(?, watchlist))
               ORDER BY first_seen_at""", [since, until, *_topics_twice(topics)]).fetchall()]

    def top_stories(self, since: datetime, per_topic: int) -> dict[str, list[str]]:
        """Per topic, the ids of its `per_topic` most carried stories first seen since `since` (most articles,
        then most sources, then newest): what the daily digest lists."""
        out: dict[str, list[str]] = {}
        for watchlist, story_id in self._exec(
                """SELECT watchlist, story_id FROM (
                     SELECT watchlist, story_id, row_number() OVER (
                       PARTITION BY watchlist ORDER BY articles DESC, len(sources) DESC, first_seen_at DESC, story_id)
                       AS rank
                     FROM story_mentions WHERE first_seen_at >= ?)
                   WHERE rank <= ? ORDER BY watchlist, rank""", [utc_naive(since), per_topic]).fetchall():
            out.setdefault(watchlist, []).append(story_id)
        return out

    def story_first_seen(self) -> dict[str, datetime]:
        """Every story's first_seen_at (the time its topics count it), by story id."""
        return dict(self._exec("SELECT story_id, first_seen_at FROM stories").fetchall())

    def story_article_ids(self, since: datetime | None = None) -> list[str]:
        """The ids of every article that has a story (first seen at or after `since`, when given), in id order:
        what a watchlist is tried on (`topics try`, reading their texts with `story_texts`)."""
        return [r[0] for r in self._exec(
            """SELECT article_id FROM articles WHERE story_id IS NOT NULL AND (CAST(? AS TIMESTAMP) IS NULL
                 OR story_id IN (SELECT story_id FROM stories WHERE first_seen_at >= CAST(? AS TIMESTAMP)))
               ORDER BY article_id""", [utc_naive(since), utc_naive(since)]).fetchall()]

    def story_texts(self, ids: Sequence[str], batch: int = 2000) -> Iterator[list[tuple[str, str, str]]]:
        """Batches of (story_id, title, text) of the articles `ids`, in id order, one batch read at a time."""
        for i in range(0, len(ids), batch):
            with self.id_table("batch_ids", ids[i: i + batch]):
                rows = self._exec("""SELECT story_id, coalesce(title, ''), coalesce(text, '') FROM articles
                                     WHERE article_id IN (SELECT id FROM batch_ids) ORDER BY article_id""").fetchall()
            yield [tuple(r) for r in rows]

    def late_story_ids(self, window_start: datetime) -> set[str]:
        """Stories no alerts cycle before `window_start` could see, though they may be older: first fetched
        at or after it, by a run later than the first that brought any article of (one of) their sources; so
        not a first ingest's history, nor a new source's backlog. Older than the window, such stories come only
        after a gap in ingest, or from a source that lists items late."""
        return {r[0] for r in self._exec(
            """WITH art AS (SELECT a.story_id, a.source, a.fetched_at, r.started_at AS run_at
                            FROM articles a JOIN runs r USING (run_id) WHERE a.story_id IS NOT NULL),
                    first_run AS (SELECT source, min(run_at) AS at FROM art GROUP BY source),
                    story AS (SELECT story_id, min(run_at) AS arrival_run
                              FROM art GROUP BY story_id HAVING min(fetched_at) >= ?)
               SELECT DISTINCT s.story_id FROM story s JOIN art x USING (story_id) JOIN first_run f USING (source)
               WHERE f.at < s.arrival_run""", [window_start]).fetchall()}

    def first_story_time(self) -> datetime | None:
        row = self._exec("SELECT min(first_seen_at) FROM stories").fetchone()
        return row[0] if row else None

    def run_stories(self, run_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The stories run `run_id` brought articles to, each once: `new` ones (every article of theirs came in
        this run) first, then `known` ones it added articles to, newest first within each; with their topics,
        articles in this run and in all, sources and the origin's link. What the run's `new-stories` artifact
        lists: twenty sites carrying one wire story are one row, not twenty."""
        return self.rows(
            """WITH touched AS (SELECT story_id, count(*) AS in_run FROM articles
                                WHERE run_id = ? AND story_id IS NOT NULL GROUP BY story_id),
                    tp AS (SELECT a.story_id, list_sort(list(DISTINCT m.watchlist)) AS topics
                           FROM mentions m JOIN articles a USING (article_id)
                           WHERE a.story_id IN (SELECT story_id FROM touched) GROUP BY a.story_id)
               SELECT CASE WHEN st.articles = t.in_run THEN 'new' ELSE 'known' END AS story, st.first_seen_at,
                      st.title, coalesce(tp.topics, CAST([] AS VARCHAR[])) AS topics, t.in_run AS in_this_run,
                      st.articles, st.sources, o.url, st.story_id
               FROM touched t JOIN stories st USING (story_id) LEFT JOIN tp USING (story_id)
                    LEFT JOIN articles o ON o.article_id = st.origin_article_id
               ORDER BY st.articles = t.in_run DESC, st.first_seen_at DESC, st.story_id LIMIT ?""", [run_id, limit])

    def story_list(self, *, limit: int, min_copies: int = 0, since: datetime | None = None,
                   topics: Sequence[str] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """What `balkanwatch stories` lists, newest first: first seen, origin publisher and source (with the
        source's country and type), copies, sources, the topics (watchlists) any of the story's articles
        matched, title, the origin's URL. Only stories with `min_copies`, first seen at or after `since` (UTC)
        and, given `topics`, matched by one of them."""
        cur = self._exec(
            """WITH st AS (SELECT * FROM stories WHERE copies >= ?
                             AND (CAST(? AS TIMESTAMP) IS NULL OR first_seen_at >= CAST(? AS TIMESTAMP))),
                    topics AS (SELECT a.story_id, list_sort(list(DISTINCT m.watchlist)) AS topics
                               FROM mentions m JOIN articles a USING (article_id)
                               WHERE a.story_id IN (SELECT story_id FROM st) GROUP BY a.story_id)
               SELECT st.first_seen_at, st.origin_publisher AS publisher, st.origin_source, so.country,
                      so.source_type, st.copies, st.sources, coalesce(t.topics, CAST([] AS VARCHAR[])) AS topics,
                      st.title, o.url, st.story_id
               FROM st LEFT JOIN topics t USING (story_id) LEFT JOIN sources so ON so.name = st.origin_source
                    LEFT JOIN articles o ON o.article_id = st.origin_article_id
               WHERE len(CAST(? AS VARCHAR[])) = 0 OR list_has_any(t.topics, CAST(? AS VARCHAR[]))
               ORDER BY st.first_seen_at DESC, st.story_id LIMIT ?""",
            [int(min_copies), utc_naive(since), utc_naive(since), list(topics), list(topics), int(limit)])
        return [d[0] for d in cur.description or []], cur.fetchall()

    def story(self, ref: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """`balkanwatch story REF`: the story whose id is REF, or that holds the article at the URL REF (any
        spelling of it: an article's id hashes its normalised URL; its final or canonical URL too), with its
        topics and its origin's text; and its articles in the order they were seen, each with how it joined
        (story_assignments: the rule, the article it matched, Jaccard and containment). (None, []) when REF
        names no story; (None, [the article]) when it names an article not yet given one (loaded, not settled)."""
        from balkanwatch.urls import article_id

        by_url = article_id(ref) if "://" in ref else None
        found = self.rows("""SELECT article_id, story_id, source, title, url FROM articles
                             WHERE story_id = ? OR article_id = ? OR url = ? OR final_url = ? OR canonical_url = ?
                             ORDER BY story_id = ? DESC, article_id = ? DESC LIMIT 1""",
                          [ref, by_url, ref, ref, ref, ref, by_url])
        if not found:
            return None, []
        if found[0]["story_id"] is None:
            return None, found
        story_id = found[0]["story_id"]
        head = self.rows(
            """SELECT st.story_id, st.title, st.first_seen_at, st.last_seen_at, st.articles AS article_count, st.copies,
                      st.publishers, st.sources, st.origin_source,
                      coalesce((SELECT list_sort(list(DISTINCT m.watchlist)) FROM mentions m JOIN articles x
                                USING (article_id) WHERE x.story_id = st.story_id), CAST([] AS VARCHAR[])) AS topics,
                      o.url, o.text
               FROM stories st JOIN articles o ON o.article_id = st.origin_article_id
               WHERE st.story_id = ?""", [story_id])
        articles = self.rows(
            """SELECT s.story_time AS seen_at, a.source, a.publisher, a.title, a.url, sa.rule,
                      round(sa.jaccard, 3) AS jaccard, round(sa.containment, 3) AS containment,
                      m.url AS matched_url, a.text_from, a.article_id
               FROM articles a JOIN article_sketches s USING (article_id)
                    LEFT JOIN story_assignments sa USING (article_id)
                    LEFT JOIN articles m ON m.article_id = sa.matched_article_id
               WHERE a.story_id = ? ORDER BY s.story_time, a.article_id""", [story_id])
        return (head[0] if head else None), articles

    def story_details(self, story_ids: Sequence[str]) -> list[dict[str, Any]]:
        """What an alert e-mail says of each story: first-seen time, title, link, publisher, sources (with the
        origin source's country and type), copies, excerpt: the origin's text, or when the origin is a teaser
        (the listing's summary) the first copy's with its article; `text_from` is set when only a teaser is
        there to show."""
        with self.id_table("detail_ids", story_ids):
            return self.rows(
                f"""WITH full_text AS (   -- a copy with its article, for a story first seen as a teaser
                       SELECT story_id, arg_min(text, fetched_at) AS text FROM articles
                       WHERE story_id IN (SELECT id FROM detail_ids) AND coalesce(text_from, '') NOT IN {TEASERS_SQL}
                       GROUP BY story_id)
                   SELECT st.story_id, st.first_seen_at, st.title, a.url, st.sources, st.articles,
                          left(CASE WHEN a.text_from IN {TEASERS_SQL} THEN coalesce(f.text, a.text) ELSE a.text END, 600)
                            AS excerpt,
                          CASE WHEN a.text_from IN {TEASERS_SQL} AND f.text IS NULL THEN a.text_from END AS text_from,
                          a.publisher, a.site_name, so.country, so.source_type
                   FROM stories st JOIN articles a ON a.article_id = st.origin_article_id
                        LEFT JOIN sources so ON so.name = a.source LEFT JOIN full_text f ON f.story_id = st.story_id
                   WHERE st.story_id IN (SELECT id FROM detail_ids) ORDER BY st.first_seen_at, st.story_id""")

    def feed_stories(self, topics: Sequence[str], per_feed: int) -> dict[str | None, list[dict[str, Any]]]:
        """The stories of the Atom feeds (`balkanwatch.atom`): for each topic (watchlist) its `per_feed` newest
        stories, and under None the newest of every story; each as `story_details` gives it, with `topics`
        (every watchlist any of its articles matched). Newest first, by first-seen time."""
        picked = self._exec(
            """WITH per_topic AS (SELECT watchlist, story_id, first_seen_at FROM story_mentions
                                  WHERE list_contains(CAST(? AS VARCHAR[]), watchlist)
                                  QUALIFY row_number() OVER (PARTITION BY watchlist
                                                             ORDER BY first_seen_at DESC, story_id) <= ?),
                    newest AS (SELECT CAST(NULL AS VARCHAR) AS watchlist, story_id, first_seen_at FROM stories
                               ORDER BY first_seen_at DESC, story_id LIMIT ?)
               SELECT * FROM per_topic UNION ALL SELECT * FROM newest""",
            [list(topics), int(per_feed), int(per_feed)]).fetchall()
        ids = sorted({r[1] for r in picked})
        details = {d["story_id"]: d for d in self.story_details(ids)}
        matched = self.story_topics(ids)
        feeds: dict[str | None, list[dict[str, Any]]] = {t: [] for t in topics}
        feeds[None] = []
        by_time = sorted(sorted(picked, key=lambda r: r[1]), key=lambda r: r[2], reverse=True)  # as `stories` lists them
        for watchlist, story_id, _ in by_time:
            if story_id in details:
                feeds[watchlist].append({**details[story_id], "topics": list(matched.get(story_id) or [])})
        return feeds

    def feed_incidents(self, limit: int, stories_each: int) -> list[dict[str, Any]]:
        """The surges of the alerts feed (`balkanwatch.atom.incident_entry`): the `limit` newest incidents (the
        alerts of one e-mail), newest first, each with its topics, unique stories, surge window, what it was
        about, when it was recorded, and its first `stories_each` stories as `story_details` gives them."""
        incidents = self.rows(
            """SELECT incident_id, list_sort(list(DISTINCT watchlist)) AS topics, min(created_at) AS created_at,
                      min(window_start) AS window_start, max(window_end) AS window_end,
                      max(observed) AS observed, arg_max(expected, observed) AS expected,   -- the e-mail's lead
                      arg_max(about, observed) AS about,
                      list_sort(list_distinct(flatten(list(story_ids)))) AS story_ids
               FROM alerts GROUP BY incident_id ORDER BY min(created_at) DESC, incident_id LIMIT ?""", [int(limit)])
        details = {d["story_id"]: d for d in self.story_details(sorted({i for inc in incidents for i in inc["story_ids"]}))}
        for inc in incidents:
            shown = sorted((details[i] for i in inc["story_ids"] if i in details),
                           key=lambda d: (d["first_seen_at"], d["story_id"]))
            inc["stories"] = shown[:stories_each]
        return incidents

    def refresh_story_words(self, since: datetime) -> int:
        """Keep `story_words` the words (`_WORDS_SQL`) of every story first seen at or after `since`, as its
        origin is now: split the stories that have no row or whose origin changed (another article, a revised
        text or title), drop the rows of the others. Returns the stories split. The alerts cycle runs it
        before reading rising words, so that a reading splits only what is new (`word_counts`)."""
        with self.transaction():
            self.con.execute(
                f"""DELETE FROM story_words WHERE story_id NOT IN (
                        SELECT w.story_id FROM story_words w JOIN stories s ON s.story_id = w.story_id
                        JOIN articles a ON a.article_id = s.origin_article_id
                        WHERE s.first_seen_at >= ? AND {_FRESH_SQL})""", [utc_naive(since)])
            row = self.con.execute(
                f"""INSERT INTO story_words (story_id, article_id, content_hash, title, words)
                    SELECT s.story_id, a.article_id, a.content_hash, a.title, {_WORDS_SQL}
                    FROM stories s JOIN articles a ON a.article_id = s.origin_article_id
                    WHERE s.first_seen_at >= ? AND s.story_id NOT IN (SELECT story_id FROM story_words)""",
                [utc_naive(since)]).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _picked_words(self, start: datetime, end: datetime, topics: Sequence[str] | None) -> Iterator[str]:
        """The words of the stories first seen in [start, end) (of any of `topics`, when given): yields a SELECT of
        story_id, source, first_seen_at, words, the words from `story_words` where it holds them as the
        origin is now, split from the origin's text otherwise. The stories are picked once (`stories` is a
        view that groups every article) into temporary tables, dropped after."""
        self._exec(
            f"""CREATE OR REPLACE TEMP TABLE _picked AS
                SELECT s.story_id, s.origin_source AS source, s.first_seen_at, a.article_id,
                       w.story_id IS NOT NULL AS stored
                FROM stories s JOIN articles a ON a.article_id = s.origin_article_id
                LEFT JOIN story_words w ON {_FRESH_SQL}
                WHERE s.first_seen_at >= ? AND s.first_seen_at < ? AND {_OF_TOPICS_SQL}""",
            [utc_naive(start), utc_naive(end), *_topics_twice(topics)])
        try:
            self._exec(f"""CREATE OR REPLACE TEMP TABLE _split AS
                           SELECT p.story_id, {_WORDS_SQL} AS words
                           FROM _picked p JOIN articles a ON a.article_id = p.article_id WHERE NOT p.stored""")
            yield """SELECT p.story_id, p.source, p.first_seen_at, w.words
                     FROM _picked p JOIN story_words w ON w.story_id = p.story_id WHERE p.stored
                     UNION ALL
                     SELECT p.story_id, p.source, p.first_seen_at, x.words
                     FROM _picked p JOIN _split x ON x.story_id = p.story_id"""
        finally:
            self._exec("DROP TABLE IF EXISTS _split")
            self._exec("DROP TABLE IF EXISTS _picked")

    def word_counts(self, start: datetime, end: datetime, blocks: int, *, topics: Sequence[str] | None = None,
                    min_stories: int = 3) -> dict[str, Any]:
        """What `balkanwatch.rising` reads: every word (`_WORDS_SQL`: folded as watchlists fold, any script, no
        accents, no case; MIN_LETTERS letters or more, not only digits) counted in unique stories (the origin's
        title and text), in the window [start, end) and in each of `blocks` window-long blocks before it
        (block 0 the nearest); only words in `min_stories` stories of the window. Of the stories any of
        `topics` matched (`story_mentions`) when given. Returns {"window": {word: (stories, sources)}, "window_total",
        "baseline": {word: [stories per block]}, "block_totals"}."""
        span = (end - start).total_seconds()
        block = "CASE WHEN first_seen_at >= ? THEN -1 ELSE CAST(floor(epoch(CAST(? AS TIMESTAMP) - first_seen_at) / ?) AS INTEGER) END"
        at = [utc_naive(start), utc_naive(start), span]
        with self._picked_words(start - (end - start) * blocks, end, topics) as picked:
            totals = dict(self._exec(f"SELECT {block} AS block, count(*) FROM _picked GROUP BY block", at).fetchall())
            self._exec(f"""CREATE OR REPLACE TEMP TABLE _window AS
                            SELECT word, count(*) AS stories, count(DISTINCT source) AS sources
                            FROM (SELECT source, unnest(words) AS word FROM ({picked}) WHERE first_seen_at >= ?)
                            GROUP BY word HAVING count(*) >= ?""", [utc_naive(start), int(min_stories)])
            try:
                window = self._exec("SELECT word, stories, sources FROM _window").fetchall()
                baseline: dict[str, list[int]] = {w: [0] * blocks for w, *_ in window}
                # the window's words as a table, not a list parameter: DuckDB binds a Python list of
                # thousands of words slowly (3.5 s of 4.3 s for 15,000 words, bench/rising_cost.py)
                for word, b, n in self._exec(
                        f"""SELECT word, {block} AS block, count(*) FROM (
                                SELECT first_seen_at, unnest(words) AS word FROM ({picked}) WHERE first_seen_at < ?)
                            WHERE word IN (SELECT word FROM _window) GROUP BY ALL""",
                        [*at, utc_naive(start)]).fetchall():
                    if 0 <= b < blocks:
                        baseline[word][b] += n
            finally:
                self._exec("DROP TABLE IF EXISTS _window")
        return {"window": {w: (int(n), int(src)) for w, n, src in window}, "window_total": int(totals.get(-1, 0)),
                "baseline": baseline, "block_totals": [int(totals.get(b, 0)) for b in range(blocks)]}

    def story_topics(self, story_ids: Sequence[str]) -> dict[str, list[str]]:
        """The watchlists that matched each of these stories (any of its articles), where any did."""
        with self.id_table("topic_ids", story_ids):
            return {sid: list(t) for sid, t in self._exec(
                """SELECT a.story_id, list_sort(list(DISTINCT m.watchlist)) FROM mentions m JOIN articles a USING (article_id)
                   WHERE a.story_id IN (SELECT id FROM topic_ids) GROUP BY a.story_id""").fetchall()}

    def word_stories(self, start: datetime, end: datetime, words: Sequence[str], *,
                     topics: Sequence[str] | None = None) -> dict[str, list[str]]:
        """The stories first seen in [start, end) (of any of `topics`, when given) whose words (as `word_counts`
        counts them) hold each of `words` (`balkanwatch rising`: which stories a rising word is in)."""
        if not words:
            return {}
        with self._picked_words(start, end, topics) as picked:
            rows = self._exec(
                f"""SELECT word, list(story_id ORDER BY story_id) FROM (
                        SELECT story_id, unnest(list_intersect(words, CAST(? AS VARCHAR[]))) AS word FROM ({picked}))
                    GROUP BY word""", [list(words)]).fetchall()
        return {w: list(ids) for w, ids in rows}

    # -- alerts and outbox -----------------------------------------------------------------------------
    def rate_alerts(self, ref: str, verdict: str, note: str, now: datetime,
                    topics: Sequence[str] = ()) -> list[str]:
        """Record an analyst's verdict (useful | noise) on the alerts of incident `ref`, or on alert `ref`
        (only those of `topics`, when given), replacing an earlier one; returns the alert ids rated (none:
        `ref` names no alert)."""
        with self.transaction():
            ids = [r[0] for r in self.con.execute(
                """SELECT alert_id FROM alerts WHERE (incident_id = ? OR alert_id = ?)
                     AND (len(CAST(? AS VARCHAR[])) = 0 OR list_contains(CAST(? AS VARCHAR[]), watchlist))
                   ORDER BY alert_id""", [ref, ref, list(topics), list(topics)]).fetchall()]
            if ids:
                self.con.execute("DELETE FROM alert_ratings WHERE list_contains(?, alert_id)", [ids])
                self.con.execute("""INSERT INTO alert_ratings (alert_id, verdict, note, rated_at)
                                    SELECT unnest(?), ?, ?, ?""", [ids, verdict, note, utc_naive(now)])
        return ids

    def alert_log(self, limit: int = 50, *, topics: Sequence[str] = (),
                  since: datetime | None = None) -> list[dict[str, Any]]:
        """Recorded alerts, newest first, with what became of their e-mail (`balkanwatch alerts`); only those
        of `topics` (watchlists), of buckets at or after `since`, when given."""
        return self.rows(
            """SELECT a.bucket_start, a.watchlist, CAST(a.observed AS BIGINT) AS observed, round(a.expected, 2) AS expected,
                      round(a.score, 3) AS score, len(a.story_ids) AS stories, a.status, o.attempts, o.sent_at,
                      CASE WHEN o.status = 'pending' OR starts_with(o.last_error, ?)
                           THEN o.last_error END AS last_error, a.incident_id, a.alert_id,
                      r.verdict AS rating, r.note AS rating_note, a.about
               FROM alerts a LEFT JOIN outbox o ON o.incident_id = a.incident_id AND o.kind = 'spike'
                    LEFT JOIN alert_ratings r ON r.alert_id = a.alert_id
               WHERE (len(CAST(? AS VARCHAR[])) = 0 OR list_contains(CAST(? AS VARCHAR[]), a.watchlist))
                 AND (CAST(? AS TIMESTAMP) IS NULL OR a.bucket_start >= CAST(? AS TIMESTAMP))
               ORDER BY a.bucket_start DESC, a.watchlist LIMIT ?""",
            [self.UNDELIVERED, list(topics), list(topics), utc_naive(since), utc_naive(since), int(limit)])

    def outbox_log(self, limit: int = 50, *, kinds: Sequence[str] = (), pending: bool = False,
                   since: datetime | None = None) -> list[dict[str, Any]]:
        """Every e-mail the alerts queued, newest first (`balkanwatch outbox`): surge alerts, a topic's new
        stories, digests, notices; only of `kinds`, only the pending ones, only queued at or after `since`,
        when asked."""
        return self.rows(
            """SELECT created_at, kind, subject, recipients, status, attempts, sent_at, last_error, message_id
               FROM outbox
               WHERE (len(CAST(? AS VARCHAR[])) = 0 OR list_contains(CAST(? AS VARCHAR[]), kind))
                 AND (NOT ? OR status = 'pending')
                 AND (CAST(? AS TIMESTAMP) IS NULL OR created_at >= CAST(? AS TIMESTAMP))
               ORDER BY created_at DESC, message_id LIMIT ?""",
            [list(kinds), list(kinds), pending, utc_naive(since), utc_naive(since), int(limit)])

    def alert_verdicts(self, since: datetime) -> dict[str, dict[str, int]]:
        """Per topic, how many of its alerts of buckets since `since` the desk rated useful and noise."""
        out: dict[str, dict[str, int]] = {}
        for watchlist, verdict, n in self._exec(
                """SELECT a.watchlist, r.verdict, count(*) FROM alerts a JOIN alert_ratings r USING (alert_id)
                   WHERE a.bucket_start >= ? GROUP BY ALL""", [utc_naive(since)]).fetchall():
            out.setdefault(watchlist, {})[verdict] = int(n)
        return out

    def note_missed(self, watchlist: str, at: datetime, note: str, now: datetime) -> None:
        """Record a surge the desk wanted an alert for (replacing an earlier note of the same topic and time)."""
        with self.transaction():
            self.con.execute("DELETE FROM missed_surges WHERE watchlist = ? AND surged_at = ?",
                             [watchlist, utc_naive(at)])
            self.con.execute("INSERT INTO missed_surges (watchlist, surged_at, note, noted_at) VALUES (?, ?, ?, ?)",
                             [watchlist, utc_naive(at), note, utc_naive(now)])

    def missed_surges(self) -> list[tuple[str, datetime]]:
        """(topic, time) of every surge the desk noted as missed, oldest first."""
        return [(str(w), a) for w, a in self._exec(
            "SELECT watchlist, surged_at FROM missed_surges ORDER BY surged_at, watchlist").fetchall()]

    def rated_alerts(self) -> list[tuple[str, datetime, str]]:
        """(topic, bucket, verdict) of every alert the desk rated (`balkanwatch rate`), oldest first."""
        return [(str(t), b, str(v)) for t, b, v in self._exec(
            """SELECT a.watchlist, a.bucket_start, r.verdict FROM alerts a JOIN alert_ratings r USING (alert_id)
               ORDER BY a.bucket_start, a.watchlist""").fetchall()]

    def alert_buckets(self, watchlist: str, since: datetime) -> list[datetime]:
        """Buckets of the alerts already recorded for a topic since `since` (to not repeat a surge)."""
        return [r[0] for r in self._exec("SELECT bucket_start FROM alerts WHERE watchlist = ? AND bucket_start >= ?",
                                         [watchlist, since]).fetchall()]

    def last_alert_about(self, since: datetime) -> dict[str, str]:
        """Per topic, what its newest alert since `since` was about (`alerts.about`), where that alert's was
        recorded and is not empty (an older alert's words are not this one's)."""
        return {w: about for w, about in self._exec(
            """SELECT watchlist, about FROM alerts WHERE bucket_start >= ?
               QUALIFY row_number() OVER (PARTITION BY watchlist ORDER BY bucket_start DESC) = 1""",
            [utc_naive(since)]).fetchall() if about}

    def record_incident(self, alerts: Sequence[dict[str, Any]], message: dict[str, Any] | None) -> None:
        """Store an incident's alerts and, when there are recipients, its e-mail in the outbox, atomically."""
        with self.transaction():
            for a in alerts:
                self.con.execute(
                    """INSERT INTO alerts (alert_id, incident_id, watchlist, bucket_start, window_start, window_end,
                       score, observed, expected, story_ids, status, created_at, about)
                       SELECT $alert_id, $incident_id, $watchlist, $bucket_start, $window_start, $window_end,
                       $score, $observed, $expected, $story_ids, $status, $created_at, $about
                       WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE alert_id = $alert_id)""", a)  # no keys on a lake
            if message is not None:
                self._queue(message)

    def _queue(self, message: dict[str, Any]) -> None:
        """Put a composed e-mail in the outbox (once per Message-ID), inside the caller's transaction."""
        self.con.execute(
            """INSERT INTO outbox (message_id, kind, incident_id, subject, recipients, message, status, created_at)
               SELECT $message_id, $kind, $incident_id, $subject, $recipients, $message, 'pending', $created_at
               WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE message_id = $message_id)""", message)

    def mailed_surge_stories(self, watchlist: str, since: datetime) -> set[str]:
        """Stories the topic's surge e-mails carried (alerts queued with an e-mail) in surges ending after
        `since`: its readers have them, whatever the cycle that sent them."""
        return {r[0] for r in self._exec(
            """SELECT DISTINCT unnest(story_ids) FROM alerts
               WHERE watchlist = ? AND status <> 'no-recipients' AND window_end >= ?""",
            [watchlist, utc_naive(since)]).fetchall()}

    def unnoticed_stories(self, watchlist: str, since: datetime) -> list[str]:
        """Ids of the topic's stories first seen at or after `since` not yet e-mailed to it as they came
        (`story_notices`), oldest first."""
        return [r[0] for r in self._exec(
            """SELECT story_id FROM story_mentions m WHERE watchlist = ? AND first_seen_at >= ?
                 AND NOT EXISTS (SELECT 1 FROM story_notices n WHERE n.watchlist = m.watchlist
                                 AND n.story_id = m.story_id)
               ORDER BY first_seen_at, story_id""", [watchlist, utc_naive(since)]).fetchall()]

    def record_notices(self, watchlist: str, story_ids: Sequence[str], message: dict[str, Any] | None,
                       now: datetime) -> None:
        """These stories were told to the topic's readers (by `message`; or it is None: the topic has no
        recipients, or the cycle's surge e-mail carried them): recorded with the message's outbox row in one
        transaction, so each goes once."""
        message_id = message["message_id"] if message is not None else ""
        with self.transaction():
            self.con.execute(
                """INSERT INTO story_notices (watchlist, story_id, message_id, created_at)
                   SELECT ?, s.story_id, ?, ? FROM (SELECT unnest(?) AS story_id) s
                   WHERE NOT EXISTS (SELECT 1 FROM story_notices n WHERE n.watchlist = ? AND n.story_id = s.story_id)""",
                [watchlist, message_id, utc_naive(now), list(story_ids), watchlist])
            if message is not None:
                self._queue(message)

    # How a sent message's last_error begins when some of its recipients refused it (mark_sent's note).
    UNDELIVERED = "sent, but not to "

    def pending_messages(self) -> list[dict[str, Any]]:
        return self.rows("""SELECT message_id, kind, incident_id, subject, recipients, message, attempts, created_at
                            FROM outbox WHERE status = 'pending' ORDER BY created_at, message_id""")

    def mark_sent(self, message_id: str, incident_id: str | None, when: datetime, note: str | None = None) -> None:
        """The message has gone out; `note` (its last_error) names recipients that refused it."""
        # Not rolled back for a lock a restarted catalog dropped (transaction): the e-mail has gone, and
        # undoing its mark would make sending it again certain; the UPDATE is idempotent.
        with self.transaction(verify_locks=False):
            self.con.execute("""UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,
                                last_attempt_at = ?, last_error = ? WHERE message_id = ?""",
                             [when, when, note, message_id])
            if incident_id:
                self.con.execute("UPDATE alerts SET status = 'sent' WHERE incident_id = ?", [incident_id])

    def mark_failed(self, message_id: str, error: str, when: datetime) -> None:
        self._exec("""UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?
                      WHERE message_id = ?""", [when, error, message_id])

    def ingest_record(self) -> dict[str, Any]:
        """When the last ingest run completed that could read a source (`last_completed_at`, None before the
        first; a run in which every source it polled failed saw nothing: the machine's network down, a proxy
        gone), the newest run of any status (`latest_started_at`, `latest_status`: running, crashed,
        completed; `latest_polled`, `latest_failed`: its sources) and the newest source error (`latest_error`:
        source and error)."""
        done = self._exec("""SELECT max(finished_at) FROM runs WHERE status = 'completed'
                             AND (sources_polled = 0 OR sources_failed < sources_polled)""").fetchone()
        latest = self._exec("""SELECT started_at, status, sources_polled, sources_failed FROM runs
                               ORDER BY started_at DESC LIMIT 1""").fetchone()
        error = self._exec("""SELECT name || ': ' || last_error FROM sources WHERE last_error IS NOT NULL
                              AND consecutive_failures > 0 ORDER BY last_attempt_at DESC NULLS LAST LIMIT 1""").fetchone()
        return {"last_completed_at": done[0] if done else None,
                "latest_started_at": latest[0] if latest else None, "latest_status": latest[1] if latest else None,
                "latest_polled": latest[2] if latest else 0, "latest_failed": latest[3] if latest else 0,
                "latest_error": error[0] if error else None}

    def newest_message_id(self, kind: str, since: datetime) -> str | None:
        """The Message-ID of the newest outbox message of `kind` queued since `since` (the last stall
        announced)."""
        row = self._exec("""SELECT message_id FROM outbox WHERE kind = ? AND created_at >= ?
                            ORDER BY created_at DESC LIMIT 1""", [kind, since]).fetchone()
        return row[0] if row else None

    def has_message(self, message_id: str) -> bool:
        row = self._exec("SELECT count(*) FROM outbox WHERE message_id = ?", [message_id]).fetchone()
        return bool(row and row[0])

