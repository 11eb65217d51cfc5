"""The deployments balkanwatch serves: ingest every `schedule.ingest_every_minutes`, alerts every
`alerts.every_minutes` (when watchlists are configured; the ingest flow also runs an alerts cycle itself).

`concurrency_limit=1` with Prefect's default ENQUEUE collision strategy: a run that comes due while the
previous one still runs waits its turn (and the warehouse's ingest lock is a second guard).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from balkanwatch.config import Config

SERVE_LIMIT = 3   # flow runs executed at once by this process: one ingest, one alerts cycle, one manual run


def build_deployments(config: Config) -> list[Any]:
    """RunnerDeployments for the config (the config path is a parameter, so the UI shows which one)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from flows.alerts import alerts
    from flows.ingest import ingest

    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    extra = [alerts.to_deployment(
        name="balkanwatch-alerts",
        interval=timedelta(minutes=config.alerts.every_minutes),
        parameters={"config_path": str(config.path)},
        concurrency_limit=one_at_a_time,
        description="Detect topic spikes and e-mail them (outbox: nothing lost, nothing sent twice).",
        tags=["balkanwatch", "alerts"],
    )] if config.watchlists else []
    return [
        ingest.to_deployment(
            name="balkanwatch-ingest",
            interval=timedelta(minutes=config.schedule.ingest_every_minutes),
            parameters={"config_path": str(config.path)},
            concurrency_limit=one_at_a_time,
            description="Poll due sources and load new articles into the warehouse.",
            tags=["balkanwatch", "ingest"],
        ),
        *extra,
    ]


def serve(config: Config) -> None:
    """Serve the deployments until interrupted (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(config), limit=SERVE_LIMIT)
