"""Certificates for the emulator's HTTPS ports.

``make_self_signed`` makes the cluster's certificate at start-up for ``--tls``.
The key never leaves a private temporary directory (mode 0700, file 0600)
and is deleted with it; clients that want to verify get the certificate path.
``server_context`` builds an SSL context from PEM bytes (a BMC whose
certificate was replaced through its CertificateService).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class SelfSignedTls:
    """Server SSL context plus the certificate file (PEM) clients may trust."""

    context: ssl.SSLContext
    cert_path: Path
    directory: Path

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def make_certificate(common_name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 key PEM): ECDSA P-256, valid for 127.0.0.1 and localhost, 1 year."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for this certificate chain and key (ssl.SSLError if they differ).

    The ssl module loads keys only from files: they live for the call in a
    private directory and are deleted before returning.
    """
    directory = Path(tempfile.mkdtemp(prefix="fleetflash-tls-"))
    try:
        return _context_from_files(directory / "cert.pem", directory / "key.pem", cert_pem,
                                   key_pem)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _context_from_files(cert_path: Path, key_path: Path, cert_pem: bytes,
                        key_pem: bytes) -> ssl.SSLContext:
    """Write the chain and (privately) the key to these paths; a TLS 1.2+ server context."""
    cert_path.write_bytes(cert_pem)
    _write_private(key_path, key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_self_signed(common_name: str = "fleetflash-emulator") -> SelfSignedTls:
    """A fresh certificate (see make_certificate), its server context and its PEM file."""
    cert_pem, key_pem = make_certificate(common_name)
    directory = Path(tempfile.mkdtemp(prefix="fleetflash-tls-"))
    cert_path = directory / "emulator-cert.pem"
    context = _context_from_files(cert_path, directory / "emulator-key.pem", cert_pem, key_pem)
    return SelfSignedTls(context, cert_path, directory)
