"""Progress of long commands (#18): a rich bar on a terminal's stderr, only the result when piped, and the
flows' `(done, total)` callbacks ending at (total, total)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from balkanwatch.config import load_config
from balkanwatch.dedupe import SHIPPED
from balkanwatch.progress import counted
from flows.ingest import run_ingest
from flows.maintenance import backtest, dedupe_backtest, reextract
from flows.mentions import match_mentions
from tests.conftest import loopback_config, served_corpus, toml_sources
from tests.test_alerts import WATCHLISTS
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [("reextract", "--all"), ("rematch",), ("dedupe-backtest", "--format", "json"),
            ("spikes", "backtest", "--format", "json")]


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The seed corpus ingested once, with three watchlists; the sites are gone afterwards."""
    root = tmp_path_factory.mktemp("progress")
    with served_corpus(root / "sites") as (sources, _, _):
        path = root / "balkanwatch.toml"
        path.write_text(loopback_config(WATCHLISTS + toml_sources(sources)), encoding="utf-8")
        asyncio.run(run_ingest(load_config(path)))
    yield path


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "--config", str(config), *args]


def on_terminal(argv: list[str], out: Path, timeout: float = 120) -> tuple[str, str]:
    """Run argv with stderr on a pseudo-terminal (120 columns) and stdout into `out`: (terminal text, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    with out.open("wb") as stdout:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    seen, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:   # EIO: the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, seen.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return seen.decode("utf-8", errors="replace"), out.read_text(encoding="utf-8")


def piped(argv: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_counted_reports_start_batches_and_the_end() -> None:
    calls: list[tuple[int, int]] = []
    assert list(counted(range(5), lambda d, t: calls.append((d, t)), 10, start=5, every=2)) == list(range(5))
    assert calls == [(5, 10), (7, 10), (9, 10), (10, 10)]
    assert list(counted([], None, 0)) == []


def test_reextract_and_a_backtest_draw_a_bar_on_a_terminal(config_path: Path, tmp_path: Path) -> None:
    with Warehouse.open(load_config(config_path).warehouse_path, read_only=True) as wh:
        pages = wh.rows("SELECT count(*) AS n FROM raw_pages")[0]["n"]
    assert pages > 0
    for args, total in ((("reextract", "--all"), pages), (("spikes", "backtest", "--format", "json"), 3)):
        terminal, out = on_terminal(cli(config_path, *args), tmp_path / "out.txt")
        assert f"{total}/{total}" in terminal, terminal
        assert f"{total}/{total}" not in out and "\x1b" not in out     # stdout keeps only the result
        assert out == piped(cli(config_path, *args)).stdout


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_piped_commands_print_only_their_result(config_path: Path, args: tuple[str, ...]) -> None:
    done = piped(cli(config_path, *args))
    assert done.stderr == ""
    if "json" in args:
        json.loads(done.stdout)
    else:
        assert done.stdout.startswith(("re-extracted ", "matched "))


def test_the_flows_report_progress_ending_at_total_of_total(config_path: Path) -> None:
    config = load_config(config_path)
    calls: dict[str, list[tuple[int, int]]] = {k: [] for k in ("reextract", "rematch", "dedupe", "spikes")}
    n = reextract(config, everything=True, progress=lambda d, t: calls["reextract"].append((d, t)))
    assert n > 0
    dedupe_backtest(config, SHIPPED, progress=lambda d, t: calls["dedupe"].append((d, t)))
    with Warehouse.open(config.warehouse_path) as wh:
        wh.forget_mentions()
        articles = match_mentions(wh, config.watchlists, lambda d, t: calls["rematch"].append((d, t)))
        backtest(wh, config, progress=lambda d, t: calls["spikes"].append((d, t)))
    for name, seen in calls.items():
        total = seen[-1][1]
        assert seen[0] == (0, total) and seen[-1] == (total, total) and total > 0, (name, seen)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen), name
    assert calls["rematch"][-1] == (articles, articles) and calls["spikes"][-1] == (3, 3)
    assert calls["dedupe"][-1][0] % 2 == 0     # every article twice: shipped, then proposed thresholds
