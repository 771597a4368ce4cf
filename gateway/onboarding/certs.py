"""A self-signed TLS certificate for a new gateway (listener, media server, API).

Operators with their own PKI pass theirs to `gateway init`; this one exists so
that the first start is encrypted, and its SHA-256 is printed so that clients
can pin it until a real certificate replaces it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 825  # the longest lifetime common TLS clients accept for a server certificate


def write_self_signed(certfile: Path, keyfile: Path, host_names: list[str]) -> str:
    """Write a P-256 key (mode 0600) and a self-signed certificate for `host_names`
    (DNS names or IP addresses); returns the certificate's SHA-256 fingerprint (hex)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in host_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(key_pem)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.fingerprint(hashes.SHA256()).hex()


def fingerprint_of(certfile: Path) -> str:
    """SHA-256 fingerprint (hex) of the first certificate in PEM file `certfile`.
    Raises OSError or ValueError."""
    cert = x509.load_pem_x509_certificate(certfile.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()
