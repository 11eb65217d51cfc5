"""Whole-ingest throughput vs extraction alone, on the same real pages, in the same process.

The WCXB dev pages are served from four loopback "sites" (one RSS feed each). Two references, run
single-threaded over the same bodies: our extraction code (what ingest runs on every page), and raw
`trafilatura.extract(html)` with its defaults (the issue #17 anchor: what a user of trafilatura alone pays).
The ingest is the full pipeline (feed → fetch → extract in the process pool → DuckDB), run plain and as a
Prefect flow run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from statistics import median

from app.devserver import LoopbackServer
from balkanwatch.config import load_config
from balkanwatch.models import FeedItem
from balkanwatch.textclean import token_f1
from bench.data import LabelledPage
from connectors.charset import detect_encoding
from connectors.extract import PageJob, safe_extract

SITES = 4


def _feed(base: str, ids: list[str]) -> str:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(f"<item><title>p{i}</title><link>{base}/p/{i}.html</link>"
                    f"<pubDate>{format_datetime(now - timedelta(minutes=n))}</pubDate></item>" for n, i in enumerate(ids))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>bench</title>{items}</channel></rss>'


def extraction_only(pages: list[LabelledPage]) -> tuple[float, dict[str, str]]:
    """Seconds for single-threaded extraction of every page (the reference), and the text of each page that
    held an article, by page id (the rest have no text even for raw trafilatura: ingest records them as item
    errors). Each job carries its feed item's date as in ingest, so neither runs htmldate's extensive search
    (dateparser: ~4 s of regex compilation on first use in a process, then ~40 ms a page) where the feed has
    a date."""
    published = datetime(2026, 11, 1, tzinfo=UTC)
    texts: dict[str, str] = {}
    t0 = time.perf_counter()
    for p in pages:
        art = safe_extract(PageJob(source="bench", url=p.url, final_url=p.url, body=p.html,
                                   encoding=detect_encoding(p.html, None), fetched_at=datetime.now(UTC),
                                   item=FeedItem(link=p.url, published=published)))
        if not isinstance(art, str):
            texts[p.file_id] = art.text
    return time.perf_counter() - t0, texts


def trafilatura_only(pages: list[LabelledPage]) -> float:
    """Seconds for single-threaded raw `trafilatura.extract` of every page, default arguments (#17's anchor)."""
    import trafilatura

    t0 = time.perf_counter()
    for p in pages:
        trafilatura.extract(p.html)
    return time.perf_counter() - t0


def _serve(roots: list[Path], conn, hosts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Child process: serve each root on its own loopback address and port until told to stop."""
    servers = [LoopbackServer(root, host=host).start() for root, host in zip(roots, hosts, strict=True)]
    conn.send([s.base for s in servers])
    conn.recv()
    for s in servers:
        s.stop()


def listen_overflows() -> int:
    """The kernel's count of connections a listening socket had no room for (TcpExt ListenOverflows in
    /proc/net/netstat; 0 where there is no such file). Each one is a SYN dropped and retried after 1 s, so a
    timing taken while it grew measured the loopback server's backlog, not our code (session 26)."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
                 if line.startswith("TcpExt:")]
    except OSError:
        return 0
    return int(dict(zip(lines[0], lines[1], strict=True)).get("ListenOverflows", 0))


class ServedSites:
    """Folders served on loopback ports by a child process (as remote sites would be); on 127.0.0.1, or on
    the given loopback `hosts` (one per root: distinct hosts to the sharding)."""

    def __init__(self, roots: list[Path], hosts: list[str] | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(roots, child, hosts or ["127.0.0.1"] * len(roots)), daemon=True)
        self.proc.start()
        self.bases: list[str] = self.conn.recv()

    def config(self, folder: Path, name: str, feed: str = "feed.xml") -> Path:
        """A config with one feed source per site, a fresh warehouse `name`.duckdb, loopback allowed."""
        sources = "\n".join(f'[[sources]]\nname = "site{i}"\nfeed = "{b}/{feed}"\n' for i, b in enumerate(self.bases))
        path = folder / f"{name}.toml"
        path.write_text(f"""[warehouse]\npath = "{name}.duckdb"\n
[fetch]\nallow_private_networks = true\nper_host_concurrency = 2\nper_host_delay = 0.0\n
[ingest]\nmax_items_per_source = 100000\nextract_workers = 2\n\n{sources}""", encoding="utf-8")
        return path

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=10)


class Corpus(ServedSites):
    """Pages on SITES loopback servers, and configs pointing at them."""

    def __init__(self, pages: list[LabelledPage], folder: Path) -> None:
        self.folder, self.pages = folder, pages
        roots = []
        for s in range(SITES):
            root = folder / f"site{s}"
            (root / "p").mkdir(parents=True)
            for p in pages[s::SITES]:
                (root / "p" / f"{p.file_id}.html").write_bytes(p.html)
            (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
            roots.append(root)
        super().__init__(roots)
        for s, (root, base) in enumerate(zip(roots, self.bases, strict=True)):
            (root / "feed.xml").write_text(_feed(base, [p.file_id for p in pages[s::SITES]]), encoding="utf-8")

    def config(self, name: str) -> Path:  # type: ignore[override]
        return super().config(self.folder, name)


def ingest_plain(config_path: Path) -> tuple[float, int]:
    from flows.ingest import run_ingest

    t0 = time.perf_counter()
    summary = asyncio.run(run_ingest(load_config(config_path)))
    return time.perf_counter() - t0, summary.new_articles


def item_errors(config_path: Path) -> int:
    """Pages of a run recorded as item errors (no article in them), read back from its warehouse."""
    from warehouse import Warehouse

    with Warehouse.open(load_config(config_path).warehouse_path, read_only=True) as wh:
        return int(wh.query("SELECT count(*) FROM failed_items")[1][0][0])


def stored_texts(config_path: Path) -> dict[str, str]:
    """The articles' texts of a run as an analyst reads them back (`SELECT url, text FROM articles`), by
    page id (the served file's name)."""
    from warehouse import Warehouse

    with Warehouse.open(load_config(config_path).warehouse_path, read_only=True) as wh:
        rows = wh.query("SELECT url, text FROM articles")[1]
    return {str(url).rsplit("/", 1)[1].removesuffix(".html"): str(text) for url, text in rows}


def read_back(pages: list[LabelledPage], extracted: dict[str, str], stored: dict[str, str]) -> dict[str, float]:
    """Issue #17's protocol on these pages: word F1 of the text read back from the warehouse (a page without
    an article scores 0) against the same pages' text from the extraction alone, and how many pages differ."""
    n = len(pages)
    return {"stored_f1": sum(token_f1(stored.get(p.file_id, ""), p.main_content) for p in pages) / n,
            "extracted_f1": sum(token_f1(extracted.get(p.file_id, ""), p.main_content) for p in pages) / n,
            "stored_differs": sum(stored.get(p.file_id) != extracted.get(p.file_id) for p in pages)}


def ingest_prefect(config_path: Path) -> tuple[float, int]:
    from flows.ingest import ingest

    t0 = time.perf_counter()
    summary = asyncio.run(ingest(config_path=str(config_path)))
    return time.perf_counter() - t0, summary["new_articles"]


REPEATS = 5   # each measurement this many times, interleaved; medians are reported (these machines are noisy)


def measure(pages: list[LabelledPage]) -> dict[str, float]:
    """Reference and ingest times, interleaved REPEATS times (fresh warehouse each run); medians."""
    from prefect.testing.utilities import prefect_test_harness

    refs, raws, plains, flows, counts, errors, back = [], [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        corpus = Corpus(pages, Path(tmp))
        try:
            for i in range(REPEATS):
                seconds, extracted = extraction_only(pages)
                refs.append(seconds)
                raws.append(trafilatura_only(pages))
                plain_cfg, flow_cfg = corpus.config(f"plain{i}"), corpus.config(f"flow{i}")
                seconds, n = ingest_plain(plain_cfg)
                plains.append(seconds)
                seconds, n_flow = ingest_prefect(flow_cfg)
                flows.append(seconds)
                counts += [n, n_flow]
                errors += [item_errors(plain_cfg), item_errors(flow_cfg)]
                back += [read_back(pages, extracted, stored_texts(cfg)) for cfg in (plain_cfg, flow_cfg)]
            refs.append(extraction_only(pages)[0])
        finally:
            corpus.close()
    ref, plain, flow, raw = median(refs), median(plains), median(flows), median(raws)
    return {"pages": len(pages), "extract_only_s": ref, "extract_only_spread": (max(refs) - min(refs)) / ref,
            "ingest_plain_s": plain, "ingest_flow_s": flow, "ingest_flow_articles": min(counts),
            "with_text": len(extracted), "accounted": min(c + e for c, e in zip(counts, errors, strict=True)),
            "ratio_plain": plain / ref, "ratio_flow": flow / ref, "repeats": REPEATS,
            "trafilatura_s": raw, "flow_vs_trafilatura": flow / raw, "plain_vs_trafilatura": plain / raw,
            "pages_per_s_flow": len(pages) / flow, "pages_per_s_extract": len(pages) / ref,
            "stored_f1": min(b["stored_f1"] for b in back), "extracted_f1": back[-1]["extracted_f1"],
            "stored_differs": max(b["stored_differs"] for b in back)}
