"""A Prefect server of our own (`prefect server start`, as `make run` starts it), where the test harness's
will not do: here it is killed and started again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from balkanwatch.config import load_config
from tests.conftest import seeded_prefect_home


def test_a_prefect_server_restarted_while_a_run_holds_the_slot_frees_it(write_config, tmp_path: Path) -> None:
    """The ingest deployment runs one at a time (a concurrency slot, held under a lease from Pending on). A
    server killed while a run holds the slot and started again (a crash, a reboot) must free it once the
    abandoned run's lease runs out; with Prefect's default in-memory leases it never did, and every later
    ingest run waited for good. The server is started as `make run` starts it (`start_server`), with a 30 s
    lease instead of 300 s."""
    import signal
    import time

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Pending

    from app.devserver import free_port
    from deployments.run_local import start_server, wait_healthy
    from deployments.serve import build_deployments

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(seeded_prefect_home(tmp_path / "prefect")), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION": "30",
           "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "5"}
    log = (tmp_path / "server.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        server = start_server(port, env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_healthy(api, 120)
        return server

    def pending(run_id) -> str:  # type: ignore[no-untyped-def]
        async def propose() -> str:
            async with get_client() as client:
                result = await client.set_flow_run_state(run_id, Pending())
                return result.state.name if result.state else ""
        return asyncio.run(propose())

    server = start()
    try:
        with temporary_settings({PREFECT_API_URL: api}):
            [dep] = build_deployments(load_config(write_config("")))
            dep_id = dep.apply()

            async def two_runs() -> list:
                async with get_client() as client:
                    return [(await client.create_flow_run_from_deployment(dep_id)).id for _ in range(2)]
            first, second = asyncio.run(two_runs())
            assert pending(first) == "Pending"                        # the slot is taken
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            server = start()
            assert pending(second) == "AwaitingConcurrencySlot"      # still held after the restart
            deadline = time.monotonic() + 120
            while (state := pending(second)) != "Pending" and time.monotonic() < deadline:
                time.sleep(3)
            assert state == "Pending", "the abandoned run's slot was never freed"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def test_ctrl_c_stops_make_run_at_once_and_leaves_no_server(write_config, tmp_path: Path) -> None:
    """`make run` (deployments/run_local.py): Ctrl-C, a SIGINT to the terminal's whole process group, stops
    `serve` (which pauses its deployments through the API) and then the server, in seconds and with exit 0.
    When the server got the signal too it was gone first, and `serve` retried against it for over a minute,
    ending with tracebacks and exit 1."""
    import signal
    import time

    from app.devserver import free_port

    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "deployments.run_local", "--config", str(write_config("")),
                             "--port", str(port)],
                            env={**os.environ, "PREFECT_HOME": str(seeded_prefect_home(tmp_path / "prefect"))}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as a terminal starts it
    try:
        deadline = time.monotonic() + 120
        while b"deployments are being served" not in (tmp_path / "run.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        server = subprocess.run(["pgrep", "-f", f"prefect server start.*--port {port}"], capture_output=True,
                                text=True).stdout.split()
        assert len(server) == 1
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(1)
        assert not Path(f"/proc/{server[0]}").exists()          # the server went with it
        assert "Traceback" not in (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run(["pkill", "-9", "-f", f"prefect server start.*--port {port}"])
        log.close()
