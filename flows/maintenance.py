"""Maintenance jobs over stored data: re-extraction from raw pages."""

from __future__ import annotations

from datetime import UTC, datetime

from balkanwatch.config import Config
from connectors.extract import PageJob, extractor_version, safe_extract
from warehouse import Warehouse

REEXTRACT_BATCH = 200   # articles written per transaction


def reextract(config: Config, *, everything: bool = False) -> int:
    """Re-run extraction on stored raw pages whose extractor version differs (or all); returns how many."""
    version = extractor_version()
    done = 0
    with Warehouse.open(config.warehouse_path, lock_timeout=config.warehouse.lock_timeout) as wh:
        pages = list(wh.raw_pages(where_version_not=None if everything else version))
        batch = []
        for _art_id, source, url, enc, body in pages:
            job = PageJob(source=source, url=url, final_url=url, body=body, encoding=enc, fetched_at=datetime.now(UTC))
            result = safe_extract(job)
            if not isinstance(result, str):
                batch.append(result)
            if len(batch) >= REEXTRACT_BATCH:
                done += wh.update_extractions(batch)
                batch = []
        done += wh.update_extractions(batch)
        if done:
            wh.rebuild_fts()
    return done
