"""Certificates made for the tests (cryptography comes with Prefect) and loopback sites that serve HTTPS."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.devserver import LoopbackServer

LOCALHOST = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
Issuer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None = None, *, ca: bool = False,
                san: x509.GeneralName | None = LOCALHOST, days: tuple[int, int] = (-1, 30)) -> x509.Certificate:
    """A certificate for `key`, valid from days[0] to days[1] from now, signed by `issuer` (None: by `key`
    itself, a self-signed one), for the name `san` (None: no subject alternative name)."""
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer[0].subject if issuer else _name(subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def serve_https(srv: LoopbackServer, chain: Path) -> str:
    """Make a started loopback server answer in TLS with the certificate and key in `chain` (PEM); its base
    URL, https://."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(chain)
    srv.httpd.socket = tls.wrap_socket(srv.httpd.socket, server_side=True)
    return srv.base.replace("http://", "https://")
