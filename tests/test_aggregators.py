"""Aggregator links resolved to the publisher (balkanwatch/aggregators.py), unit and end to end on loopback."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest

from app.cli import main
from balkanwatch.aggregators import (
    canonical_target,
    consent_wall,
    google_news_exchange_id,
    google_news_request,
    google_news_response_url,
    google_news_signature,
    publisher_link,
    refresh_target,
    script_redirect,
)
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


def test_google_news_ids_of_the_newer_form_need_the_exchange():
    newer = google_id(b"AU_yqLPk3xQ9")
    with pytest.raises(AggregatorLinkError, match="newer form"):   # the pure decoder cannot do it alone
        publisher_link(f"https://news.google.com/rss/articles/{newer}")
    assert google_news_exchange_id(f"https://news.google.com/rss/articles/{newer}?oc=5") == newer
    assert google_news_exchange_id(f"https://news.google.com/articles/{newer}") == newer
    for other in (f"https://news.google.com/rss/articles/{google_id(b'https://a.example/x')}",
                  "https://news.google.com/rss/articles/!!!notbase64", "https://news.google.com/topics/CAAqBwgKMOHq",
                  f"https://example.org/rss/articles/{newer}"):
        assert google_news_exchange_id(other) is None
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


def test_an_interstitial_may_name_the_article_and_consent_walls_are_known():
    page = (b"<html><head><link href='/news/real-story' rel=\"canonical\"></head><body><script>"
            b"location.replace('/news/real-story')</script></body></html>")
    assert canonical_target(page, "https://out.example/r?id=1") == "https://out.example/news/real-story"
    assert canonical_target(b'<link rel="canonical" href="https://out.example/x">', "https://out.example/x") is None
    assert canonical_target(b'<link rel="canonical" href="javascript:alert(1)">', "https://out.example/x") is None
    assert canonical_target(b"<html><body>no link</body></html>", "https://out.example/x") is None
    assert consent_wall("https://consent.google.com/ml?continue=https://news.google.com/x")
    assert consent_wall("https://guce.yahoo.com/consent?brandType=nonEu") and consent_wall("https://consent.dn.se/")
    assert not consent_wall("https://www.koha.net/arberi/consent-law") and not consent_wall("https://rts.rs/")


def test_a_script_interstitial_naming_its_article_lands_as_that_article(server, write_config, tmp_path: Path):
    site = tmp_path / "site"
    (site / "real.html").write_text(f"<html><head><title>Real story</title></head><body><article>"
                                    f"<h1>Real story about KFOR</h1>{ARTICLE}</article></body></html>")
    (site / "wall.html").write_text('<html><head><link rel="canonical" href="real.html"></head><body><p>One moment'
                                    "…</p><script>window.location.href = 'real.html'</script></body></html>")
    (site / "feed.xml").write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                                   f"<item><title>x</title><link>{server.url('wall.html')}</link></item>"
                                   "</channel></rss>")
    cfg = write_config(toml_sources([{"name": "Agency", "feed": server.url("feed.xml")}]))
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = wh.rows("SELECT url, final_url, title FROM articles")
        failed = wh.rows("SELECT url FROM failed_items")
    assert stored == [{"url": server.url("wall.html"), "final_url": server.url("real.html"),
                       "title": "Real story about KFOR"}]
    assert failed == []


def signed_page(signature: str = "AZ5r3e_sig-1", timestamp: str = "1767225600", extra: str = "") -> bytes:
    """A Google News article page as it reaches non-browser clients: the signed element inside c-wiz."""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Google News</title></head><body>'
            f'<div jscontroller="top" data-n-a-sg="not-this-one"></div><c-wiz jsrenderer="x"><br>{extra}'
            f'<div jscontroller="aLI87" data-n-a-id="abc" data-n-a-sg="{signature}" data-n-a-ts="{timestamp}">'
            f'<img src="x.png"></div></c-wiz></body></html>').encode()


def test_the_article_pages_signature_comes_from_the_signed_element():
    assert google_news_signature(signed_page()) == ("AZ5r3e_sig-1", "1767225600")
    nested = signed_page(extra='<c-wiz><div jscontroller="n"><p>unclosed</div></c-wiz>')
    assert google_news_signature(nested) == ("AZ5r3e_sig-1", "1767225600")
    with pytest.raises(AggregatorLinkError, match="no c-wiz > div.jscontroller. element"):
        google_news_signature(b'<html><body><div jscontroller="a" data-n-a-sg="s" data-n-a-ts="1"></div></body></html>')
    with pytest.raises(AggregatorLinkError, match="none with data-n-a-sg"):
        google_news_signature(b'<c-wiz><div jscontroller="a" data-n-a-ts="1"></div></c-wiz>')
    with pytest.raises(AggregatorLinkError, match="non-numeric timestamp"):
        google_news_signature(signed_page(timestamp="yesterday"))
    with pytest.raises(AggregatorLinkError, match="non-numeric timestamp"):
        google_news_signature(b'<c-wiz><div jscontroller="a" data-n-a-sg="s"></div></c-wiz>')
    with pytest.raises(AggregatorLinkError, match="unusable signature"):
        google_news_signature(signed_page(signature="two words"))
    with pytest.raises(AggregatorLinkError, match="unusable signature"):
        google_news_signature(signed_page(signature=""))


def request_fields(f_req: str) -> tuple[str, int, str]:
    """(id, timestamp, signature) out of a batchexecute f.req value, read the way Google reads it."""
    [[[rpc_id, call, _, kind]]] = json.loads(f_req)
    assert (rpc_id, kind) == ("Fbv4je", "generic")
    name, context, gn_id, timestamp, signature = json.loads(call)
    assert name == "garturlreq" and isinstance(context, list)
    return gn_id, timestamp, signature


def test_the_exchange_request_carries_id_timestamp_and_signature():
    gn_id = google_id(b"AU_yqLPk3xQ9")
    assert request_fields(google_news_request(gn_id, "1767225600", "AZ5r3e_sig-1")) == (gn_id, 1767225600, "AZ5r3e_sig-1")
    odd = 'a"b\\c]'   # quotes and brackets stay inside their JSON strings
    assert request_fields(google_news_request(gn_id, "7", odd)) == (gn_id, 7, odd)
    with pytest.raises(AggregatorLinkError, match="numeric timestamp"):
        google_news_request(gn_id, "1.5", "sig")


def batch_answer(result: object, *, prefix: str = ")]}'\n\n") -> bytes:
    """A batchexecute answer: the Fbv4je row (its result is JSON inside a string), then the trailer rows."""
    inner = result if result is None or isinstance(result, str) else json.dumps(result)
    rows = [["wrb.fr", "Fbv4je", inner, None, None, None, "generic"], ["di", 38], ["af.httprm", 38, "-5", 11]]
    return (prefix + json.dumps(rows)).encode()


def test_the_exchange_answer_gives_the_publisher_url_or_a_clear_error():
    url = "https://www.koha.net/arberi/kfor-2026"
    assert google_news_response_url(batch_answer(["garturlres", url, 1])) == url
    rows = batch_answer(["garturlres", url, 1], prefix="").decode()   # rt=c: each chunk after its length
    assert google_news_response_url(f")]}}'\n\n{len(rows)}\n{rows}\n25\n[[\"e\",4]]".encode()) == url
    cases = {
        "no \\)\\]}' line": b"<html>Our systems have detected unusual traffic</html>",
        "unparseable JSON": b")]}'\n\n[[\"wrb.fr\",",
        "not a list of rows": b')]}\'\n\n{"a": 1}',
        "no Fbv4je row": b')]}\'\n\n[["di", 38]]',
        "refused the request": batch_answer(None),
        "unparseable Fbv4je result": batch_answer("[garturlres"),
        "no publisher URL": batch_answer(["garturlres", "javascript:alert(1)", 1]),
        "another Google News link": batch_answer(["garturlres", "https://news.google.com/rss/articles/CBMi", 1]),
    }
    for message, answer in cases.items():
        with pytest.raises(AggregatorLinkError, match=message):
            google_news_response_url(answer)
    with pytest.raises(AggregatorLinkError, match="no publisher URL"):
        google_news_response_url(batch_answer(["other", url]))


NEWER = f"https://news.google.com/rss/articles/{google_id(b'AU_yqLPk3xQ9')}"
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
             server.url("forward.html"), server.url("js.html"), NEWER]
    items = "".join(f"<item><title>item {i}</title><link>{link.replace('&', '&amp;')}</link></item>"
                    for i, link in enumerate(links))
    (site / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Google News: KFOR'
                                   f"</title>{items}</channel></rss>")
    cfg = write_config(toml_sources([{"name": "Google News KFOR", "feed": server.url("feed.xml")}]),
                       extra=f'google_news_base = "{server.base}"')   # answers 404 to the exchange
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = {r["url"]: r for r in wh.rows("SELECT url, final_url, title, source FROM articles")}
        failed = {r["url"]: r["error"] for r in wh.rows("SELECT url, error FROM failed_items")}
    assert set(stored) == {server.url("google.html"), server.url("bing.html"), server.url("forward.html")}
    assert stored[server.url("forward.html")]["final_url"] == server.url("refreshed.html")
    assert all(r["source"] == "Google News KFOR" for r in stored.values())
    assert "forwards by script only" in failed[server.url("js.html")]
    assert failed[NEWER].startswith("Google News decoding exchange failed: HTTP 404")
    assert not any("news.google.com" in u or "bing.com" in u for u in stored)


TS = "1767225600"


def signature_for(gn_id: str) -> str:
    return "AZ5r3e_" + gn_id[-10:]


class GoogleNewsStandIn(ThreadingHTTPServer):
    """news.google.com on 127.0.0.1: article pages by id, and batchexecute answers by id for a POST whose
    f.req carries that id with the page's timestamp and signature (anything else: 400)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GoogleNewsHandler)
        self.pages: dict[str, bytes] = {}
        self.answers: dict[str, bytes] = {}
        self.posts: list[dict[str, object]] = []
        self.gets: list[str] = []   # the ids whose article page was asked for

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _GoogleNewsHandler(BaseHTTPRequestHandler):
    server: GoogleNewsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        gn_id = path.removeprefix("/rss/articles/")
        self.server.gets.append(gn_id)
        if path.startswith("/rss/articles/") and gn_id in self.server.pages:
            self.answer(200, self.server.pages[gn_id])
        else:
            self.answer(404, b"not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = parse_qs(body)
        gn_id, timestamp, signature = request_fields(form["f.req"][0])
        self.server.posts.append({"path": self.path, "content_type": self.headers.get("Content-Type", ""),
                                  "id": gn_id, "ts": timestamp, "signature": signature})
        if (self.path != "/_/DotsSplashUi/data/batchexecute" or (timestamp, signature) != (int(TS), signature_for(gn_id))
                or gn_id not in self.server.answers):
            self.answer(400, b")]}\'\n\n[]", "application/json")
            return
        self.answer(200, self.server.answers[gn_id], "application/json; charset=utf-8")


@pytest.fixture
def google_news() -> Iterator[GoogleNewsStandIn]:
    stand_in = GoogleNewsStandIn()
    thread = threading.Thread(target=stand_in.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.shutdown()
        stand_in.server_close()


def test_newer_google_news_links_land_through_the_decoding_exchange(server, google_news, write_config,
                                                                     tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("decoded", "plain"):
        (site / f"{name}.html").write_text(f"<html><head><title>{name} story</title></head><body><article>"
                                           f"<h1>{name} story about KFOR</h1>{ARTICLE}</article></body></html>")
    decoded, garbage, unsigned = (google_id(f"AU_yqL{name}".encode()) for name in ("Decoded1", "Garbage1", "Unsign1"))
    google_news.pages |= {decoded: signed_page(signature_for(decoded), TS),
                          garbage: signed_page(signature_for(garbage), TS),
                          unsigned: b"<html><body><c-wiz><div>Consent needed</div></c-wiz></body></html>"}
    google_news.answers |= {decoded: batch_answer(["garturlres", server.url("decoded.html"), 1]),
                            garbage: b"<html><body>Something went wrong</body></html>"}
    links = {gn_id: f"https://news.google.com/rss/articles/{gn_id}?oc=5" for gn_id in (decoded, garbage, unsigned)}
    items = "".join(f"<item><title>item {i}</title><link>{link}</link></item>"
                    for i, link in enumerate([*links.values(), server.url("plain.html")]))
    (site / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Google News: KFOR'
                                   f"</title>{items}</channel></rss>")
    cfg = write_config(toml_sources([{"name": "Google News KFOR", "feed": server.url("feed.xml")}]),
                       extra=f'google_news_base = "{google_news.base}"')
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        stored = {r["url"]: r for r in wh.rows("SELECT url, source FROM articles")}
        failed = {r["url"]: r["error"] for r in wh.rows("SELECT url, error FROM failed_items")}
        fetched = {r["url"] for r in wh.rows("SELECT url FROM fetches")}
    assert set(stored) == {server.url("decoded.html"), server.url("plain.html")}
    assert stored[server.url("decoded.html")]["source"] == "Google News KFOR"
    assert set(failed) == {links[garbage], links[unsigned]}
    assert failed[links[garbage]].startswith("Google News decoding exchange failed:")
    assert "batchexecute response" in failed[links[garbage]]
    assert "without the exchange's signature" in failed[links[unsigned]]
    posts = {p["id"]: p for p in google_news.posts}
    assert set(posts) == {decoded, garbage}   # no signature, no POST
    assert posts[decoded]["ts"] == int(TS) and posts[decoded]["signature"] == signature_for(decoded)
    assert str(posts[decoded]["content_type"]).startswith("application/x-www-form-urlencoded")
    batch = google_news.base + "/_/DotsSplashUi/data/batchexecute"
    assert {batch, f"{google_news.base}/rss/articles/{decoded}"} <= fetched   # logged like every fetch
    for _ in range(3):   # an item whose exchange failed MAX_ITEM_ATTEMPTS (3) times is not asked again
        assert main(["--config", str(cfg), "ingest", "--no-prefect", "--force"]) == 0
    assert sum(p["id"] == garbage for p in google_news.posts) == 3
    assert google_news.gets.count(decoded) == 1 and sum(p["id"] == decoded for p in google_news.posts) == 1


def test_resolved_google_news_links_are_not_exchanged_again(server, google_news, write_config, tmp_path: Path) -> None:
    """A changed feed asks Google only for links it has not resolved before, even when the page then failed."""
    site = tmp_path / "site"
    for name in ("kept", "added"):
        (site / f"{name}.html").write_text(f"<html><head><title>{name} story</title></head><body><article>"
                                           f"<h1>{name} story about KFOR</h1>{ARTICLE}</article></body></html>")
    kept, broken, added = (google_id(f"AU_yqL{name}".encode()) for name in ("Kept0001", "Broken01", "Added001"))
    targets = {kept: server.url("kept.html"), broken: server.url("missing.html"), added: server.url("added.html")}
    google_news.pages |= {gn_id: signed_page(signature_for(gn_id), TS) for gn_id in targets}
    google_news.answers |= {gn_id: batch_answer(["garturlres", url, 1]) for gn_id, url in targets.items()}

    def list_items(*gn_ids: str) -> None:
        items = "".join(f"<item><title>item {gn_id}</title><link>https://news.google.com/rss/articles/{gn_id}?oc=5"
                        "</link></item>" for gn_id in gn_ids)
        (site / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Google News: '
                                       f"KFOR</title>{items}</channel></rss>")

    def exchanges(gn_id: str) -> tuple[int, int]:
        return google_news.gets.count(gn_id), sum(p["id"] == gn_id for p in google_news.posts)

    list_items(kept, broken)
    cfg = write_config(toml_sources([{"name": "Google News KFOR", "feed": server.url("feed.xml")}]),
                       extra=f'google_news_base = "{google_news.base}"')
    assert main(["--config", str(cfg), "ingest", "--no-prefect"]) == 0
    assert exchanges(kept) == exchanges(broken) == (1, 1)
    list_items(added, kept, broken)    # the feed changed: a new item on top
    for _ in range(3):
        assert main(["--config", str(cfg), "ingest", "--no-prefect", "--force"]) == 0
    assert exchanges(kept) == exchanges(broken) == exchanges(added) == (1, 1)
    path = load_config(cfg).warehouse_path
    with Warehouse.open(path, read_only=True) as wh:
        stored = {r["url"] for r in wh.rows("SELECT url FROM articles")}
        failed = wh.rows("SELECT url, attempts FROM failed_items")
        page_fetches = wh.rows("SELECT count(*) AS n FROM fetches WHERE url = ?", [targets[broken]])[0]["n"]
        links = {r["link_id"]: r for r in wh.rows("SELECT * FROM aggregator_links")}
    assert stored == {targets[kept], targets[added]}
    assert failed == [{"url": targets[broken], "attempts": 3}]   # retried at the publisher's URL, then given up
    assert page_fetches == 3
    assert {r["publisher_url"] for r in links.values()} == set(targets.values()) and len(links) == 3
    assert {r["source"] for r in links.values()} == {"Google News KFOR"}
    again = [(link_id, r["link"], r["publisher_url"]) for link_id, r in links.items()]
    with Warehouse.open(path) as wh:   # a second shard (or a re-run after a crash) resolving the same links
        assert wh.record_aggregator_links(again + again, "another shard") == 0
        assert wh.record_aggregator_links([("new", "https://news.google.com/x", "https://a.example/1")] * 2, "s") == 1
        assert wh.rows("SELECT count(*) AS n FROM aggregator_links")[0]["n"] == 4
        assert wh.aggregator_links([*links, "new", "unknown"]) == {
            **{link_id: r["publisher_url"] for link_id, r in links.items()}, "new": "https://a.example/1"}
