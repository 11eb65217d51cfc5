"""Keeping a warehouse in shape (issue #16, slice 3): `maintain` and a lake's snapshots.

On a lake, small commits leave small things behind: rows inlined in the catalog (DuckLake keeps inserts of
a few rows there instead of writing a Parquet file), many small Parquet files, a snapshot per commit, and
files no current snapshot reads. `maintain` runs DuckLake's calls in order:

    ducklake_flush_inlined_data | ducklake_merge_adjacent_files | ducklake_rewrite_data_files
        | ducklake_expire_snapshots(older_than) | ducklake_cleanup_old_files(older_than)
        | ducklake_delete_orphaned_files(older_than)

(the rewrite: files most of whose rows were deleted, as `sources` and `runs` are by their MERGEs and UPDATEs,
are written again without them; DuckLake's default threshold decides which).

Merging keeps time travel to the snapshots it spans (a merged file records which rows each snapshot wrote);
expiring is what ends it. Files merged away or of expired snapshots are only scheduled for deletion; they
are deleted once their grace has passed (a query that began before may still be reading them). Orphaned
files are Parquet files under the data path that the catalog never recorded: a writer killed (or whose
commit failed for good) after writing a file but before its commit leaves one; they are deleted once older
than the same grace. The caller holds the writer lock (a writer `Warehouse`) and `maintain` runs under the
ingest run lock alone (no shard load beside it), so this never interleaves with a load or a settle, and the
grace keeps a file even a load that started before the lock was taken could still commit.
On a DuckDB file there are no snapshots: `maintain` is a CHECKPOINT.

Before any of it, on either backend, the retention the config asks for (`balkanwatch.maintenance.Retention`):
raw pages and fetch-log rows older than their cutoffs are deleted in one transaction (each source's newest
raw pages stay: its page template is learned from them). A DuckDB file reuses the freed blocks for the next
rows (it does not shrink); on a lake the rewrite below drops the deleted rows from their files, and the
files go once the snapshots that read them expire.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from balkanwatch.errors import WarehouseError
from balkanwatch.maintenance import MaintenanceReport, Retention, describe_changes
from warehouse.base import WarehouseBase, utc_naive
from warehouse.lake import LAKE, LakeTarget

LAKE_ONLY = ("flushing inlined data, merging files, expiring snapshots and deleting old files are "
             "DuckLake-only (a DuckDB file keeps no snapshots)")


class UpkeepMixin(WarehouseBase):
    """`maintain` (a writer) and `snapshots` (any session) of `Warehouse`."""

    lake: LakeTarget | None
    path: Path

    def maintain(self, *, keep: timedelta, grace: timedelta, retention: Retention | None = None,
                 now: datetime | None = None) -> MaintenanceReport:
        """Apply `retention`, then flush, merge, rewrite, expire snapshots older than now - keep, delete files
        unneeded for longer than grace (a DuckDB file: apply `retention`, then CHECKPOINT)."""
        retention = retention or Retention()
        pruned = self.apply_retention(retention)
        if self.lake is None:
            return replace(self._checkpoint(), **pruned)
        now = now or datetime.now(UTC)
        before = self._data_files(), self._scalar(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')")
        disk_before = self._files_on_disk()
        flushed = self._call_sum(f"CALL ducklake_flush_inlined_data('{LAKE}')", "rows_flushed")
        merged = self._exec(f"CALL ducklake_merge_adjacent_files('{LAKE}')").fetchall()   # (schema, table, read, written)
        rewritten = self._exec(f"CALL ducklake_rewrite_data_files('{LAKE}')").fetchall()  # the same columns
        cutoff = now - keep
        expired = len(self._exec(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => ?)", [cutoff]).fetchall())
        unneeded_before = datetime.now(UTC) - grace   # now: the files the calls above just let go count too
        deleted = len(self._exec(f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => ?)", [unneeded_before])
                      .fetchall())
        orphans = len(self._exec(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?)",
                                 [unneeded_before]).fetchall())
        return MaintenanceReport(
            backend="ducklake", inlined_rows_flushed=flushed, files_merged=sum(int(r[2]) for r in merged),
            files_written=sum(int(r[3]) for r in merged), files_rewritten=sum(int(r[2]) for r in rewritten),
            snapshots_before=before[1], snapshots_expired=expired,
            expired_before=utc_naive(cutoff), files_deleted=deleted, orphans_deleted=orphans,
            data_files_before=before[0], data_files_after=self._data_files(),
            files_on_disk_before=disk_before, files_on_disk_after=self._files_on_disk(), **pruned)

    def apply_retention(self, retention: Retention) -> dict[str, Any]:
        """Delete what `retention` lets go, in one transaction; the counts and cutoffs for the report.
        The newest pages of a source are ranked as `template_pages` ranks them (articles by fetch time)."""
        raw = fetches = 0
        if retention.deletes:
            with self.transaction():
                if retention.raw_pages_before is not None:
                    raw = self._count(self._exec(
                        """DELETE FROM raw_pages WHERE fetched_at < ? AND article_id NOT IN (
                             SELECT article_id FROM (SELECT article_id, row_number() OVER (PARTITION BY source
                                 ORDER BY fetched_at DESC, article_id) AS n FROM articles) WHERE n <= ?)""",
                        [utc_naive(retention.raw_pages_before), retention.keep_per_source]))
                if retention.fetches_before is not None:
                    fetches = self._count(self._exec("DELETE FROM fetches WHERE started_at < ?",
                                                     [utc_naive(retention.fetches_before)]))
        return {"raw_pages_deleted": raw, "raw_pages_before": utc_naive(retention.raw_pages_before),
                "fetches_deleted": fetches, "fetches_before": utc_naive(retention.fetches_before)}

    def snapshots(self, limit: int = 20) -> list[dict[str, Any]]:
        """The lake's newest snapshots: id, time (UTC), what changed (table names), commit message."""
        if self.lake is None:
            raise WarehouseError("snapshots are DuckLake-only: a DuckDB file keeps none (warehouse.backend)")
        names = {str(r[0]): str(r[1]) for r in
                 self._exec(f"SELECT table_id, table_name FROM ducklake_table_info('{LAKE}')").fetchall()}
        rows = self._exec(f"""SELECT snapshot_id, timezone('UTC', snapshot_time) AS snapshot_time, changes,
                                     commit_message FROM ducklake_snapshots('{LAKE}')
                              ORDER BY snapshot_id DESC LIMIT ?""", [limit]).fetchall()
        return [{"snapshot_id": sid, "snapshot_time_utc": when, "changes": describe_changes(changes, names),
                 "commit_message": message} for sid, when, changes, message in rows]

    def _checkpoint(self) -> MaintenanceReport:
        size = self.path.stat().st_size
        self._exec("CHECKPOINT")
        return MaintenanceReport(backend="duckdb", note=LAKE_ONLY, bytes_before=size,
                                 bytes_after=self.path.stat().st_size)

    def _data_files(self) -> int:
        return self._scalar(f"SELECT coalesce(sum(file_count + delete_file_count), 0) FROM ducklake_table_info('{LAKE}')")

    def _files_on_disk(self) -> int | None:
        if self.lake is None or not self.lake.local:
            return None
        return sum(1 for _ in Path(self.lake.data_path).rglob("*.parquet"))

    def _call_sum(self, sql: str, column: str) -> int:
        cur = self._exec(sql)
        at = [d[0] for d in cur.description or []].index(column)
        return sum(int(r[at]) for r in cur.fetchall())

    @staticmethod
    def _count(cur: Any) -> int:
        row = cur.fetchone()   # a DELETE answers the number of rows it deleted
        return int(row[0]) if row else 0

    def _scalar(self, sql: str) -> int:
        row = self._exec(sql).fetchone()
        return int(row[0]) if row else 0
