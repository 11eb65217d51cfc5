"""`make demo`: the whole product offline. Builds the seed corpus into .demo/, serves four fake news sites
on 127.0.0.1, runs the ingest flow twice through Prefect (the second run shows conditional GET and
idempotency), and prints what landed and how to look at it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from balkanwatch.cli import format_summary
from balkanwatch.corpus import SITES, build_corpus
from balkanwatch.devserver import LoopbackServer

DEMO_DIR = Path(".demo")
FIRST_PORT = 8701   # fixed ports keep article URLs (and so ids) stable across demo runs


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _toml_sources(sources: list[dict[str, object]]) -> str:
    import json

    blocks = []
    for s in sources:
        blocks.append("[[sources]]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in s.items()))
    return "\n\n".join(blocks)


def write_config(folder: Path, sources: list[dict[str, object]]) -> Path:
    path = folder / "balkanwatch.toml"
    path.write_text(f"""# Demo config written by `make demo`: four fake sites on loopback.
[warehouse]
path = "demo.duckdb"

[fetch]
allow_private_networks = true   # the demo sites live on 127.0.0.1
per_host_concurrency = 4
per_host_delay = 0.0

[ingest]
poll_minutes = 10

{_toml_sources(sources)}
""", encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> None:
    """Show a balkanwatch command, then run it as a user would."""
    shown = " ".join(f'"{a}"' if " " in a else a for a in args)
    print(f"\n$ balkanwatch --config {config} {shown}", flush=True)
    subprocess.run([sys.executable, "-m", "balkanwatch.cli", "--config", str(config), *args], check=True)


def sql(config: Path, query: str) -> None:
    cli(config, "sql", query)


def main() -> None:
    site_root = DEMO_DIR / "sites"
    shutil.rmtree(site_root, ignore_errors=True)
    (DEMO_DIR / "demo.duckdb").unlink(missing_ok=True)
    servers = {}
    for i, site in enumerate(SITES):
        (site_root / site.slug).mkdir(parents=True, exist_ok=True)
        port = FIRST_PORT + i if _free(FIRST_PORT + i) else 0
        servers[site.slug] = LoopbackServer(site_root / site.slug, port=port).start()
    try:
        sources, articles = build_corpus(site_root, {k: s.base for k, s in servers.items()})
        config_path = write_config(DEMO_DIR, sources).resolve()
        print(f"Built {len(articles)} articles on {len(SITES)} sites from ../shared/seeds; serving on "
              + ", ".join(s.base for s in servers.values()))
        from flows.ingest import ingest

        for label, force in (("first run", False), ("second run, every source forced due: 304s, no new rows", True)):
            print(f"\n== ingest, {label} ==", flush=True)
            print(format_summary(asyncio.run(ingest(config_path=str(config_path), force=force))))
        sql(config_path, "SELECT source, count(*) AS articles FROM articles GROUP BY source ORDER BY source")
        sql(config_path, "SELECT published_at, source, title FROM articles ORDER BY published_at DESC")
        sql(config_path, "SELECT name, health, last_success_at, next_poll_at FROM source_health")
        print("\nOne story, many copies: the Bloomberg wire story republished by two sites, and a Serbian report\n"
              "republished in Cyrillic, each count once (origin = first seen):")
        cli(config_path, "stories")
        sql(config_path, "SELECT source, title, repeated_paragraphs FROM articles WHERE repeated_paragraphs > 0")
        for cmd in (["search", "Bayraktar"], ["reindex"], ["search", "Bayraktar"]):
            cli(config_path, *cmd)
    finally:
        for s in servers.values():
            s.stop()
    print("\nNext steps:")
    print(f"  balkanwatch --config {config_path} sql \"SELECT title, text FROM articles LIMIT 3\" --format json")
    print(f"  balkanwatch --config {config_path} extract {site_root}/kosovo-herald/news/seed-000.html --json")
    print("  make run    # Prefect UI on http://127.0.0.1:4200 shows both demo runs, their logs and artifacts")
    print("  (balkanwatch is .venv/bin/balkanwatch; `source .venv/bin/activate` puts it on PATH)")


if __name__ == "__main__":
    main()
