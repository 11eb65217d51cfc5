"""The sharded ingest's dispatcher: one shard run per shard, on a Prefect work pool (issue #15).

    ingest-shards (this flow) | run_deployment("ingest/balkanwatch-ingest-shard", shard="K/N", settle=False) × N
        | each shard run: the ingest flow on whichever worker of the pool takes it, loading only
        | settle (a subflow, once, after all shards): boilerplate, stories, watchlist matches, alerts

The shard runs are ordinary ingest flow runs with a `shard` parameter (balkanwatch/sharding.py assigns
sources by host), so they can run on several workers on one or many machines. On the DuckDB file
warehouse they take turns on its ingest lock; none fails. They only load (articles, health, schedules):
the settling steps run once, after every shard finished, in the `settle` subflow — what a multi-writer
warehouse needs (appends from many writers, settling in one place), and N times less settling work on
one file. The dispatcher settles even when a shard failed (what the others loaded is settled), then
fails when one did, so the UI shows the cycle as one run with its shard runs as subflows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow

SHARD_DEPLOYMENT = "ingest/balkanwatch-ingest-shard"
POLL_SECONDS = 2.0     # how often the dispatcher asks the API whether a shard run finished


@flow(name="ingest-shards", description="Start one ingest run per shard on the work pool and wait for all of them.")
async def ingest_shards(config_path: str, shards: int = 2, force: bool = False,
                        deployment: str = SHARD_DEPLOYMENT) -> dict[str, Any]:
    """Run shards 0/N … N−1/N of the config's sources as runs of `deployment`; returns each run's state."""
    from prefect.deployments import arun_deployment
    from prefect.logging import get_run_logger

    if shards < 1:
        raise ValueError("shards must be at least 1")
    logger = get_run_logger()
    runs = await asyncio.gather(*(
        arun_deployment(deployment, parameters={"config_path": config_path, "force": force, "shard": f"{k}/{shards}",
                                                "settle": False},
                        flow_run_name=f"ingest shard {k}/{shards}", timeout=None, poll_interval=POLL_SECONDS,
                        idempotency_key=shard_run_key(k, shards))
        for k in range(shards)))
    result: dict[str, Any] = {"shards": {f"{k}/{shards}": r.state.name if r.state else "unknown" for k, r in enumerate(runs)},
                              "flow_runs": [str(r.id) for r in runs]}
    failed = [k for k, r in enumerate(runs) if not (r.state and r.state.is_completed())]
    for k, r in enumerate(runs):
        logger.info("shard %d/%d: %s (flow run %s)", k, shards, result["shards"][f"{k}/{shards}"], r.id)
    from flows.ingest import settle

    result["settled"] = await settle(config_path)
    if failed:
        raise RuntimeError(f"shard runs {', '.join(f'{k}/{shards}' for k in failed)} did not complete: {result}")
    return result


def shard_run_key(k: int, shards: int) -> str:
    """The idempotency key of this dispatcher run's (this try's) shard k/N run. Prefect's client retries a
    POST whose answer was lost (a read timeout, a dropped connection, a 502 from a proxy in front of a busy
    server) after the server may have made the run; with the key the server hands back that run instead of
    making a second one, which would load the shard twice over (CI saw one: '0/2', '0/2', '1/2')."""
    from prefect.runtime import flow_run

    return f"ingest-shards {flow_run.get_id()} try {flow_run.get_run_count()} shard {k}/{shards}"
