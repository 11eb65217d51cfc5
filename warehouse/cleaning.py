"""The cleaning half of `Warehouse`: paragraph signatures, learned boilerplate, cleaned texts (issue #3), and
the page templates learned per source (issue #17)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from balkanwatch.models import NOT_FROM_HTML_SQL
from balkanwatch.templates import Template, from_rows
from warehouse.base import WarehouseBase


class CleaningMixin(WarehouseBase):

    def uncleaned_articles(self) -> list[tuple[str, str, str, bool]]:
        """(article_id, source, text, signatures already recorded) of articles the cleaning step has not seen."""
        return [tuple(r) for r in self._exec(
            """SELECT article_id, source, text, article_id IN (SELECT article_id FROM paragraph_signatures)
               FROM articles WHERE boilerplate_paragraphs IS NULL ORDER BY article_id""").fetchall()]

    def record_signatures(self, rows: Sequence[tuple[str, str, str, str, str]]) -> None:
        """(article_id, source, key, kind, example) rows; existing ones are kept."""
        if not rows:
            return
        table = pa.table({name: [r[i] for r in rows]
                          for i, name in enumerate(("article_id", "source", "key", "kind", "example"))})
        with self.registered(signature_batch=table):
            self._exec("""INSERT INTO paragraph_signatures SELECT DISTINCT ON (article_id, key) * FROM signature_batch b
                          WHERE NOT EXISTS (SELECT 1 FROM paragraph_signatures p
                                            WHERE p.article_id = b.article_id AND p.key = b.key)""")

    def _latest_per_source(self, sources: Sequence[str], window: int, query: str) -> list[Any]:
        """Rows of `query` (one `?`: `window`) over `recent`: the articles of `sources` (source, article_id,
        text) with `n`, their rank by fetch time within their source (1 the newest); articles whose text
        is not an HTML page's extraction (teasers, a feed's full content, PDFs) are not among them: it
        teaches nothing of the site's pages. One query for every
        source: on a lake a read costs ~15-20 ms whatever its rows."""
        with self.id_table("wanted_sources", sources, "source"):
            return self._exec(
                """WITH recent AS (SELECT source, article_id, text, row_number() OVER
                                     (PARTITION BY source ORDER BY fetched_at DESC, article_id) AS n
                                   FROM articles WHERE source IN (SELECT source FROM wanted_sources)
                                     AND coalesce(text_from, '') NOT IN """ + NOT_FROM_HTML_SQL + ")" + query,
                [window]).fetchall()

    def recent_signatures(self, sources: Sequence[str], window: int) -> dict[str, list[list[tuple[str, str, str]]]]:
        """Per source, per article of its last `window` (by fetch time, newest first): its (key, kind,
        example) signatures. One query for every source (on a lake a read costs ~15 ms whatever its rows)."""
        if not sources:
            return {}
        rows = self._latest_per_source(sources, window, """
            SELECT r.source, r.article_id, p.key, p.kind, p.example FROM recent r
            LEFT JOIN paragraph_signatures p USING (article_id) WHERE r.n <= ? ORDER BY r.source, r.n, p.key""")
        per: dict[str, dict[str, list[tuple[str, str, str]]]] = {s: {} for s in sources}
        for source, art, key, kind, example in rows:
            sigs = per[source].setdefault(art, [])
            if key is not None:
                sigs.append((key, kind, example))
        return {source: list(arts.values()) for source, arts in per.items()}

    def replace_boilerplate(self, learned: dict[str, Sequence[Any]], now: datetime) -> None:
        """Each source's learned boilerplate replaces what it had, for every source in one transaction of
        two statements (a DELETE and an INSERT from one Arrow batch, not a statement per signature)."""
        if not learned:
            return
        rows = pa.Table.from_pylist(
            [{"source": source, "key": b.key, "kind": b.kind, "example": b.example, "articles": b.articles,
              "share": b.share, "learned_at": now} for source, sigs in learned.items() for b in sigs],
            schema=pa.schema([("source", pa.string()), ("key", pa.string()), ("kind", pa.string()),
                              ("example", pa.string()), ("articles", pa.int32()), ("share", pa.float64()),
                              ("learned_at", pa.timestamp("us"))]))
        sources = pa.table({"source": pa.array(list(learned), pa.string())})
        with self.transaction(), self.registered(relearned=sources, learned_batch=rows):
            self.con.execute("DELETE FROM source_boilerplate WHERE source IN (SELECT source FROM relearned)")
            if rows.num_rows:
                self.con.execute("INSERT INTO source_boilerplate BY NAME SELECT * FROM learned_batch")

    def label_spread(self) -> list[tuple[str, str, int, int]]:
        """(key, an example, sources, articles) of every label used for link lines (signatures of kind
        "link": "Read More: <a>…</a>") in the warehouse."""
        return [tuple(r) for r in self._exec(
            """SELECT key, min(example), count(DISTINCT source), count(DISTINCT article_id) FROM paragraph_signatures
               WHERE kind = 'link' GROUP BY key""").fetchall()]

    def boilerplate_by_source(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for source, key in self._exec("SELECT source, key FROM source_boilerplate").fetchall():
            out[source].add(key)
        return dict(out)

    def articles_with_keys(self, keys: Sequence[str], among: Sequence[str] | None = None
                           ) -> list[tuple[str, str, str, str | None]]:
        """(article_id, source, text, story_id) of articles that had a paragraph with one of the signatures,
        only those of `among` when given (a run's new articles: the rest of history is not read)."""
        if not keys or (among is not None and not among):
            return []
        tables = {"wanted_keys": pa.table({"key": pa.array(list(keys), pa.string())})}
        if among is not None:
            tables["wanted_articles"] = pa.table({"article_id": pa.array(list(among), pa.string())})
        with self.registered(**tables):
            return [tuple(r) for r in self._exec(
                f"""SELECT a.article_id, a.source, a.text, a.story_id FROM articles a WHERE a.article_id IN
                    (SELECT p.article_id FROM paragraph_signatures p SEMI JOIN wanted_keys w USING (key)
                     {"SEMI JOIN wanted_articles USING (article_id)" if among is not None else ""})
                    ORDER BY a.article_id""").fetchall()]

    def update_cleaned(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store cleaned texts: text, content_hash, boilerplate_paragraphs, and the sketch while unassigned.

        One UPDATE … FROM an Arrow batch per table, not a statement per article."""
        if not rows:
            return
        batch = pa.table({
            "article_id": [r["article_id"] for r in rows], "text": [r["text"] for r in rows],
            "content_hash": [r["content_hash"] for r in rows],
            "removed": pa.array([r["removed"] for r in rows], pa.int32()),
            "sketch": pa.array([list(r["sketch"]) if r.get("sketch") is not None else None for r in rows],
                               pa.list_(pa.uint32()))})
        with self.registered(cleaned_batch=batch), self.transaction():
            self.con.execute("""UPDATE articles SET text = b.text, content_hash = b.content_hash,
                                boilerplate_paragraphs = coalesce(articles.boilerplate_paragraphs, 0) + b.removed
                                FROM cleaned_batch b WHERE articles.article_id = b.article_id""")
            self.con.execute("""UPDATE article_sketches SET hashes = coalesce(b.sketch, article_sketches.hashes),
                                key_hashes = NULL FROM cleaned_batch b
                                WHERE article_sketches.article_id = b.article_id""")   # new text, new text key

    def mark_cleaned(self, article_ids: Sequence[str]) -> None:
        if article_ids:
            with self.id_table("cleaned_ids", article_ids):
                self._exec("""UPDATE articles SET boilerplate_paragraphs = 0
                              WHERE boilerplate_paragraphs IS NULL AND article_id IN (SELECT id FROM cleaned_ids)""")

    # -- page templates per source (issue #17, balkanwatch/templates.py) --------------------------------
    def template_pages(self, sources: Sequence[str], window: int) -> dict[str, list[tuple[str, str, bytes, str]]]:
        """Per source, (final URL, encoding, raw HTML zlib-compressed, stored text) of its last `window`
        articles by fetch time, newest first. One query for every source (on a lake a read costs ~20 ms
        whatever its rows); the pages stay compressed until the caller parses them one at a time."""
        if not sources:
            return {}
        rows = self._latest_per_source(sources, window, """
            SELECT r.source, coalesce(p.final_url, p.url), p.encoding, p.html_zlib, r.text FROM recent r
            JOIN raw_pages p USING (article_id) WHERE r.n <= ? ORDER BY r.source, r.n""")
        out: dict[str, list[tuple[str, str, bytes, str]]] = {s: [] for s in sources}
        for source, url, enc, html, text in rows:
            out[source].append((url, enc, html, text))
        return out

    def template_ages(self, sources: Sequence[str]) -> dict[str, tuple[bool, int]]:
        """Per source: (has a template, articles fetched since it was learned — or in all, without one)."""
        rows = self._exec(
            """WITH t AS (SELECT source, max(learned_at) AS at FROM source_templates GROUP BY source)
               SELECT a.source, t.at IS NOT NULL, count(*) FILTER (WHERE t.at IS NULL OR a.fetched_at > t.at)
               FROM articles a LEFT JOIN t USING (source) WHERE list_contains(?, a.source)
               GROUP BY a.source, t.at""", [list(sources)]).fetchall()
        return {source: (bool(has), int(n)) for source, has, n in rows}

    def replace_templates(self, learned: Mapping[str, tuple[Sequence[tuple[str, str]], int]], now: datetime) -> None:
        """Each source's template as (kind, key) rows (templates.rows) and the pages it was learned from,
        replacing the one it had: every source in one transaction of two statements, as replace_boilerplate
        (a transaction a source cost ~16 ms on a lake, issue #16)."""
        if not learned:
            return
        batch = pa.Table.from_pylist(
            [{"source": source, "kind": kind, "key": key, "pages": pages}
             for source, (rows, pages) in learned.items() for kind, key in rows],
            schema=pa.schema([("source", pa.string()), ("kind", pa.string()), ("key", pa.string()),
                              ("pages", pa.int32())]))
        sources = pa.table({"source": pa.array(list(learned), pa.string())})
        with self.transaction(), self.registered(relearned_templates=sources, template_batch=batch):
            self.con.execute("DELETE FROM source_templates WHERE source IN (SELECT source FROM relearned_templates)")
            if batch.num_rows:
                self.con.execute("INSERT INTO source_templates SELECT source, kind, key, pages, ? FROM template_batch",
                                 [now])

    def source_templates(self) -> dict[str, Template]:
        """Every source's learned template (sources whose pages taught nothing left out)."""
        by: dict[str, list[tuple[str, str]]] = defaultdict(list)
        pages: dict[str, int] = {}
        for source, kind, key, n in self._exec("SELECT source, kind, key, pages FROM source_templates").fetchall():
            by[source].append((kind, key))
            pages[source] = n
        learned = {source: from_rows(rows, pages[source]) for source, rows in by.items()}
        return {source: t for source, t in learned.items() if t is not None}
