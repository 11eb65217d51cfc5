"""Aggregator links resolved to the publisher (balkanwatch/aggregators.py), unit and end to end on loopback."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest

from app.cli import main
from balkanwatch.aggregators import publisher_link, refresh_target, script_redirect
from balkanwatch.config import load_config
from balkanwatch.errors import AggregatorLinkError
from tests.conftest import toml_sources
from warehouse import Warehouse


def google_id(payload: bytes) -> str:
    """A Google News article id as its RSS carries it: the 0x08 0x13 header, field 4 length-prefixed."""
    assert len(payload) < 128
    return base64.urlsafe_b64encode(b"\x08\x13\x22" + bytes([len(payload)]) + payload + b"\xd2\x01\x00").decode().rstrip("=")


def test_google_news_ids_of_the_older_form_carry_the_publisher_url():
    url = "https://www.kosovo-online.com/vesti/kfor-patrol-2026"
    assert publisher_link(f"https://news.google.com/rss/articles/{google_id(url.encode())}?oc=5") == url
    assert publisher_link(f"https://news.google.com/articles/{google_id(url.encode())}") == url


def test_google_news_ids_of_the_newer_form_are_a_clear_item_error():
    with pytest.raises(AggregatorLinkError, match="newer form"):
        publisher_link(f"https://news.google.com/rss/articles/{google_id(b'AU_yqLPk3xQ9')}")
    with pytest.raises(AggregatorLinkError):
        publisher_link("https://news.google.com/rss/articles/!!!notbase64")
    with pytest.raises(AggregatorLinkError, match="not an article"):
        publisher_link("https://news.google.com/topics/CAAqBwgKMOHq")


def test_bing_news_links_carry_the_publisher_url_and_other_links_pass_unchanged():
    target = "https://balkaninsight.com/2026/12/01/kfor/?a=1&b=2"
    assert publisher_link(f"https://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&url={quote(target, safe='')}&c=1") \
        == target
    with pytest.raises(AggregatorLinkError):
        publisher_link("https://www.bing.com/news/apiclick.aspx?ref=FexRss&url=javascript%3Aalert(1)")
    assert publisher_link("https://www.rferl.org/a/kosovo/1.html") == "https://www.rferl.org/a/kosovo/1.html"


def test_interstitials_are_recognised():
    page = b'<html><head><meta http-equiv="refresh" content="0; url=/real.html"></head><body>Moving</body></html>'
    assert refresh_target(page, "http://a.example/x") == "http://a.example/real.html"
    assert refresh_target(b"<html><body>article</body></html>", "http://a.example/x") is None
    assert script_redirect(b"<html><script>window.location.href='https://x.example/a'</script></html>")
    assert not script_redirect(b"<html><body><p>An article.</p></body></html>")


ARTICLE = "".join(f"<p>KFOR troops and Kosovo Police patrolled the northern crossing on day {i} after the clash, "
                  "officials from both sides said in statements published on Monday.</p>" for i in range(10))


def test_aggregator_feed_items_land_as_the_publishers_articles(server, write_config, tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("google", "bing", "refreshed"):
        (site / f"{name}.html").write_text(f"<html><head><title>{name} story</title></head><body><article>"
                                           f"<h1>{name} story about KFOR</h1>{ARTICLE}</article></body></html>")
    (site / "forward.html").write_text('<html><head><meta http-equiv="refresh" content="0;url=refreshed.html">'
                                       "</head><body>Redirecting…</body></html>")
    (site / "js.html").write_text("<html><body><p>Please wait, you are being redirected.</p><script>"
                                  "location.replace('https://publisher.example/a')</script></body></html>")
    links = [f"https://news.google.com/rss/articles/{google_id(server.url('google.html').encode())}",
             f"https://www.bing.com/news/apiclick.aspx?ref=FexRss&url={quote(server.url('bing.html'), safe='')}",
             server.url("forward.html"), server.url("js.html"),
             f"https://news.google.com/rss/articles/{google_id(b'AU_yqLPk3xQ9')}"]
    items = "".join(f"<item><title>item {i}</title><link>{link.replace('&', '&amp;')}</link></item>"
                    for i, link in enumerate(links))
    (site / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Google News: KFOR'
                                   f"</title>{items}</channel></rss>")
    cfg = write_config(toml_sources([{"name": "Google News KFOR", "feed": server.url("feed.xml")}]))
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = {r["url"]: r for r in wh.rows("SELECT url, final_url, title, source FROM articles")}
        failed = {r["url"]: r["error"] for r in wh.rows("SELECT url, error FROM failed_items")}
    assert set(stored) == {server.url("google.html"), server.url("bing.html"), server.url("forward.html")}
    assert stored[server.url("forward.html")]["final_url"] == server.url("refreshed.html")
    assert all(r["source"] == "Google News KFOR" for r in stored.values())
    assert "forwards by script only" in failed[server.url("js.html")]
    assert any("newer form" in e for e in failed.values())
    assert not any("news.google.com" in u or "bing.com" in u for u in stored)
