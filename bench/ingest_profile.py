"""Where the whole ingest of one large feed spends its wall time, and whether both cores stay busy (#17).

`python -m bench.ingest_profile [COPIES] [PAGES]`: PAGES WCXB dev pages (181 by default) served COPIES
times each (5: 905 pages, as the issue's one-feed measurement) under distinct URLs from one loopback site
with one RSS feed, ingested once into a fresh warehouse (plain `run_ingest`, two extraction workers). The
main process's steps are timed by wrapping them (fetches, extraction jobs from submission to result,
warehouse writes, the settle's steps); every 100 ms the machine's two cores (/proc/stat) and the CPU of the
main process, the extraction workers and the page server (/proc/PID/stat) are sampled. Printed: the phases,
a per-second timeline, and the ratio of the ingest's wall time to single-threaded `trafilatura.extract` on
the same bodies (measured after it, in the same process). Not part of `make bench`: a diagnostic.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.data import LabelledPage, extraction_dev
from bench.throughput import ServedSites, _feed

SAMPLE_SECONDS = 0.1
TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _machine() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Sampler:
    """Every SAMPLE_SECONDS: machine busy share (both cores = 2.0), and CPU of main, workers and server."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid, self.main = server_pid, os.getpid()
        self.rows: list[tuple[float, float, float, float, float]] = []   # t, machine, main, workers, server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.perf_counter()

    def _workers(self) -> float:
        return sum(_proc_cpu(c) for c in _children(self.main) if c != self.server_pid)

    def _run(self) -> None:
        ncpu = os.cpu_count() or 1
        last_m, last_t = _machine()
        last = (_proc_cpu(self.main), self._workers(), _proc_cpu(self.server_pid))
        seen_workers: dict[int, float] = {}
        while not self._stop.wait(SAMPLE_SECONDS):
            busy, total = _machine()
            for c in _children(self.main):
                if c != self.server_pid:
                    seen_workers[c] = _proc_cpu(c)
            now = (_proc_cpu(self.main), sum(seen_workers.values()), _proc_cpu(self.server_pid))
            machine = ncpu * (busy - last_m) / max(1, total - last_t)
            self.rows.append((time.perf_counter() - self.t0, machine,
                              *((n - o) / SAMPLE_SECONDS for n, o in zip(now, last, strict=True))))
            last_m, last_t, last = busy, total, now

    def start(self) -> Sampler:
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Phases:
    """Wall time spent in wrapped calls, by name, with each call's (start, end) kept for the timeline."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spans[name].append((start - self.t0, time.perf_counter() - self.t0))

    def wrap_sync(self, owner: Any, attr: str, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, attr)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.span(name):
                return original(*args, **kwargs)
        setattr(owner, attr, wrapped)

    def wrap_async(self, owner: Any, attr: str, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, attr)

        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.span(name):
                return await original(*args, **kwargs)
        setattr(owner, attr, wrapped)


def instrument(phases: Phases) -> None:
    import flows.ingest as ingest
    import flows.poll as poll
    from connectors.http import Fetcher
    from warehouse.store import Warehouse

    phases.wrap_async(Fetcher, "fetch", "fetch (any, concurrent)")
    phases.wrap_async(poll.Extractor, "extract", "extraction job, submit → result (concurrent)")
    for attr in ("load_articles", "record_polls", "known_items", "source_templates", "finish_run",
                 "sync_sources", "source_health"):
        phases.wrap_sync(Warehouse, attr, f"warehouse.{attr}")
    for attr in ("clean_boilerplate", "assign_stories", "match_mentions", "refresh_search_index"):
        phases.wrap_sync(ingest, attr, f"settle.{attr}")
    phases.wrap_sync(poll.Extractor, "close", "pool shutdown")
    phases.wrap_async(ingest, "finish", "finish (settle, index, summary)")
    phases.wrap_async(ingest, "_poll_all", "poll all (fetch + extract + loads)")


def corpus(pages: list[LabelledPage], copies: int, folder: Path) -> tuple[ServedSites, list[bytes]]:
    root = folder / "site"
    (root / "p").mkdir(parents=True)
    ids, bodies = [], []
    for k in range(copies):
        for p in pages:
            ids.append(f"{p.file_id}-{k}")
            (root / "p" / f"{ids[-1]}.html").write_bytes(p.html)
            bodies.append(p.html)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    served = ServedSites([root])
    (root / "feed.xml").write_text(_feed(served.bases[0], ids), encoding="utf-8")
    return served, bodies


def trafilatura_seconds(bodies: list[bytes]) -> float:
    import trafilatura

    t0 = time.perf_counter()
    for body in bodies:
        trafilatura.extract(body)
    return time.perf_counter() - t0


def report(phases: Phases, sampler: Sampler, wall: float) -> None:
    print(f"\nwall {wall:.2f} s")
    print(f"{'phase':52s} {'calls':>6s} {'sum s':>8s} {'first':>7s} {'last':>7s}")
    for name, spans in sorted(phases.spans.items(), key=lambda kv: kv[1][0][0]):
        print(f"{name:52s} {len(spans):6d} {sum(e - s for s, e in spans):8.2f} "
              f"{min(s for s, _ in spans):7.2f} {max(e for _, e in spans):7.2f}")
    print("\ntimeline (per second: both cores busy /2.0, main, workers, server CPU; jobs done; in flight)")
    jobs = phases.spans.get("extraction job, submit → result (concurrent)", [])
    second: dict[int, list[tuple[float, float, float, float, float]]] = defaultdict(list)
    for row in sampler.rows:
        second[int(row[0])].append(row)
    for s in sorted(second):
        rows = second[s]
        mean = [sum(r[i] for r in rows) / len(rows) for i in range(1, 5)]
        done = sum(e <= s + 1 for _, e in jobs)
        flying = sum(st <= s + 1 < e for st, e in jobs)
        print(f"{s:4d}s  machine {mean[0]:4.2f}  main {mean[1]:4.2f}  workers {mean[2]:4.2f}  server {mean[3]:4.2f}"
              f"  done {done:4d}  in flight {flying:4d}")
    totals = [sum(r[i] for r in sampler.rows) * SAMPLE_SECONDS for i in range(1, 5)]
    print(f"\nCPU seconds: machine {totals[0]:.2f} (of {2 * wall:.2f} on two cores), main {totals[1]:.2f}, "
          f"workers {totals[2]:.2f}, server {totals[3]:.2f}")


def main(copies: int, count: int) -> None:
    from balkanwatch.config import load_config
    from flows.ingest import run_ingest

    pages = extraction_dev()[:count]
    with tempfile.TemporaryDirectory() as tmp:
        served, bodies = corpus(pages, copies, Path(tmp))
        try:
            config = load_config(served.config(Path(tmp), "profile"))
            sampler = Sampler(served.proc.pid or 0)
            phases = Phases(sampler.t0)
            instrument(phases)
            sampler.start()
            phases.t0 = sampler.t0
            t0 = time.perf_counter()
            summary = asyncio.run(run_ingest(config))
            wall = time.perf_counter() - t0
            sampler.stop()
        finally:
            served.close()
    print(f"{len(bodies)} pages, {summary.new_articles} new articles, {summary.item_errors} item errors")
    report(phases, sampler, wall)
    raw = trafilatura_seconds(bodies)
    print(f"\nsingle-thread trafilatura.extract on the same bodies: {raw:.2f} s; ingest / it = {wall / raw:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, int(sys.argv[2]) if len(sys.argv) > 2 else 181)
