"""A lake's PostgreSQL catalog cut off the network under a running ingest (session 31; found by a probe).

A partition, or a catalog host that died, answers nothing: no data, no reset. Before session 31 an open
catalog connection then waited for TCP's own give-up (about 15 minutes; a probe was still waiting after 10,
and SIGTERM could not end the wait), and PostgreSQL kept the lost session, with the writer's advisory lock in
it, for two hours at the usual TCP defaults: after the network came back, every run was refused as "held
by another process" (still after 240 s in the probe). Now both ends give up on a silent peer
(warehouse/lake.py, CATALOG_KEEPALIVE_* and CATALOG_USER_TIMEOUT_SECONDS): the run fails with a clear
error in under a minute, and the lock is free again soon after the network is back.

The partition is real: iptables drops every packet to and from the test's own PostgreSQL port on
loopback. It needs root and iptables (`.ci/run` installs it); without them the test skips, saying why.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from balkanwatch.config import load_config
from tests.hostile.test_catalog_restart import lake_ingest_mid_run
from tests.hostile.test_kill import ROOT
from tests.hostile.test_kill_lake import assert_a_rerun_stores_each_article_once
from tests.postgres import firewall, postgres_bin, running_postgres
from warehouse import Warehouse
from warehouse.lake import (
    CATALOG_CONNECT_TIMEOUT_SECONDS,
    CATALOG_KEEPALIVE_COUNT,
    CATALOG_KEEPALIVE_IDLE_SECONDS,
    CATALOG_KEEPALIVE_INTERVAL_SECONDS,
    CATALOG_USER_TIMEOUT_SECONDS,
)

pytestmark = [
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed (apt-get install postgresql)"),
    pytest.mark.skipif(firewall() is None, reason="a network partition needs root and iptables (apt-get install iptables)"),
]

# The longest either end may take to give up on the other: silence until the first probe, the probes, and
# a reconnection's connect timeout; a run's own steps get a margin on top.
GIVE_UP = max(CATALOG_USER_TIMEOUT_SECONDS,
              CATALOG_KEEPALIVE_IDLE_SECONDS + CATALOG_KEEPALIVE_INTERVAL_SECONDS * CATALOG_KEEPALIVE_COUNT)
RUN_FAILS_WITHIN = GIVE_UP + 2 * CATALOG_CONNECT_TIMEOUT_SECONDS + 20


def test_a_catalog_cut_off_mid_ingest_fails_the_run_in_bounded_time_and_frees_its_lock(corpus, write_config) -> None:  # type: ignore[no-untyped-def]
    with running_postgres() as pg:
        cfg, proc = lake_ingest_mid_run(corpus, write_config, pg, "partitioned")
        try:
            with pg.cut_off():
                cut = time.monotonic()
                # an analyst's query meanwhile: a new connection, refused by the connect timeout
                reader = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), "sql", "SELECT 1"],
                                        cwd=ROOT, capture_output=True, text=True, timeout=RUN_FAILS_WITHIN)
                try:
                    _out, err = proc.communicate(timeout=RUN_FAILS_WITHIN)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"the ingest still waits on the cut-off catalog after {RUN_FAILS_WITHIN} s")
                failed_after = time.monotonic() - cut
        finally:
            proc.kill()
        assert reader.returncode == 2 and "timeout expired" in reader.stderr, reader.stderr
        assert proc.returncode == 2, err
        assert ("the warehouse could not be read or written" in err or "lost the lake's catalog lock" in err
                or "cannot reach the lake's catalog" in err or "warehouse write failed" in err), err
        assert "Traceback" not in err and "keepalives" not in err, err   # the catalog as written, not our bounds
        assert failed_after < RUN_FAILS_WITHIN, failed_after
        # The network is back. PostgreSQL must have let go of the lost session's lock by itself (its end of
        # the connection gave up too), or the next runs are refused for hours.
        healed = time.monotonic()
        with Warehouse.run_lock(load_config(cfg), timeout=GIVE_UP + 30):
            freed_after = time.monotonic() - healed
        assert freed_after < GIVE_UP + 30, freed_after
        assert_a_rerun_stores_each_article_once(cfg, corpus[1])
