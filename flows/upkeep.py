"""The maintenance flow (issue #16): keep a lake small and fast, scheduled as `balkanwatch-maintain`.

    ingest run lock | writer lock | retention (old raw pages, old fetch log) | flush inlined rows | merge small files | expire old snapshots
        | delete unneeded files | report (stdout, or a Prefect markdown artifact)

Orchestration only: the work is `Warehouse.maintain` (warehouse/upkeep.py). It holds the ingest run lock and
the writer lock, as an ingest does, so it never runs during a load or a settle; a busy warehouse is
skipped, as ingest skips, and the next scheduled run tries again. On a DuckDB file it applies the retention
and checkpoints.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow

from balkanwatch.config import Config, load_config
from balkanwatch.errors import WarehouseBusyError
from balkanwatch.maintenance import MaintenanceReport, Retention
from warehouse import Warehouse


def run_maintain(config: Config) -> MaintenanceReport:
    """Maintain the configured warehouse under both locks (warehouse.keep_snapshots_days, file_grace_hours,
    keep_raw_pages_days, keep_fetches_days)."""
    settings = config.warehouse
    try:
        with Warehouse.run_lock(config), Warehouse.for_config(config) as wh:
            return wh.maintain(keep=timedelta(days=settings.keep_snapshots_days),
                               grace=timedelta(hours=settings.file_grace_hours),
                               retention=Retention.from_days(datetime.now(UTC), settings.keep_raw_pages_days,
                                                             settings.keep_fetches_days))
    except WarehouseBusyError as exc:
        return MaintenanceReport(backend=settings.backend, status="skipped", note=str(exc))


@flow(name="maintain", description="Delete raw pages and fetch-log rows past their retention; flush inlined rows, "
                                   "merge small files, expire old snapshots and delete unneeded files of a "
                                   "DuckLake lake (a DuckDB file: CHECKPOINT).")
def maintain(config_path: str) -> dict[str, Any]:
    """One maintenance of the config's warehouse; its report as a dict and as the `warehouse-maintenance` artifact."""
    from prefect.artifacts import create_markdown_artifact

    report = run_maintain(load_config(config_path))
    create_markdown_artifact(report.markdown(), key="warehouse-maintenance", description="Warehouse maintenance")
    return report.as_dict()
