"""https:// sources whose certificates do not verify, served by real TLS servers on 127.0.0.1 (session 31).

Four loopback sites (`tests/tls.py`), each with its own certificate made here: one issued by a test CA for
127.0.0.1 (the config trusts that CA by `fetch.ca_file`), one from the same CA but expired, one from the
same CA for another host name, one self-signed. The run goes on; the good site lands its article; each bad
one fails its source with OpenSSL's reason, at once (terminal: no retries within the run), and a hint where
a private CA goes. Without `fetch.ca_file` the good site fails too: the file is what trusts it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from app.devserver import LoopbackServer
from balkanwatch.config import load_config
from balkanwatch.errors import ConfigError
from flows.ingest import run_ingest
from tests.conftest import loopback_config, toml_sources
from tests.tls import LOCALHOST, certificate, key_pem, pem, serve_https
from warehouse import Warehouse

PARAGRAPH = ("KFOR troops increased patrols near the administrative boundary line in northern Kosovo on "
             "Tuesday after reports of a roadblock, a spokesperson for the mission said, adding that the "
             "situation was calm and that talks with local representatives were continuing. ")
ARTICLE = ("<html><head><title>KFOR patrols near the boundary</title></head><body><article>"
           "<h1>KFOR patrols near the boundary</h1>" + f"<p>{PARAGRAPH}</p>" * 6 + "</article></body></html>")


def _https_site(stack: ExitStack, folder: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> str:
    """A loopback site in `folder` answering in TLS with this certificate: a feed of one article. Its feed's URL."""
    (folder / "news").mkdir(parents=True)
    (folder / "chain.pem").write_bytes(pem(cert) + key_pem(key))
    base = serve_https(stack.enter_context(LoopbackServer(folder)), folder / "chain.pem")
    (folder / "news" / "patrols.html").write_text(ARTICLE, encoding="utf-8")
    (folder / "feed.xml").write_text(f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item><title>"
                                     f"KFOR patrols near the boundary</title><link>{base}/news/patrols.html</link>"
                                     "</item></channel></rss>", encoding="utf-8")
    return f"{base}/feed.xml"


@pytest.fixture(scope="module")
def tls_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("balkanwatch test CA", ca_key, ca=True, san=None)
    (folder / "ca.pem").write_bytes(pem(ca))
    made = {"Good": ("127.0.0.1", (ca, ca_key), LOCALHOST, (-1, 30)),
            "Expired": ("127.0.0.1", (ca, ca_key), LOCALHOST, (-30, -1)),
            "Other host": ("example.org", (ca, ca_key), x509.DNSName("example.org"), (-1, 30)),
            "Self-signed": ("127.0.0.1", None, LOCALHOST, (-1, 30))}
    with ExitStack() as stack:
        feeds = {}
        for name, (subject, issuer, san, days) in made.items():
            key = ec.generate_private_key(ec.SECP256R1())
            feeds[name] = _https_site(stack, folder / name.replace(" ", "-"),
                                      certificate(subject, key, issuer, san=san, days=days), key)
        yield folder, feeds


def _ingest(folder: Path, feeds: dict[str, str], *, trust_ca: bool) -> tuple[dict[str, dict], list[dict], list[dict]]:
    cfg = folder / f"run-{'ca' if trust_ca else 'plain'}" / "balkanwatch.toml"
    cfg.parent.mkdir()
    extra = ""
    if trust_ca:   # a path relative to the config file
        (cfg.parent / "ca.pem").write_bytes((folder / "ca.pem").read_bytes())
        extra = 'ca_file = "ca.pem"'
    sources = [{"name": name, "feed": url} for name, url in feeds.items()]
    cfg.write_text(loopback_config(toml_sources(sources)).replace("[fetch]\n", f"[fetch]\n{extra}\n"), encoding="utf-8")
    summary = asyncio.run(run_ingest(load_config(cfg)))
    assert summary.status == "completed", summary.note
    with Warehouse.open(load_config(cfg).warehouse_path, read_only=True) as wh:
        return ({h["name"]: h for h in wh.source_health()}, wh.rows("SELECT source, url FROM articles"),
                wh.rows("SELECT source, url, error_kind FROM fetches"))


def test_certificates_that_do_not_verify_fail_their_source_with_the_reason(tls_sites) -> None:  # type: ignore[no-untyped-def]
    folder, feeds = tls_sites
    health, articles, fetches = _ingest(folder, feeds, trust_ca=True)
    assert health["Good"]["health"] == "healthy", health["Good"]["last_error"]
    assert [a["url"].rsplit("/", 1)[1] for a in articles] == ["patrols.html"] and articles[0]["source"] == "Good"
    reasons = {"Expired": "certificate has expired", "Other host": "mismatch", "Self-signed": "self-signed certificate"}
    for name, reason in reasons.items():
        h = health[name]
        assert h["health"] == "failing" and h["last_error_kind"] == "terminal", h
        assert re.search(rf"TLS certificate of 127\.0\.0\.1:\d+ rejected: .*{reason}.*fetch\.ca_file", h["last_error"]), h
        # terminal: asked once, not retried within the run (the loopback config retries transient errors once)
        assert len([f for f in fetches if f["source"] == name]) == 1, fetches


def test_without_the_ca_file_the_private_ca_is_not_trusted(tls_sites) -> None:  # type: ignore[no-untyped-def]
    folder, feeds = tls_sites
    health, articles, _ = _ingest(folder, {"Good": feeds["Good"]}, trust_ca=False)
    assert articles == [] and health["Good"]["health"] == "failing"
    assert "unable to get local issuer certificate" in health["Good"]["last_error"], health["Good"]["last_error"]


def test_a_ca_file_that_holds_no_certificates_is_refused_by_name(tmp_path: Path) -> None:
    cfg = tmp_path / "balkanwatch.toml"
    for content, words in ((None, "No such file"), (b"not a certificate", "cannot load CA certificates")):
        if content is not None:
            (tmp_path / "ca.pem").write_bytes(content)
        cfg.write_text(loopback_config("").replace("[fetch]\n", '[fetch]\nca_file = "ca.pem"\n'), encoding="utf-8")
        with pytest.raises(ConfigError, match=f"fetch.ca_file: .*{words}"):
            load_config(cfg)
