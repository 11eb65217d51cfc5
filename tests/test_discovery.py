"""`balkanwatch sources add URL`: feed discovery on loopback sites, the config appended or left unchanged."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.cli import main
from balkanwatch.config import load_config
from connectors.discovery import feed_candidates, robots_sitemaps

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Kosovo Herald</title>
<item><title>One</title><link>{base}/a1.html</link><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>Two</title><link>{base}/a2.html</link><pubDate>Tue, 01 Dec 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""


def sources(cfg: Path) -> list[dict]:
    return tomllib.loads(cfg.read_text(encoding="utf-8")).get("sources", [])


def test_candidates_and_robots_sitemaps():
    html = b'<html><head><link rel="alternate" type="application/rss+xml" href="/news/rss.xml"></head></html>'
    found = feed_candidates(html, "https://herald.example/")
    assert found[0] == "https://herald.example/news/rss.xml" and "https://herald.example/feed/" in found
    robots = "User-agent: *\nDisallow: /admin\nSitemap: https://herald.example/sitemap.xml\nsitemap: /news.xml\n"
    assert robots_sitemaps(robots, "https://herald.example/") == ["https://herald.example/sitemap.xml",
                                                                   "https://herald.example/news.xml"]


def test_sources_add_finds_the_announced_feed(server, write_config, tmp_path: Path, capsys):
    site = tmp_path / "site"
    (site / "news").mkdir()
    (site / "news" / "rss.xml").write_text(RSS.format(base=server.url("").rstrip("/")))
    (site / "index.html").write_text('<html><head><link rel="alternate" type="application/rss+xml" '
                                     'href="/news/rss.xml"></head><body>Home</body></html>')
    cfg = write_config("")
    assert main(["--config", str(cfg), "sources", "add", server.url("index.html")]) == 0
    [added] = sources(cfg)
    assert added == {"name": "Kosovo Herald", "feed": server.url("news/rss.xml")}
    assert "2 items" in capsys.readouterr().out and len(load_config(cfg).sources) == 1
    assert main(["--config", str(cfg), "sources", "add", server.url("index.html")]) == 2   # already there
    assert len(sources(cfg)) == 1


def test_sources_add_tries_the_common_paths(server, write_config, tmp_path: Path):
    site = tmp_path / "site"
    (site / "feed").mkdir()
    (site / "feed" / "index.html").write_text(RSS.format(base=server.url("").rstrip("/")))
    (site / "index.html").write_text("<html><body>Home, no link to any feed</body></html>")
    cfg = write_config("")
    assert main(["--config", str(cfg), "sources", "add", server.url("index.html"), "--name", "Herald"]) == 0
    assert sources(cfg) == [{"name": "Herald", "feed": server.url("feed/")}]


def test_sources_add_on_a_site_without_a_feed_says_so_and_changes_nothing(server, write_config, tmp_path: Path,
                                                                          capsys):
    (tmp_path / "site" / "index.html").write_text("<html><body>No feed here</body></html>")
    cfg = write_config("")
    before = cfg.read_bytes()
    assert main(["--config", str(cfg), "sources", "add", server.url("index.html")]) == 2
    assert "no feed found" in capsys.readouterr().err and cfg.read_bytes() == before
