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
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from prefect import flow

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

SHARD_DEPLOYMENT = "ingest/balkanwatch-ingest-shard"
POLL_SECONDS = 2.0     # how often the dispatcher asks the API whether a shard run finished
API_PATIENCE_SECONDS = 600.0   # how long the dispatcher rides out an API that answers 5xx or cannot be reached
API_RETRY_SECONDS = 10.0       # …asking again this often (after the Prefect client's own retries, ~1 min)
T = TypeVar("T")


@flow(name="ingest-shards", description="Start one ingest run per shard on the work pool and wait for all of them.")
async def ingest_shards(config_path: str, shards: int = 2, force: bool = False,
                        deployment: str = SHARD_DEPLOYMENT) -> dict[str, Any]:
    """Run shards 0/N … N−1/N of the config's sources as runs of `deployment`; returns each run's state."""
    from prefect.deployments import arun_deployment
    from prefect.logging import get_run_logger

    if shards < 1:
        raise ValueError("shards must be at least 1")
    logger = get_run_logger()

    async def shard(k: int) -> FlowRun:
        started = await patiently(lambda: arun_deployment(
            deployment, parameters={"config_path": config_path, "force": force, "shard": f"{k}/{shards}", "settle": False},
            flow_run_name=f"ingest shard {k}/{shards}", timeout=0, idempotency_key=shard_run_key(k, shards)),
            f"starting shard {k}/{shards}", logger)   # the key: asking again never starts a second run
        return await finished(started.id, f"shard {k}/{shards}", logger)

    runs = await asyncio.gather(*(shard(k) for k in range(shards)))
    result: dict[str, Any] = {"shards": {f"{k}/{shards}": r.state.name if r.state else "unknown" for k, r in enumerate(runs)},
                              "flow_runs": [str(r.id) for r in runs]}
    failed = [k for k, r in enumerate(runs) if not (r.state and r.state.is_completed())]
    for k, r in enumerate(runs):
        logger.info("shard %d/%d: %s (flow run %s)", k, shards, result["shards"][f"{k}/{shards}"], r.id)
    from flows.ingest import settle

    result["settled"] = await patiently(lambda: settle(config_path), "settling", logger)   # idempotent
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


def transient_api_error(exc: BaseException) -> bool:
    """True for the Prefect API's "try later": a 5xx (a SQLite server busy for longer than the client's own
    retries, a restart behind a proxy) or no answer at all."""
    from prefect.exceptions import PrefectHTTPStatusError

    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


async def patiently(call: Callable[[], Awaitable[T]], what: str, logger: logging.Logger | logging.LoggerAdapter[Any],
                    patience: float = API_PATIENCE_SECONDS, every: float = API_RETRY_SECONDS) -> T:
    """`call()`, asked again every `every` seconds while the API's answer is transient (`transient_api_error`),
    for `patience` seconds at most: shard runs go on while the API is briefly unavailable, and a dispatcher
    that gave up on them would fail a cycle that completes (CI saw one: a 503 while the shards ran)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient_api_error(exc) or loop.time() >= deadline:
                raise
            logger.warning("%s: the Prefect API answered %s: %s; asking again in %g s", what, type(exc).__name__,
                           exc, every)
        await asyncio.sleep(every)


async def finished(flow_run_id: Any, what: str, logger: logging.Logger | logging.LoggerAdapter[Any],
                   poll: float = POLL_SECONDS) -> FlowRun:
    """The flow run once its state is final, read every `poll` seconds, riding out transient API errors."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        while True:
            run = await patiently(lambda: client.read_flow_run(flow_run_id), f"waiting for {what}", logger)
            if run.state is not None and run.state.is_final():
                return run
            await asyncio.sleep(poll)
