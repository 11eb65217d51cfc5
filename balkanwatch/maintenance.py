"""What `balkanwatch warehouse maintain` did, and a lake snapshot's changes, in words (issue #16, slice 3).

Pure: the warehouse (warehouse/upkeep.py) measures and acts, this module only says it. A lake's maintenance
is five DuckLake calls in this order: flush inlined rows into Parquet, merge small adjacent files, rewrite
files most of whose rows were deleted, expire snapshots older than the cutoff, delete the files nothing
refers to any more once their grace has passed, and then the orphaned ones (written by a load that never
committed) older than the same grace.
A DuckDB file only checkpoints (it keeps no snapshots).

On either backend, `maintain` first applies the retention the config asks for (`Retention`): raw pages
older than `warehouse.keep_raw_pages_days` and fetch-log rows older than `warehouse.keep_fetches_days` go.
Everything else is kept whatever its age (articles, stories, mentions, alerts: the analysts' record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from balkanwatch.templates import LEARN_WINDOW

# A source's newest raw pages are kept whatever their age: its page template is learned from them
# (balkanwatch/templates.py), and a source that publishes once a month must not lose its template's input.
RAW_PAGES_KEPT_PER_SOURCE = LEARN_WINDOW


@dataclass(frozen=True)
class Retention:
    """What `maintain` deletes before anything else: raw pages fetched before `raw_pages_before` (except each
    source's newest `keep_per_source`), fetch-log rows started before `fetches_before`. None keeps them all."""

    raw_pages_before: datetime | None = None
    fetches_before: datetime | None = None
    keep_per_source: int = RAW_PAGES_KEPT_PER_SOURCE

    @classmethod
    def from_days(cls, now: datetime, raw_pages_days: float, fetches_days: float) -> Retention:
        """The cutoffs `days` before `now`; 0 days (the default) keeps everything."""
        return cls(raw_pages_before=now - timedelta(days=raw_pages_days) if raw_pages_days > 0 else None,
                   fetches_before=now - timedelta(days=fetches_days) if fetches_days > 0 else None)

    @property
    def deletes(self) -> bool:
        return self.raw_pages_before is not None or self.fetches_before is not None

# DuckLake's names for what a snapshot changed (ducklake_snapshots().changes), as words.
_CHANGE_WORDS = {
    "tables_inserted_into": "inserted into", "tables_deleted_from": "deleted from",
    "inlined_insert": "inserted (inlined) into", "inlined_delete": "deleted (inlined) from",
    "flushed_inlined": "flushed inlined rows of", "merge_adjacent": "merged files of",
    "compacted_table": "compacted", "rewrite_delete": "rewrote files of", "tables_created": "created", "tables_dropped": "dropped",
    "tables_altered": "altered", "schemas_created": "created schema", "schemas_dropped": "dropped schema",
    "views_created": "created view", "views_dropped": "dropped view",
}


@dataclass(frozen=True)
class MaintenanceReport:
    """One `warehouse maintain`: counts before and after. Data files are those the lake's current snapshot
    reads (data and delete files); files on disk are every Parquet file under a local data path."""

    backend: str
    status: str = "completed"               # or "skipped" (another writer held the lock), with a note
    note: str = ""
    inlined_rows_flushed: int = 0           # rows the catalog held instead of Parquet files (all of them)
    files_merged: int = 0                   # small files read by the merge ...
    files_written: int = 0                  # ... and the files it wrote instead
    files_rewritten: int = 0                # files rewritten without their deleted rows
    snapshots_before: int = 0
    snapshots_expired: int = 0
    expired_before: datetime | None = None  # the cutoff (now - warehouse.keep_snapshots_days)
    files_deleted: int = 0
    orphans_deleted: int = 0                # Parquet files the catalog never recorded (a killed load's)
    data_files_before: int = 0
    data_files_after: int = 0
    files_on_disk_before: int | None = None  # None: the data path is not a local folder
    files_on_disk_after: int | None = None
    bytes_before: int | None = None          # the DuckDB file's size around its CHECKPOINT
    bytes_after: int | None = None
    raw_pages_deleted: int = 0               # retention (both backends): raw pages older than the cutoff
    raw_pages_before: datetime | None = None  # … that cutoff (None: warehouse.keep_raw_pages_days is 0, keep all)
    fetches_deleted: int = 0                 # fetch-log rows older than …
    fetches_before: datetime | None = None   # … this cutoff (None: keep all)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as short lines (the CLI prints them; the flow's artifact lists them)."""
        if self.status != "completed":
            return [f"maintenance skipped: {self.note}"]
        kept = self.retention_lines()
        if self.backend != "ducklake":
            return [*kept, f"checkpointed the DuckDB file: {self.bytes_before} → {self.bytes_after} bytes", self.note]
        on_disk = ("" if self.files_on_disk_before is None
                   else f"; Parquet files on disk {self.files_on_disk_before} → {self.files_on_disk_after}")
        cutoff = self.expired_before.isoformat(sep=" ", timespec="seconds") if self.expired_before else "?"
        return [*kept, f"flushed {self.inlined_rows_flushed} inlined rows into Parquet",
                f"merged {self.files_merged} small files into {self.files_written}",
                f"rewrote {self.files_rewritten} files without their deleted rows",
                f"expired {self.snapshots_expired} of {self.snapshots_before} snapshots (older than {cutoff} UTC)",
                f"deleted {self.files_deleted} files no snapshot needs any more",
                f"deleted {self.orphans_deleted} orphaned files (written by a load that never committed)",
                f"data files read by the lake {self.data_files_before} → {self.data_files_after}{on_disk}"]

    def retention_lines(self) -> list[str]:
        def cutoff(when: datetime | None) -> str:
            return when.isoformat(sep=" ", timespec="seconds") + " UTC" if when else ""
        raw = (f"deleted {self.raw_pages_deleted} raw pages fetched before {cutoff(self.raw_pages_before)} "
               f"(each source's newest {RAW_PAGES_KEPT_PER_SOURCE} kept)" if self.raw_pages_before
               else "raw pages: all kept (warehouse.keep_raw_pages_days = 0)")
        fetches = (f"deleted {self.fetches_deleted} fetch-log rows from before {cutoff(self.fetches_before)}"
                   if self.fetches_before else "fetch log: all kept (warehouse.keep_fetches_days = 0)")
        return [raw, fetches]

    def markdown(self) -> str:
        return "# Warehouse maintenance\n\n" + "\n".join(f"- {line}" for line in self.lines() if line)


def describe_changes(changes: Mapping[str, Sequence[str]] | None, table_names: Mapping[str, str]) -> str:
    """A snapshot's `changes` map in words, DuckLake's table ids replaced by table names where known:
    {"tables_inserted_into": ["3"]} → "inserted into articles"."""
    if not changes:
        return ""
    parts = []
    for kind, items in sorted(changes.items()):
        names = ", ".join(sorted(table_names.get(str(i), str(i)) for i in items))
        parts.append(f"{_CHANGE_WORDS.get(kind, kind.replace('_', ' '))} {names}".strip())
    return "; ".join(parts)
