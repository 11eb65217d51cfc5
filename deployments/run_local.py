"""`make run`: a local Prefect server (UI on 127.0.0.1:4200, PREFECT_HOME from the Makefile) + the deployments."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

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


def start_server(port: int, env: Mapping[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """`prefect server start` on 127.0.0.1:`port` with `env` (and the leases on disk: `server_env`); `popen`
    goes to subprocess.Popen (output, session, working directory)."""
    return subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
                            env=server_env(env), **popen)


def wait_healthy(api: str, timeout: float, server: subprocess.Popen[bytes] | None = None) -> None:
    """Until the Prefect server at `api` answers /health; SystemExit after `timeout` seconds, or at once
    when `server` (its process) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"Prefect server exited with {server.returncode} before answering on {api}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"Prefect server did not answer on {api} within {timeout:.0f}s")


def _die_with_parent() -> None:
    """In the server's process, before it runs: be sent SIGTERM when this process ends, however it ends
    (Linux's PR_SET_PDEATHSIG), since a server in its own session would otherwise outlive a killed `make run`."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args()
    config = load_config(resolve_config_path(args.config))
    api = f"http://{HOST}:{args.port}/api"
    # Ctrl-C reaches the terminal's whole process group. The server is kept out of it (its own session), so
    # that it stops after `serve`, which pauses its deployments through the API on the way out: when both
    # got the signal the server was gone first, and `serve` retried against it for minutes, not stopping.
    server = start_server(args.port, os.environ, start_new_session=True,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    try:
        wait_healthy(api, START_TIMEOUT, server)
        os.environ["PREFECT_API_URL"] = api
        print(f"Prefect UI: http://{HOST}:{args.port}  (PREFECT_HOME={os.environ.get('PREFECT_HOME')})", flush=True)
        serve(config)
    finally:
        stop_server(server)


def stop_server(server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a `start_server` process: SIGTERM, then SIGKILL after `timeout` seconds."""
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
