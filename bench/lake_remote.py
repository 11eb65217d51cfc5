"""DuckLake with its data on S3 and its catalog on another machine (issue #16), against the DuckDB file, on
the same served pages (bench/lake.py's: pages, sites, PostgreSQL on loopback, configs), in the same run.

Targets, every one a fresh warehouse created (`warehouse init`) before the clock starts:
- `file`: the DuckDB file; `lake`: a lake on a local folder, its catalog on loopback (bench/lake.py's);
- `s3`: the data path `s3://` on moto's S3 server (a child process on 127.0.0.1, as tests/test_lake_s3.py);
- `catalog_2ms` / `catalog_10ms`: the catalog reached through bench/latency_proxy.py, 1 ms / 5 ms each way
  (a simulated remote catalog; the round trip it really adds is measured and reported);
- `s3_catalog_10ms`: both.
Each: `run_ingest` (the `--no-prefect` path) in this process, `rebuild_fts`, then in a read-only session a
`topic_counts` window, the `search`es and a known-id ask (`known_items` of every stored id and as many
unknown ones, what a source's listing asks), each QUERY_REPEATS times. Through a proxy the catalog's round
trips (exchanges) are counted too, and a probe table gives one INSERT, one UPDATE and one SELECT on their own.
Medians of ROUNDS rounds (the targets' order rotated every round). `python -m bench.lake_remote`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from balkanwatch.config import Config
from bench.lake import (
    PAGES_PER_FEED,
    SEARCHES,
    TOPIC_WINDOW,
    Bench,
    build_index,
    hosts_per_shard,
    in_process,
    landed,
    timed,
)
from bench.latency_proxy import LatencyProxy, measured_rtt
from bench.many_feeds import sources_toml, write_feeds, write_sites
from bench.throughput import ServedSites
from tests.s3 import moto_s3

FEEDS = 40               # 200 pages from 40 sources: ~5,300 catalog round trips an ingest, so ~1 min of pure
ROUNDS = 1               # latency at a 10 ms RTT; one round of six targets is already several minutes
QUERY_REPEATS = 10
PROBE_REPEATS = 5
BUCKET = "bw-bench-lake"
KEY_ID, SECRET = "bw-bench-key", "bw-bench-secret"
DELAYS_MS = {"catalog_2ms": 1.0, "catalog_10ms": 5.0, "s3_catalog_10ms": 5.0}   # one way
TARGETS = ("file", "lake", "s3", "catalog_2ms", "catalog_10ms", "s3_catalog_10ms")


def s3_lines(endpoint: str) -> str:
    return (f's3_endpoint = "{endpoint}"\ns3_url_style = "path"\ns3_use_ssl = false\n'
            's3_key_id_env = "BW_BENCH_S3_KEY"\ns3_secret_env = "BW_BENCH_S3_SECRET"')


def exchanges(proxy: LatencyProxy | None) -> int:
    return proxy.counts().exchanges if proxy else 0


def read_side(config: Config, proxy: LatencyProxy | None, times: dict[str, list[float]],
              trips: dict[str, list[int]]) -> dict[str, Any]:
    """A reader's session: open it, then the topic window, the searches and a known-id ask, QUERY_REPEATS
    times each; their seconds into `times`, their round trips into `trips`; the answers."""
    from warehouse import Warehouse

    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=28)
    answers: dict[str, Any] = {}

    def one(name: str, fn: Callable[[], Any]) -> Any:
        before = exchanges(proxy)
        seconds, out = timed(fn)
        times[name].append(seconds)
        trips[name].append(exchanges(proxy) - before)
        return out

    with ExitStack() as stack:
        wh = one("open", lambda: stack.enter_context(Warehouse.for_config(config, read_only=True)))
        ids = [r["article_id"] for r in wh.rows("SELECT article_id FROM articles")]
        asked = ids + [f"{i:064x}" for i in range(len(ids))]
        for _ in range(QUERY_REPEATS):
            answers["topics"] = one("topics", lambda: [tuple(r.values()) for r in wh.rows(TOPIC_WINDOW, [since])])
            for q in SEARCHES:
                answers[q] = [h["score"] for h in one("search", lambda q=q: wh.search(q))]
            answers["known"] = len(one("known_ids", lambda: wh.known_items(asked)))
        if config.warehouse.backend == "ducklake":
            answers["snapshots"] = wh.rows("SELECT count(*) AS n FROM ducklake_snapshots('lake')")[0]["n"]
    return answers


def probe(config: Config, proxy: LatencyProxy, times: dict[str, list[float]], trips: dict[str, list[int]]) -> None:
    """One INSERT, one UPDATE and one SELECT of a one-row probe table, each its own transaction (autocommit),
    on a writer connection through the proxy: what a single statement costs on this catalog."""
    from warehouse.lake import LakeTarget, connect_lake

    con = connect_lake(LakeTarget.from_config(config), read_only=False)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS bench_probe (x INTEGER)")
        for _ in range(PROBE_REPEATS):
            for name, sql in (("insert", "INSERT INTO bench_probe VALUES (1)"),
                              ("update", "UPDATE bench_probe SET x = x + 1"),
                              ("select", "SELECT count(*), sum(x) FROM bench_probe")):
                before = exchanges(proxy)
                times[f"probe_{name}"].append(timed(lambda sql=sql: con.execute(sql).fetchall())[0])
                trips[f"probe_{name}"].append(exchanges(proxy) - before)
    finally:
        con.close()


def measure() -> dict[str, Any]:
    """Every target ROUNDS times, the order rotated; medians per target, and what every run landed."""
    from tests.postgres import postgres_bin, running_postgres

    if postgres_bin() is None:
        return {"skipped": "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                           "apt-get install postgresql"}
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError:
        return {"skipped": "boto3 and moto are not installed (the dev dependencies)"}
    os.environ.update(BW_BENCH_S3_KEY=KEY_ID, BW_BENCH_S3_SECRET=SECRET)
    kinds = ("ingest", "index", "open", "topics", "search", "known_ids", "probe_insert", "probe_update", "probe_select")
    times: dict[str, dict[str, list[float]]] = {t: {k: [] for k in kinds} for t in TARGETS}
    trips: dict[str, dict[str, list[int]]] = {t: {k: [] for k in kinds} for t in TARGETS}
    snapshots: dict[str, list[int]] = {t: [] for t in TARGETS}
    landings: list[tuple[int, int, int]] = []
    same: list[bool] = []
    rtt = {ms: measured_rtt(ms) for ms in sorted(set(DELAYS_MS.values()))}
    with (tempfile.TemporaryDirectory() as tmp, running_postgres() as pg, moto_s3(BUCKET, KEY_ID, SECRET) as endpoint,
          ExitStack() as stack):
        proxies = {ms: stack.enter_context(LatencyProxy(pg.port, ms)) for ms in sorted(set(DELAYS_MS.values()))}
        folder, hosts = Path(tmp), hosts_per_shard()
        roots = write_sites(folder, len(hosts), FEEDS, PAGES_PER_FEED, seed=16)
        sites = stack.enter_context(_closing(ServedSites(roots, hosts)))
        feeds = write_feeds(roots, sites.bases, FEEDS, PAGES_PER_FEED, datetime.now(UTC), minutes_per_feed=7)
        bench = Bench(folder, pg.createdb, sources_toml(feeds))
        for i in range(ROUNDS):
            configs: dict[str, Config] = {}
            for target in TARGETS:
                name = f"{target}{i}"
                proxy = proxies.get(DELAYS_MS.get(target, -1.0))
                via = (lambda c, p=proxy: c.replace(f"port={pg.port}", f"port={p.port}")) if proxy else (lambda c: c)
                s3 = target.startswith("s3")
                configs[target] = bench.config(name, lake=target != "file", catalog=via,
                                               data_path=f"s3://{BUCKET}/{name}/" if s3 else "",
                                               extra=s3_lines(endpoint) if s3 else "")
            order = TARGETS[i % len(TARGETS):] + TARGETS[: i % len(TARGETS)]
            for target in order:
                proxy = proxies.get(DELAYS_MS.get(target, -1.0))
                for kind, fn in (("ingest", in_process), ("index", build_index)):
                    before = exchanges(proxy)
                    times[target][kind].append(fn(configs[target]))
                    trips[target][kind].append(exchanges(proxy) - before)
                    print(f"round {i} {target} {kind}: {times[target][kind][-1]:.1f} s, "
                          f"{trips[target][kind][-1]} round trips", file=sys.stderr, flush=True)
            answers = {}
            for target in order:
                proxy = proxies.get(DELAYS_MS.get(target, -1.0))
                answers[target] = read_side(configs[target], proxy, times[target], trips[target])
                landings.append(landed(configs[target]))
                if "snapshots" in answers[target]:
                    snapshots[target].append(answers[target]["snapshots"])
                if proxy:
                    probe(configs[target], proxy, times[target], trips[target])
                print(f"round {i} {target} reads: " + ", ".join(
                    f"{k} {times[target][k][-1] * 1000:.0f} ms / {trips[target][k][-1]} trips"
                    for k in kinds[2:] if times[target][k]), file=sys.stderr, flush=True)
            reference = {k: v for k, v in answers["file"].items()}
            same += [bool(reference["topics"]) and all(answers[t][k] == reference[k] for k in reference)
                     for t in TARGETS]
    pages = FEEDS * PAGES_PER_FEED
    out: dict[str, Any] = {
        "pages": pages, "feeds": FEEDS, "rounds": ROUNDS, "query_repeats": QUERY_REPEATS,
        "rtt_ms": {f"{2 * ms:g}": round(s * 1000, 2) for ms, s in rtt.items()},
        "every_page_once": all(n == ids == pages and unassigned == 0 for n, ids, unassigned in landings),
        "same_answers": all(same), "runs": len(landings),
        "targets": {t: {k: median(v) for k, v in times[t].items() if v} for t in TARGETS},
        "all_ingest_runs": {t: [round(s, 2) for s in times[t]["ingest"]] for t in TARGETS},
        "round_trips": {t: {k: median(v) for k, v in trips[t].items() if v} for t in DELAYS_MS},
        "snapshots": {t: v for t, v in snapshots.items() if v},
    }
    file_s = out["targets"]["file"]["ingest"]
    out["ingest_ratio"] = {t: out["targets"][t]["ingest"] / file_s for t in TARGETS}
    return out


@contextmanager
def _closing(sites: ServedSites) -> Iterator[ServedSites]:
    try:
        yield sites
    finally:
        sites.close()


def render(m: dict[str, Any]) -> list[str]:
    if "skipped" in m:
        return ["## DuckLake on S3 and a remote catalog (issue #16)", "", f"Skipped: {m['skipped']}", ""]
    rtt = ", ".join(f"{k} ms asked → {v:.1f} ms measured" for k, v in m["rtt_ms"].items())
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    lines = [
        "## DuckLake on S3 and a remote catalog (issue #16)", "",
        f"{m['feeds']} feeds × {PAGES_PER_FEED} new pages (bench/lake.py's) ingested by `run_ingest` into each target; "
        "`s3` is a data path on moto's S3 server on 127.0.0.1, `catalog_Nms` the loopback PostgreSQL reached "
        f"through a delaying TCP proxy (bench/latency_proxy.py; round trip {rtt}). Medians of {m['rounds']} rounds, "
        f"the reader's of {m['query_repeats']} repeats a round (`bench/lake_remote.py`). Every page once in every "
        f"run: {m['every_page_once']}; the same topic rows, search scores and known ids as the file: {m['same_answers']}.", "",
        "| target | ingest | / file | search index | open reader | `topic_counts` | `search` | known-id ask |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t, v in m["targets"].items():
        lines.append(f"| {t} | {v['ingest']:.1f} s | {m['ingest_ratio'][t]:.2f}× | {ms(v['index'])} | {ms(v['open'])} | "
                     f"{ms(v['topics'])} | {ms(v['search'])} | {ms(v['known_ids'])} |")
    lines += ["", "Catalog round trips (exchanges counted by the proxy; medians):", "",
              "| target | ingest | snapshots (commits) | open reader | `topic_counts` | `search` | known-id ask | "
              "INSERT | UPDATE | SELECT |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t, v in m["round_trips"].items():
        lines.append(f"| {t} | {v['ingest']:.0f} | {median(m['snapshots'][t]):.0f} | {v['open']:.0f} | {v['topics']:.0f} | "
                     f"{v['search']:.0f} | {v['known_ids']:.0f} | {v['probe_insert']:.0f} | {v['probe_update']:.0f} | "
                     f"{v['probe_select']:.0f} |")
    return lines + [""]


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    result = measure()
    print("\n".join(render(result)))
    print(json.dumps(result, default=str, indent=1))
