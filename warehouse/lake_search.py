"""BM25 search on a lake (issue #16, slice 2): a local index beside the lake.

DuckLake tables take no FTS index (the PRAGMA fails at commit), so a local DuckDB file holds a copy of the
lake's `articles(article_id, title, text)`, folded as the file's index folds them (textnorm.fold_sql), and
DuckDB's FTS index over it, with the file backend's options (store.FTS_FIELDS, porter stemmer, accents
stripped, lower-cased) and its query expansion (`expanded`): on the same articles it scores exactly as the
file does. `Warehouse.rebuild_fts` builds it (`reindex`, and ingest when health.fts_refresh says
so, as on the file); articles the copy lacks are found by the warehouse's plain scan and shown as new.

The file belongs to one machine (the one that built it): another machine's `search` scans until it runs
`reindex` itself (a read-only session: the lake is not written). A build writes `<file>.<pid>.building` and
renames it over the file, so a search reads a whole index or the previous one, never half of one, and two
builds at once (ingest's and an analyst's `reindex`) both finish, the later rename winning. A build killed
before its rename leaves its `.building` file (and WAL) behind: the next build on the machine deletes those
of builders no longer running (their pid gone), never a live one's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from balkanwatch.errors import WarehouseError
from balkanwatch.search_syntax import PREFIX_MIN, SEARCH_STOPWORDS, word_start
from balkanwatch.textnorm import fold


def fts_options(stopwords: str) -> str:
    """The FTS index's options, a file's and a lake's alike, its stopwords read from the table `stopwords`
    (`stopwords_table` fills it with search_syntax.SEARCH_STOPWORDS)."""
    return f"stemmer = 'porter', stopwords = '{stopwords}', strip_accents = 1, lower = 1, overwrite = 1"


def stopwords_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """(Re)create the table `name` holding search_syntax.SEARCH_STOPWORDS, for `fts_options`."""
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT unnest(?::VARCHAR[]) AS sw", [sorted(SEARCH_STOPWORDS)])


# The index's words a search word's stem begins (search_syntax.PREFIX_MIN letters or more) are added to the
# query, at most PREFIX_TERMS of them, the most frequent first.
PREFIX_TERMS = 20
# The rules an index is built by: 2 since session 32 (folded title and text), 3 since session 36 (its
# stopwords search_syntax.SEARCH_STOPWORDS, not DuckDB's English list). An index of other rules (none
# recorded: before session 32) counts as empty, so the next ingest rebuilds it (a file's as a lake's:
# Warehouse.has_fts).
INDEX_VERSION = 3


def expanded(con: duckdb.DuckDBPyConnection, schema: str, query: str) -> str:
    """The BM25 query for `query` on the index `schema` (its words folded, as the index's are): each word, and
    the index's words its stem begins (words of PREFIX_MIN letters or more; the PREFIX_TERMS most frequent),
    so that "Zvecan" also finds Zvečanu, Zveçanit and Звечану, as a watchlist's `Zvečan*` would."""
    return expanded_all(con, [schema], query)


BM25_K, BM25_B = 1.2, 0.75   # DuckDB's match_bm25 defaults


def bm25_sql(indexes: Sequence[str], *, shadowing: str | None = None) -> str:
    """SQL of (article_id, score): BM25 of the articles of the FTS indexes `indexes` (their schemas: a file's
    segments and recent index; a lake's whole index and recent one) for a query string (the one parameter),
    scored as DuckDB's `match_bm25` scores (its tokenizer and stemmer, every field, any word) but with the word
    statistics of all the indexes together (articles, documents holding each word, mean length), so that an
    article scores the same in any of them as it would in one index of all: a search engine's shards scoring
    by global statistics. On one index the scores are `match_bm25`'s (tests/test_warehouse.py). The indexes
    hold each article once, but `shadowing` (the recent index: it holds again, at their current text, the
    articles the others hold stale, session 44) may hold articles the others hold too: they are scored there
    only, and count in the statistics of both (a few among thousands). (A lake's reader may also catch the
    moment between a whole rebuild's new file and the removal of the recent one: the same.)"""
    first = indexes[0]

    def left_out(i: str) -> str:
        return f" AND d.name NOT IN (SELECT name FROM {shadowing}.docs)" if shadowing not in (None, i) else ""
    docs = " UNION ALL ".join(
        f"""SELECT d.name AS article_id, d.len, k.term, count(*) AS tf FROM {i}.terms x
            JOIN {i}.dict k ON k.termid = x.termid JOIN {i}.docs d ON d.docid = x.docid
            WHERE k.term IN (SELECT t FROM tokens){left_out(i)}
            GROUP BY ALL""" for i in indexes)
    return f"""WITH tokens AS (SELECT DISTINCT stem(unnest({first}.tokenize(?)), 'porter') AS t),
        totals AS (SELECT sum(num_docs) AS n, sum(num_docs * avgdl) / sum(num_docs) AS avgdl FROM (
                   {" UNION ALL ".join(f"SELECT num_docs, avgdl FROM {i}.stats" for i in indexes)})),
        dfs AS (SELECT term, sum(df) AS df FROM (
                {" UNION ALL ".join(f"SELECT term, df FROM {i}.dict" for i in indexes)})
                WHERE term IN (SELECT t FROM tokens) GROUP BY term),
        hits AS ({docs})
        SELECT article_id, sum(log((n - df + 0.5) / (df + 0.5) + 1)
                               * tf * ({BM25_K} + 1) / (tf + {BM25_K} * (1 - {BM25_B} + {BM25_B} * len / avgdl))) AS score
        FROM hits JOIN dfs USING (term), totals GROUP BY article_id"""


def expanded_all(con: duckdb.DuckDBPyConnection, indexes: Sequence[str], query: str) -> str:
    """`expanded` over several indexes (a file's segments and recent index) as over one index of all their
    articles: the words a stem begins ranked by their document counts summed. One statement a word, however
    many indexes (one a word and index: 13.6 ms a query over four indexes of 2,500 articles; 9.8 ms so)."""
    dicts = " UNION ALL ".join(f"SELECT term, df FROM {i}.dict" for i in indexes)
    out: list[str] = []
    for word in fold(query).split():
        out.append(word)
        if len(word) >= PREFIX_MIN:
            out += [r[0] for r in con.execute(
                f"""SELECT term FROM ({dicts}) WHERE starts_with(term, stem(?, 'porter')) AND term <> ?
                    GROUP BY term ORDER BY sum(df) DESC, term LIMIT ?""", [word, word, PREFIX_TERMS]).fetchall()]
    return " ".join(dict.fromkeys(out))


def scan_pattern(word: str) -> tuple[str, str]:
    """(LIKE pattern, RE2 regular expression) for the plain scan of articles not yet indexed, matching a
    folded `word` as `search_syntax.word_start` says. The LIKE pattern is the cheap test run first."""
    start, whole = word_start(word)
    end = r"s?([^\pL\pN]|$)" if whole else ""
    return f"%{start}%", rf"(^|[^\pL\pN]){re.escape(start)}{end}"


def _connect(path: Path, *, read_only: bool, fts_extension: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only,
                         config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{fts_extension}'")
    return con


def build_index(path: Path, articles: pa.Table, fields: Sequence[str], *, fts_extension: str) -> int:
    """Write `articles` (article_id, `fields` and any other column kept beside them: the `key` of what was
    indexed) and their BM25 index over `fields` to `path`, replacing it whole; returns how many articles it
    holds."""
    building = path.with_name(f"{path.name}.{os.getpid()}.building")   # two builders never share one
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in [building, building.with_name(building.name + ".wal"), *abandoned_builds(path)]:
            stale.unlink(missing_ok=True)
        con = _connect(building, read_only=False, fts_extension=fts_extension)
        try:
            con.register("lake_articles", articles)
            con.execute("CREATE TABLE articles AS SELECT * FROM lake_articles")
            quoted = ", ".join(f"'{f}'" for f in fields)
            stopwords_table(con, "stopwords")
            con.execute(f"PRAGMA create_fts_index('articles', 'article_id', {quoted}, {fts_options('stopwords')})")
            con.execute(f"CREATE TABLE index_info AS SELECT {INDEX_VERSION} AS version")   # as a file's (store.py)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(building, path)
    except (duckdb.Error, OSError) as exc:
        raise WarehouseError(f"cannot build the lake's search index {path}: {exc}") from exc
    return int(articles.num_rows)


def recent_path(path: Path) -> Path:
    """The recent index beside the whole one at `path` (`Warehouse.rebuild_recent_fts`): the articles the whole
    index lacks, indexed alone, so that an hourly refresh costs the new articles, not every article."""
    return path.with_name(f"{path.stem}.recent{path.suffix}")


def remove_index(path: Path) -> None:
    """Delete the index file at `path` and its WAL, if there."""
    try:
        for gone in (path, path.with_name(path.name + ".wal")):
            gone.unlink(missing_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot remove the search index {path}: {exc}") from exc


def abandoned_builds(path: Path) -> list[Path]:
    """The `.building` files (and their WALs) beside `path` whose builder process no longer runs."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)\.building(\.wal)?")
    found = []
    for candidate in path.parent.glob(f"{path.name}.*.building*"):
        m = pattern.fullmatch(candidate.name)
        if m and int(m.group(1)) != os.getpid() and not _running(int(m.group(1))):
            found.append(candidate)
    return sorted(found)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    return True


def index_current(con: duckdb.DuckDBPyConnection, info: str = "index_info") -> bool:
    """Whether the index was built by this version's rules: its table `info` (`schema.table`, or a table of
    the default schema: a lake's local index file; `database.schema.table` in an attached one) records
    INDEX_VERSION. A file warehouse's index records it in `search.index_info` (Warehouse.has_fts)."""
    *where, table = info.split(".")
    database, schema = (["", ""] + where)[-2:]
    row = con.execute("""SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND (? = '' OR schema_name = ?)
                           AND (? = '' OR database_name = ?)""", [table, schema, schema, database, database]).fetchone()
    if not row or not row[0]:
        return False
    found = con.execute(f"SELECT max(version) FROM {info}").fetchone()
    return bool(found and found[0] == INDEX_VERSION)


def indexed_ids(path: Path, *, fts_extension: str) -> pa.Table:
    """The article ids in the local index (one column, article_id); none in an index of older rules, so that
    its articles count as unindexed and the next ingest rebuilds it (health.fts_refresh)."""
    return indexed_keys(path, fts_extension=fts_extension).select(["article_id"])


def indexed_keys(path: Path, *, fts_extension: str) -> pa.Table:
    """(article_id, key) of the articles in the local index: the hash of the title and content hash each had
    when indexed (`Warehouse`'s `_indexed_key`; NULL in an index built before session 44, which recorded
    none); none in an index of older rules (`indexed_ids`)."""
    with _reading(path, fts_extension) as con:
        if not index_current(con):
            return pa.table({"article_id": pa.array([], pa.string()), "key": pa.array([], pa.uint64())})
        has_key = con.execute("""SELECT count(*) FROM duckdb_columns() WHERE table_name = 'articles'
                                   AND column_name = 'key'""").fetchone()
        key = "key" if has_key and has_key[0] else "NULL::UBIGINT AS key"
        return con.execute(f"SELECT article_id, {key} FROM articles").to_arrow_table()


def ranked(path: Path, query: str, limit: int, *, fts_extension: str, recent: Path | None = None) -> pa.Table:
    """(article_id, score) of the best `limit` BM25 matches of `query`, best first (ties by id), in the index at
    `path` and the recent index at `recent` (when given and current), scored together (`bm25_sql`)."""
    with _reading(path, fts_extension) as con:
        if not index_current(con):   # an index of older rules ranks nothing: search scans until it is rebuilt
            return pa.table({"article_id": pa.array([], pa.string()), "score": pa.array([], pa.float64())})
        indexes = ["fts_main_articles"]
        if recent is not None:
            try:
                quoted = str(recent).replace("'", "''")     # ATTACH takes no parameter
                con.execute(f"ATTACH '{quoted}' AS recent (READ_ONLY)")
            except duckdb.Error as exc:
                if recent.exists():     # not a whole rebuild removing it just now: unreadable
                    raise WarehouseError(f"cannot read the lake's recent search index {recent}: {exc} "
                                         "(`balkanwatch reindex` builds the index again)") from exc
            else:
                if index_current(con, "recent.main.index_info"):
                    indexes.append("recent.fts_main_articles")
        return con.execute(
            f"""SELECT article_id, score FROM ({bm25_sql(indexes, shadowing="recent.fts_main_articles" if len(indexes) > 1 else None)})
                ORDER BY score DESC, article_id LIMIT ?""",
            [expanded_all(con, indexes, query), limit]).to_arrow_table()


def _reading(path: Path, fts_extension: str) -> duckdb.DuckDBPyConnection:
    try:
        return _connect(path, read_only=True, fts_extension=fts_extension)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot read the lake's search index {path}: {exc} "
                             "(`balkanwatch reindex` builds it again)") from exc
