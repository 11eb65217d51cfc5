"""`make demo`: the whole product offline. Builds the seed corpus plus a month of routine coverage and a
surge of northern-Kosovo clash reports into .demo/, serves four fake news sites on 127.0.0.1, runs the
ingest flow twice through Prefect (the second run shows conditional GET and idempotency; each run ends with
an alerts cycle), catches the alert e-mail with a local SMTP server and writes it to .demo/mail as .eml and
.html, and prints what landed and how to look at it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import EPHEMERAL_STARTUP_SECONDS, format_summary
from app.corpus import OFFICIAL, SITES, build_corpus, write_official_site
from app.devserver import LoopbackServer, free_port

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

DEMO_DIR = Path(".demo")
FIRST_PORT = 8701   # fixed ports keep article URLs (and so ids) stable across demo runs
SMTP_PORT = 8725
# what the config can say of each source (shown in `sources`, stories and e-mails; queryable in SQL)
ABOUT = {"Kosovo Herald": ("XK", "outlet"), "Balkan Wire": ("RS", "agency"), "Adriatic Times": ("HR", "outlet"),
         "Sarajevo Daily": ("BA", "outlet")}


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


def default_watchlists() -> str:
    """The [[watchlists]] of the shipped default config, as TOML text."""
    from importlib import resources

    text = (resources.files("balkanwatch") / "default.toml").read_text(encoding="utf-8")
    return text[text.index("[[watchlists]]"):]


def write_config(folder: Path, sources: list[dict[str, object]], smtp_port: int) -> Path:
    path = folder / "balkanwatch.toml"
    path.write_text(f"""# Demo config written by `make demo`: four fake sites and an SMTP server on loopback.
[warehouse]
path = "demo.duckdb"

[fetch]
allow_private_networks = true   # the demo sites live on 127.0.0.1
per_host_concurrency = 4
per_host_delay = 0.0

[ingest]
poll_minutes = 10

[alerts]
email_to = ["analyst@example.org"]
email_from = "balkanwatch@example.org"
save_dir = "mail"               # every e-mail sent is also written here as .eml and .html

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[feeds]
dir = "feeds"                   # Atom feeds for a feed reader: all.atom, topics/<topic>.atom, alerts.atom

{_toml_sources(sources)}

{default_watchlists()}""", encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> None:
    """Show a balkanwatch command, then run it as a user would."""
    shown = " ".join(f'"{a}"' if " " in a else a for a in args)
    print(f"\n$ balkanwatch --config {config} {shown}", flush=True)
    subprocess.run([sys.executable, "-m", "app.cli", "--config", str(config), *args], check=True)


def sql(config: Path, query: str) -> None:
    cli(config, "sql", query)


class MailCatcher:
    """aiosmtpd handler: the demo's stand-in for the analysts' mail server."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook)
        from email import message_from_bytes, policy

        content = envelope.original_content or b""   # set before DATA's hook is called
        self.subjects.append(str(message_from_bytes(content, policy=policy.default)["Subject"]))
        return "250 OK"


def main() -> None:
    from aiosmtpd.controller import Controller

    site_root = DEMO_DIR / "sites"
    shutil.rmtree(site_root, ignore_errors=True)
    shutil.rmtree(DEMO_DIR / "mail", ignore_errors=True)
    shutil.rmtree(DEMO_DIR / "charts", ignore_errors=True)
    (DEMO_DIR / "demo.duckdb").unlink(missing_ok=True)
    servers = {}
    for i, site in enumerate((*SITES, OFFICIAL)):
        (site_root / site.slug).mkdir(parents=True, exist_ok=True)
        port = FIRST_PORT + i if _free(FIRST_PORT + i) else 0
        servers[site.slug] = LoopbackServer(site_root / site.slug, port=port).start()
    catcher = MailCatcher()
    smtp_port = SMTP_PORT if _free(SMTP_PORT) else free_port()
    mail_server = Controller(catcher, hostname="127.0.0.1", port=smtp_port)
    mail_server.start()
    try:
        sources, articles = build_corpus(site_root, {k: s.base for k, s in servers.items()}, monitoring=True)
        sources = [{**src, "country": ABOUT[str(src["name"])][0], "kind": ABOUT[str(src["name"])][1]}
                   for src in sources]
        official, releases = write_official_site(site_root / OFFICIAL.slug, servers[OFFICIAL.slug].base)
        config_path = write_config(DEMO_DIR, [*sources, official], smtp_port).resolve()
        print(f"Built {len(articles)} articles on {len(SITES)} news sites (the seeds, a month of routine coverage, "
              f"and a surge of clash reports in the last two hours) and {len(releases)} press releases on an "
              "official site with no feed, only a news page listing them; serving on "
              + ", ".join(s.base for s in servers.values()) + f"; SMTP on 127.0.0.1:{smtp_port}")
        # As `balkanwatch` commands do (app.cli.main), before Prefect is imported: on a new machine the first
        # temporary server migrates its database and took longer than Prefect's 20 s (session 36).
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_SECONDS))
        from flows.ingest import ingest

        for label, force in (("first run", False), ("second run, every source forced due: 304s, no new rows", True)):
            print(f"\n== ingest, {label} ==", flush=True)
            summary = asyncio.run(ingest(config_path=str(config_path), force=force))
            print(format_summary(summary))
        sql(config_path, "SELECT source, count(*) AS articles FROM articles GROUP BY source ORDER BY source")
        sql(config_path, "SELECT published_at, source, title FROM articles ORDER BY published_at DESC LIMIT 12")
        cli(config_path, "sources")
        print("\nAn official page without a feed is a `listing` source: its article links (not the menus, tags,\n"
              "pagination or footer) were fetched as articles:")
        sql(config_path, f"SELECT published_at, title, url FROM articles WHERE source = '{OFFICIAL.name}' "
                         "ORDER BY published_at DESC")
        print("\nOne story, many copies: the Bloomberg wire story republished by two sites, and a Serbian report\n"
              "republished in Cyrillic, each count once (origin = first seen):")
        cli(config_path, "stories", "--min-copies", "1")
        sql(config_path, "SELECT source, title, repeated_paragraphs FROM articles WHERE repeated_paragraphs > 0")
        for cmd in (["search", "Bayraktar"], ["reindex"], ["search", "Bayraktar"]):
            cli(config_path, *cmd)
        print("\nAlerts: unique stories per topic; the month of history is each topic's record (no alert for it), the\n"
              "surge of the last hours alerts once per topic that it lifts above an ordinary day's busiest hours,\n"
              "all of them in one e-mail because they share the stories:")
        sql(config_path, "SELECT watchlist, bucket, stories FROM topic_counts WHERE bucket > (SELECT max(bucket) FROM topic_counts) - INTERVAL 6 HOUR "
                         "ORDER BY bucket, watchlist")
        cli(config_path, "alerts")
        cli(config_path, "spikes", "backtest")
        show_topics_artifact(DEMO_DIR / "charts")
    finally:
        mail_server.stop()
        for s in servers.values():
            s.stop()
    mail = sorted((DEMO_DIR / "mail").glob("*")) if (DEMO_DIR / "mail").exists() else []
    print(f"\nE-mails received by the local SMTP server: {len(catcher.subjects)}")
    for subject in catcher.subjects:
        print(f"  {subject}")
    for path in mail:
        print(f"  open {path.resolve()}")
    feeds = sorted((DEMO_DIR / "feeds").rglob("*.atom")) if (DEMO_DIR / "feeds").exists() else []
    print(f"\nAtom feeds of unique stories and of surges (alerts.atom), for a feed reader ({len(feeds)}; `python -m http.server -d "
          f"{(DEMO_DIR / 'feeds').resolve()}` serves them):")
    for path in feeds:
        print(f"  {path.resolve()}")
    print("\nNext steps:")
    print(f"  balkanwatch --config {config_path} sql \"SELECT title, text FROM articles LIMIT 3\" --format json")
    print(f"  balkanwatch --config {config_path} extract {site_root}/kosovo-herald/news/seed-000.html --json")
    print(f"  balkanwatch --config {config_path} stories --topic kfor --since 24h   # the day's KFOR stories, each once")
    print(f"  balkanwatch --config {config_path} topics try banjska --any \"Banjsk*\" \"Zvečan*\"   # a topic tried first")
    print("  make run    # Prefect UI on http://127.0.0.1:4200 shows the demo's ingest and alerts runs, logs and artifacts")
    print("  (balkanwatch is .venv/bin/balkanwatch; `source .venv/bin/activate` puts it on PATH)")


def show_topics_artifact(folder: Path) -> None:
    """The alerts cycle's `topics` artifact (the page an analyst opens first in the Prefect UI), read back from
    the Prefect API: its table printed, its chart of every topic's last week saved as a PNG."""
    import base64
    import re

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def latest() -> str | None:
        async with get_client() as client:
            found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["topics"])),
                                                sort=ArtifactSort.CREATED_DESC, limit=1)
        return str(found[0].data) if found else None

    text = asyncio.run(latest())
    if text is None:
        print("\n(no `topics` artifact found)")
        return
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    folder.mkdir(parents=True, exist_ok=True)
    if png:
        (folder / "topics.png").write_bytes(base64.b64decode(png.group(1)))
    print("\nThe `topics` artifact of the last alerts cycle (Prefect UI → Artifacts → topics), its chart inline there"
          + (f" and saved to {(folder / 'topics.png').resolve()}:" if png else ":"))
    print("\n".join(line for line in text.splitlines() if line.startswith("|")))


if __name__ == "__main__":
    main()
