"""The deployments balkanwatch serves: ingest every `schedule.ingest_every_minutes`, alerts every
`alerts.every_minutes` (when watchlists are configured; the ingest flow also runs an alerts cycle itself),
and its maintenance every `schedule.maintain_every_hours` (flows/upkeep.py) on a DuckLake lake, or on a DuckDB
file that keeps raw pages or the fetch log for a limited time (`warehouse.keep_raw_pages_days`, `keep_fetches_days`).
With watchlists, also two deployments without a schedule that the desk runs from the UI (Run → Custom run):
balkanwatch-rate (a verdict on an alert) and balkanwatch-missed (a surge that got none), flows/verdicts.py.

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
    from flows.upkeep import maintain
    from flows.verdicts import missed, rate

    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)

    def on_demand(flow: Any, what: str, **schedule: Any) -> Any:
        return flow.to_deployment(name=f"balkanwatch-{what}", parameters={"config_path": str(config.path)},
                                  description=flow.description, tags=["balkanwatch", what], **schedule)

    def every(flow: Any, minutes: int, what: str) -> Any:
        return on_demand(flow, what, interval=timedelta(minutes=minutes), concurrency_limit=one_at_a_time)

    deployments = [every(ingest, config.schedule.ingest_every_minutes, "ingest")]
    if config.watchlists:
        deployments += [every(alerts, config.alerts.every_minutes, "alerts"), on_demand(rate, "rate"),
                        on_demand(missed, "missed")]
    if needs_maintenance(config):
        deployments.append(every(maintain, 60 * config.schedule.maintain_every_hours, "maintain"))
    return deployments


def needs_maintenance(config: Config) -> bool:
    """A lake always (flush, merge, expire); a DuckDB file only for retention (its CHECKPOINTs are automatic)."""
    w = config.warehouse
    return w.backend == "ducklake" or w.keep_raw_pages_days > 0 or w.keep_fetches_days > 0


def serve(config: Config) -> None:
    """Serve the deployments until interrupted (Ctrl-C)."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(config), limit=SERVE_LIMIT)
