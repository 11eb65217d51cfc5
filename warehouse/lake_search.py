"""BM25 search on a lake (issue #16, slice 2): a local index beside the lake.

DuckLake tables take no FTS index (the PRAGMA fails at commit), so a local DuckDB file holds a copy of the
lake's `articles(article_id, title, text)`, folded as the file's index folds them (textnorm.fold_sql), and
DuckDB's FTS index over it, with the file backend's options (store.FTS_FIELDS, porter stemmer, accents
stripped, lower-cased) and its query expansion (`expanded`): on the same articles it scores exactly as the
file does. `Warehouse.rebuild_fts` builds it (`reindex`, and ingest when health.should_rebuild_fts says
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
    out: list[str] = []
    for word in fold(query).split():
        out.append(word)
        if len(word) >= PREFIX_MIN:
            out += [r[0] for r in con.execute(
                f"""SELECT term FROM {schema}.dict WHERE starts_with(term, stem(?, 'porter')) AND term <> ?
                    ORDER BY df DESC, term LIMIT ?""", [word, word, PREFIX_TERMS]).fetchall()]
    return " ".join(out)


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
    """Write `articles` (article_id and `fields`) and their BM25 index to `path`, replacing it whole;
    returns how many articles it holds."""
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
    the default schema: a lake's local index file) records INDEX_VERSION. A file warehouse's index records
    it in `search.index_info` (Warehouse.has_fts)."""
    schema, _, table = info.rpartition(".")
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND (? = '' OR schema_name = ?)",
                      [table, schema, schema]).fetchone()
    if not row or not row[0]:
        return False
    found = con.execute(f"SELECT max(version) FROM {info}").fetchone()
    return bool(found and found[0] == INDEX_VERSION)


def indexed_ids(path: Path, *, fts_extension: str) -> pa.Table:
    """The article ids in the local index (one column, article_id); none in an index of older rules, so that
    its articles count as unindexed and the next ingest rebuilds it (health.should_rebuild_fts)."""
    with _reading(path, fts_extension) as con:
        if not index_current(con):
            return pa.table({"article_id": pa.array([], pa.string())})
        return con.execute("SELECT article_id FROM articles").to_arrow_table()


def ranked(path: Path, query: str, limit: int, *, fts_extension: str) -> pa.Table:
    """(article_id, score) of the best `limit` BM25 matches of `query`, best first (ties by id)."""
    with _reading(path, fts_extension) as con:
        if not index_current(con):   # an index of older rules ranks nothing: search scans until it is rebuilt
            return pa.table({"article_id": pa.array([], pa.string()), "score": pa.array([], pa.float64())})
        return con.execute(
            """SELECT article_id, score FROM (
                 SELECT article_id, fts_main_articles.match_bm25(article_id, ?) AS score FROM articles)
               WHERE score IS NOT NULL ORDER BY score DESC, article_id LIMIT ?""",
            [expanded(con, "fts_main_articles", query), limit]).to_arrow_table()


def _reading(path: Path, fts_extension: str) -> duckdb.DuckDBPyConnection:
    try:
        return _connect(path, read_only=True, fts_extension=fts_extension)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot read the lake's search index {path}: {exc} "
                             "(`balkanwatch reindex` builds it again)") from exc
