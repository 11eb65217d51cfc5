"""Revisions: the same URL with changed text is a new revision of the article, not a new article."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb

from balkanwatch.config import load_config
from flows.ingest import run_ingest
from tests.conftest import toml_sources

PARAS = ["KFOR troops increased patrols near the Jarinje crossing on Monday after two nights of tension in the north.",
         "A spokesman said the mission would keep the additional units in place for as long as needed.",
         "Kosovo police and EULEX officers were present; no injuries were reported by local authorities."]


def page(title: str, paras: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article>"
            "</body></html>")


def atom(base: str, updated: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Herald</title><id>tag:herald</id><updated>{updated}</updated>
<entry><title>Patrols up</title><link href="{base}/news/patrols.html"/><id>tag:herald,patrols</id>
<published>2026-11-20T08:00:00Z</published><updated>{updated}</updated></entry></feed>"""


def test_a_changed_article_becomes_a_revision_with_the_same_id(server, write_config, tmp_path: Path):
    site = tmp_path / "site"
    (site / "news").mkdir()
    (site / "news" / "patrols.html").write_text(page("Patrols up", PARAS), encoding="utf-8")
    (site / "feed.xml").write_text(atom(server.base, "2026-11-20T08:00:00Z"), encoding="utf-8")
    cfg = write_config(toml_sources([{"name": "Herald", "feed": f"{server.base}/feed.xml"}]))
    config = load_config(cfg)
    first = asyncio.run(run_ingest(config))
    assert first.new_articles == 1

    # the same listing again: nothing is fetched again
    again = asyncio.run(run_ingest(config, force=True))
    assert again.new_articles == 0 and again.sources[0].revised == 0

    # the article is corrected and the feed says so
    corrected = [*PARAS[:2], "Correction: Kosovo police, not EULEX, were present; two officers were slightly injured."]
    (site / "news" / "patrols.html").write_text(page("Patrols up near Jarinje", corrected), encoding="utf-8")
    (site / "feed.xml").write_text(atom(server.base, "2026-11-20T12:30:00Z"), encoding="utf-8")
    revised = asyncio.run(run_ingest(config, force=True))
    assert revised.new_articles == 0 and revised.sources[0].revised == 1

    # listing touched but the text is the same: remembered, not a revision
    (site / "feed.xml").write_text(atom(server.base, "2026-11-20T13:00:00Z"), encoding="utf-8")
    same = asyncio.run(run_ingest(config, force=True))
    assert same.sources[0].revised == 0

    with duckdb.connect(str(cfg.parent / "wh.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT article_id, title, text, revision, story_id FROM articles").fetchall()
        assert len(rows) == 1
        art_id, title, text, revision, story_id = rows[0]
        assert title == "Patrols up near Jarinje" and "Correction:" in text and revision == 2 and story_id
        old = con.execute("SELECT revision, title, text FROM article_revisions WHERE article_id = ?", [art_id]).fetchall()
        assert len(old) == 1 and old[0][0] == 1 and old[0][1] == "Patrols up" and "EULEX officers were present" in old[0][2]
        assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == 1
        fetched = con.execute("SELECT count(*) FROM fetches WHERE url LIKE '%patrols.html'").fetchone()[0]
        assert fetched == 3          # first fetch, the revision, the touched listing; never on an unchanged listing
