"""`balkanwatch warehouse migrate --to-lake` (issue #16, slice 2): a DuckDB file warehouse copied into a new lake.

    file --(migrated to SCHEMA_VERSION)--> ATTACH READ_ONLY on the lake's writer connection
         --INSERT BY NAME, table by table, one transaction--> lake --> local search index built

Every table of the lake's schema is copied whole (ids, timestamps, sketches, raw pages unchanged), and the
file's schema_version history replaces the lake's one row. Only an empty lake is taken (nothing but its
schema_version row), so a copy never merges into data; the copy is one transaction, so a copy that fails
leaves the lake empty and can simply be run again. The file stays as it was, under a shared lock (no writer
changes it while it is read), and is not needed afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from balkanwatch.errors import WarehouseError
from warehouse.lake import LAKE
from warehouse.locks import file_lock
from warehouse.store import Warehouse

if TYPE_CHECKING:
    from balkanwatch.config import Config
    from balkanwatch.progress import Progress

SOURCE = "file_warehouse"   # the file's name on the lake's connection while it is copied


def migrate_to_lake(config: Config, source: Path, progress: Progress | None = None) -> dict[str, int]:
    """Copy the DuckDB file `source` into the configured (empty) lake; returns rows copied per table.
    `progress` counts rows copied, reported after each table."""
    if config.warehouse.backend != "ducklake":
        raise WarehouseError('migrate --to-lake needs warehouse.backend = "ducklake" (and catalog, data_path) in the config')
    if not source.exists():
        raise WarehouseError(f"no warehouse file at {source} (warehouse.path, or --from)")
    with Warehouse.open(source, lock_timeout=config.warehouse.lock_timeout):
        pass   # brings the file to this balkanwatch's schema version, as any writer would
    timeout = config.warehouse.lock_timeout
    with (file_lock(source.with_name(source.name + ".lock"), exclusive=False, timeout=timeout, what="warehouse"),
          Warehouse.for_config(config) as lake):
        tables = lake_tables(lake)
        refuse_unless_empty(lake, tables)
        lake._exec(f"ATTACH '{_quote(str(source))}' AS {SOURCE} (READ_ONLY)")
        try:
            copied = _copy(lake, tables, progress)
        finally:
            lake._exec(f"DETACH {SOURCE}")
        lake.rebuild_fts()
    return copied


def lake_tables(wh: Warehouse) -> list[str]:
    """The lake's tables (its schema's), in name order."""
    rows = wh._exec("""SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'
                       ORDER BY table_name""", [LAKE]).fetchall()
    return [r[0] for r in rows]


def refuse_unless_empty(wh: Warehouse, tables: list[str]) -> None:
    """WarehouseError naming the tables that hold rows (schema_version aside)."""
    full = [t for t in tables if t != "schema_version" and _count(wh, t) > 0]
    if full:
        raise WarehouseError(f"{wh.where} is not empty ({', '.join(full)} hold rows): migrate --to-lake copies "
                             "into a new, empty lake only (a new catalog database and data path)")


def _copy(wh: Warehouse, tables: list[str], progress: Progress | None) -> dict[str, int]:
    sizes = {t: _count(wh, t, f"{SOURCE}.main.") for t in tables}
    total, done, copied = sum(sizes.values()), 0, {}
    with wh.transaction():
        wh.con.execute("DELETE FROM schema_version")   # the file's history instead of the lake's one row
        for table in tables:
            wh.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {SOURCE}.main.{table}")
            copied[table] = sizes[table]
            done += sizes[table]
            if progress:
                progress(done, total)
    return copied


def _count(wh: Warehouse, table: str, prefix: str = "") -> int:
    try:
        row = wh.con.execute(f"SELECT count(*) FROM {prefix}{table}").fetchone()
    except duckdb.CatalogException as exc:
        raise WarehouseError(f"the file warehouse has no table {table}: {exc}") from exc
    return int(row[0]) if row else 0


def _quote(text: str) -> str:
    return text.replace("'", "''")
