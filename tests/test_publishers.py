"""Who publishes what (#18): a source's country and type, and every article's publisher, stored, queryable in
SQL and shown in `sources`, `stories` and the alert e-mails."""

from __future__ import annotations

import json
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import quote

from app.cli import main
from app.devserver import LoopbackServer
from balkanwatch.alerting import Incident, Spike
from balkanwatch.config import load_config
from balkanwatch.emails import compose_incident
from balkanwatch.urls import publisher_of
from tests.conftest import toml_sources
from warehouse import Warehouse

ARTICLE = "".join(f"<p>KFOR troops and Kosovo Police patrolled the northern crossing on day {i} after the clash, "
                  "officials from both sides said in statements published on Monday.</p>" for i in range(10))


def test_an_aggregator_item_is_credited_to_its_publisher_and_the_source_keeps_its_metadata(
        server, write_config, tmp_path: Path, capsys) -> None:
    outlet_root = tmp_path / "outlet"
    outlet_root.mkdir()
    (outlet_root / "story.html").write_text(f"<html><head><title>Patrols in Zubin Potok</title>"
                                            '<meta property="og:site_name" content="Koha Ditore"></head><body><article>'
                                            f"<h1>Patrols in Zubin Potok</h1>{ARTICLE}</article></body></html>")
    with LoopbackServer(outlet_root, host="127.0.0.2") as outlet:
        link = f"https://www.bing.com/news/apiclick.aspx?ref=FexRss&url={quote(outlet.url('story.html'), safe='')}"
        (tmp_path / "site" / "feed.xml").write_text(
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Bing News: KFOR</title>'
            f"<item><title>Patrols</title><link>{link.replace('&', '&amp;')}</link></item></channel></rss>")
        cfg = write_config(toml_sources([{"name": "Bing KFOR", "feed": server.url("feed.xml"), "country": "XK",
                                          "kind": "aggregator", "language": "en"}]))
        assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
        host = publisher_of(outlet.url("story.html"))
        assert host and host.startswith("127.0.0.2:")
    capsys.readouterr()

    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        [article] = wh.rows("SELECT source, publisher, url FROM articles")
        [src] = wh.rows("SELECT country, source_type, language FROM sources")
        [story] = wh.rows("SELECT origin_publisher, publishers FROM stories")
        [details] = wh.story_details([wh.rows("SELECT story_id FROM stories")[0]["story_id"]])
    assert article == {"source": "Bing KFOR", "publisher": host, "url": outlet.url("story.html")}
    assert src == {"country": "XK", "source_type": "aggregator", "language": "en"}
    assert story == {"origin_publisher": host, "publishers": [host]}
    assert (details["publisher"], details["site_name"], details["country"], details["source_type"]) == (
        host, "Koha Ditore", "XK", "aggregator")

    assert main(["--config", str(cfg), "sources", "--format", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["country"], listed["source_type"], listed["language"]) == ("XK", "aggregator", "en")
    assert main(["--config", str(cfg), "stories", "--format", "json"]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert (shown["publisher"], shown["origin_source"], shown["country"], shown["source_type"]) == (
        host, "Bing KFOR", "XK", "aggregator")

    now = datetime(2026, 12, 2, 9, 0)
    inc = Incident((Spike("kfor", now, now, now, 0.7, 8.0, 0.4, (details["story_id"],), 1.5),))
    email = compose_incident(inc, [details], {}, "bw@example.org", ["desk@example.org"], now)
    msg = message_from_bytes(email.raw, policy=policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Koha Ditore (XK, aggregator) · sources: Bing KFOR" in text
    assert "Koha Ditore (XK, aggregator) · sources: Bing KFOR" in html


def test_source_metadata_follows_the_config(server, write_config, tmp_path: Path) -> None:
    (tmp_path / "site" / "feed.xml").write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
                                          "</channel></rss>")
    cfg = write_config(toml_sources([{"name": "KFOR news", "feed": server.url("feed.xml"), "country": "XK",
                                      "kind": "official"}]))
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    cfg.write_text(cfg.read_text().replace('"official"', '"agency"').replace('country = "XK"\n', ""))
    assert main(["--config", str(cfg), "ingest", "--no-prefect", "--force"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        assert wh.rows("SELECT country, source_type FROM sources") == [{"country": None, "source_type": "agency"}]
