"""Which sources a run polls together: task batches by host, and shards of a sharded ingest. Pure functions.

- **Batches**: one Prefect task run per batch of up to `BATCH_SOURCES` sources instead of one per source
  (each task run costs the Prefect API a few round trips and its server ~20 ms of CPU: ~30 ms a source,
  minutes a cycle at thousands of feeds, when it was one per source). Sources are sorted by host, so a batch holds whole hosts where it can; politeness does not depend
  on it (the run's one fetcher keeps per-host slots across batches).
- **Shards**: `ingest --shard K/N` polls the sources whose host hashes to K modulo N. The hash is of the
  host name alone (SHA-256, lower case, without port), so adding or removing sources never moves another
  source to a different shard, and every source of one host is polled by one process (per-host politeness
  holds inside it). Changing N moves sources, as any modulo does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

# Sources per task run (100 until session 12: 500 feeds were 5 task runs). Each task run costs the Prefect server ~20 ms of CPU (its
# three state events) and each batch one transaction for its unchanged sources (~20 ms): at 25 a batch, the
# unchanged re-poll of 500 feeds spent ~0.6 s of server CPU, at 100 ~0.3 s (bench/many_feeds.py, session 10).
# At 250, 500 feeds are 2 task runs (session 13): each task run more costs its start/end round trips, its
# state events and its log batch, on a cycle whose whole Prefect overhead is ~0.3 s; 5,000 feeds are 20.
# Each source's outcome is still in its task run's log (the unchanged ones named on one line per batch).
BATCH_SOURCES = 250


def host_name(url: str) -> str:
    """The host a source is fetched from (lower case, no port); the URL itself when it has none."""
    return (urlsplit(url).hostname or url).lower()


def shard_of(url: str, shards: int) -> int:
    """The shard (0 … shards − 1) a source at this URL belongs to."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.sha256(host_name(url).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' → (K, N) with 0 ≤ K < N; ValueError with the reason otherwise."""
    k, sep, n = text.partition("/")
    try:
        index, count = int(k), int(n)
    except ValueError:
        raise ValueError(f"expected K/N, e.g. 0/2, got {text!r}") from None
    if not sep or count < 1 or not 0 <= index < count:
        raise ValueError(f"expected K/N with 0 ≤ K < N, e.g. 0/2, got {text!r}")
    return index, count


def batches(items: Sequence[T], location: Callable[[T], str], size: int = BATCH_SOURCES) -> list[list[T]]:
    """Items sorted by host (then as given) in consecutive batches of at most `size`."""
    ordered = sorted(items, key=lambda i: host_name(location(i)))
    return [ordered[i:i + size] for i in range(0, len(ordered), max(1, size))]


def batch_label(batch: Sequence[T], location: Callable[[T], str]) -> str:
    """How a batch's task run is named in the UI: its hosts, e.g. 'rtk.example +3 hosts (25 sources)'."""
    hosts = list(dict.fromkeys(host_name(location(i)) for i in batch))
    more = f" +{len(hosts) - 1} host{'s' * (len(hosts) > 2)}" if len(hosts) > 1 else ""
    return f"{hosts[0] if hosts else '-'}{more} ({len(batch)} source{'s' * (len(batch) != 1)})"
