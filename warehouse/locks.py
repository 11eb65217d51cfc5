"""Inter-process file locks. DuckDB allows one writing process per file; these make others queue, not fail."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from balkanwatch.errors import WarehouseBusyError

POLL_SECONDS = 0.05


@contextmanager
def file_lock(path: Path, *, exclusive: bool, timeout: float, what: str) -> Iterator[None]:
    """Hold an flock on `path` (created if missing); wait up to `timeout` seconds, then WarehouseBusyError
    (at once when `timeout` is 0: a caller that waits its own way, flows.poll.WarehouseGate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f"; gave up after {timeout:.0f}s" if timeout > 0 else ""
                    raise WarehouseBusyError(f"{what}: {path} is held by another process{waited}") from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock
