"""https:// sources whose certificates do not verify, served by real TLS servers on 127.0.0.1 (session 31).

Four sites, each with its own certificate made here by `cryptography`: one issued by a test CA for
127.0.0.1 (the config trusts that CA by `fetch.ca_file`), one from the same CA but expired, one from the
same CA for another host name, one self-signed. The run goes on; the good site lands its article; each bad
one fails its source with OpenSSL's reason, at once (terminal: no retries within the run), and a hint where
a private CA goes. Without `fetch.ca_file` the good site fails too: the file is what trusts it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from balkanwatch.config import load_config
from balkanwatch.errors import ConfigError
from flows.ingest import run_ingest
from tests.conftest import loopback_config, toml_sources
from warehouse import Warehouse

PARAGRAPH = ("KFOR troops increased patrols near the administrative boundary line in northern Kosovo on "
             "Tuesday after reports of a roadblock, a spokesperson for the mission said, adding that the "
             "situation was calm and that talks with local representatives were continuing. ")
ARTICLE = ("<html><head><title>KFOR patrols near the boundary</title></head><body><article>"
           "<h1>KFOR patrols near the boundary</h1>" + f"<p>{PARAGRAPH}</p>" * 6 + "</article></body></html>")


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
          *, ca: bool = False, san: x509.GeneralName | None = None, days: tuple[int, int] = (-1, 30)) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer[0].subject if issuer else _name(subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        base = f"https://127.0.0.1:{self.server.server_address[1]}"
        pages = {"/feed.xml": (f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item><title>KFOR "
                               f"patrols near the boundary</title><link>{base}/news/patrols.html</link></item></channel></rss>",
                               "application/rss+xml"),
                 "/news/patrols.html": (ARTICLE, "text/html; charset=utf-8")}
        body, ctype = pages.get(self.path, ("not found", "text/plain"))
        self.send_response(200 if self.path in pages else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _https_site(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    (folder / f"{name}.pem").write_bytes(_pem(cert) + _key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / f"{name}.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tls_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("balkanwatch test CA", ca_key, None, ca=True)
    (folder / "ca.pem").write_bytes(_pem(ca))
    local = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    made = {"Good": ("127.0.0.1", (ca, ca_key), local, (-1, 30)),
            "Expired": ("127.0.0.1", (ca, ca_key), local, (-30, -1)),
            "Other host": ("example.org", (ca, ca_key), x509.DNSName("example.org"), (-1, 30)),
            "Self-signed": ("127.0.0.1", None, local, (-1, 30))}
    with ExitStack() as stack:
        feeds = {}
        for name, (subject, issuer, san, days) in made.items():
            key = ec.generate_private_key(ec.SECP256R1())
            feeds[name] = stack.enter_context(_https_site(folder, name.replace(" ", "-"), _cert(
                subject, key, issuer, san=san, days=days), key))
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
