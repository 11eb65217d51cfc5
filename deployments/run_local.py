"""`make run`: a local Prefect server (UI on 127.0.0.1:4200, PREFECT_HOME from the Makefile) + the deployments."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping

import httpx

from balkanwatch.config import load_config, resolve_config_path
from deployments.serve import serve

HOST, PORT = "127.0.0.1", 4200
START_TIMEOUT = 90.0   # seconds; the server's first start migrates its database

# A deployment's concurrency slot (ours: limit 1, ENQUEUE) is taken when its run goes Pending and held under
# a lease, which Prefect keeps in the server's memory by default. A server restarted while a run holds the
# slot (a run just submitted, or one running: a crash, a reboot, an upgrade) forgets the lease, so nothing
# ever frees the slot and every later run of that deployment waits as AwaitingConcurrencySlot, for good:
# ingest stops without an error (session 29's soak with a Prefect outage; opsmill/infrahub#9856). Kept on
# disk (PREFECT_HOME/concurrency_leases) the lease survives: a running flow renews it, and an abandoned one
# expires within Prefect's initial 300 s, when the server's repossessor frees the slot.
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


def server_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for `prefect server start`: `base`, with the leases on disk unless it chooses."""
    return {"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE, **base}


def wait_healthy(api: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"Prefect server did not answer on {api} within {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    config = load_config(resolve_config_path(args.config))
    api = f"http://{HOST}:{PORT}/api"
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(PORT)],
                              env=server_env(os.environ))
    try:
        wait_healthy(api, START_TIMEOUT)
        os.environ["PREFECT_API_URL"] = api
        print(f"Prefect UI: http://{HOST}:{PORT}  (PREFECT_HOME={os.environ.get('PREFECT_HOME')})", flush=True)
        serve(config)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
