"""The HTTPS certificate of one BMC: what its port serves, CSRs, replacement.

Every BMC of a ``--tls`` cluster starts with the cluster's certificate.
GenerateCSR makes a new key pair kept on the BMC; ReplaceCertificate takes a
PEM certificate for that key (or a certificate plus its own private key),
and from then on new connections to the BMC's port get it. Without TLS the
BMC still owns a certificate (made on first use), as a BMC whose HTTPS is
disabled does; nothing serves it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from emulator.errors import RedfishError
from emulator.tls import make_certificate, server_context

KEY_ALGORITHMS = ("TPM_ALG_ECDSA_P256", "TPM_ALG_RSA_2048")


@dataclass(frozen=True)
class CsrRequest:
    """The subject fields of a GenerateCSR request (CommonName is required)."""

    common_name: str
    organization: str = ""
    organizational_unit: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    alternative_names: tuple[str, ...] = ()
    key_algorithm: str = "TPM_ALG_ECDSA_P256"


class BmcCertificate:
    """Thread-safe holder of the served certificate chain (PEM) and a pending CSR key.

    apply: called with a new server context when a replacement must reach
    the port (None: the BMC does not serve HTTPS).
    """

    def __init__(self, common_name: str, served_pem: bytes | None,
                 apply: Callable[[ssl.SSLContext], None] | None) -> None:
        self._lock = threading.Lock()
        self._common_name = common_name
        self._pem = served_pem
        self._apply = apply
        self._pending_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None

    def pem(self) -> bytes:
        """The certificate chain as PEM (the leaf first)."""
        with self._lock:
            if self._pem is None:
                self._pem, _key = make_certificate(self._common_name)
            return self._pem

    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.pem())[0]

    def generate_csr(self, request: CsrRequest) -> str:
        """A PEM CSR for a new key kept until ReplaceCertificate (replacing any earlier one)."""
        if request.key_algorithm == "TPM_ALG_RSA_2048":
            key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = rsa.generate_private_key(
                public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        fields = [(NameOID.COMMON_NAME, request.common_name),
                  (NameOID.ORGANIZATION_NAME, request.organization),
                  (NameOID.ORGANIZATIONAL_UNIT_NAME, request.organizational_unit),
                  (NameOID.LOCALITY_NAME, request.city),
                  (NameOID.STATE_OR_PROVINCE_NAME, request.state),
                  (NameOID.COUNTRY_NAME, request.country)]
        try:
            name = x509.Name([x509.NameAttribute(oid, value) for oid, value in fields if value])
        except ValueError as exc:  # e.g. a Country that is not two letters
            raise RedfishError(400, "ActionParameterValueFormatError", str(exc)[:80], "Subject",
                               "CertificateService.GenerateCSR") from None
        builder = x509.CertificateSigningRequestBuilder().subject_name(name)
        if request.alternative_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in request.alternative_names]), critical=False)
        csr = builder.sign(key, hashes.SHA256())
        with self._lock:
            self._pending_key = key
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def replace(self, certificate_string: str) -> None:
        """Serve this PEM certificate (chain) from now on.

        The key is the one in the string or, without one, the key of the last
        GenerateCSR. RedfishError 400 naming CertificateString if the text is
        not a PEM certificate or no key matches; nothing changes then.
        """
        action = "CertificateService.ReplaceCertificate"
        data = certificate_string.encode()
        try:
            chain = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise RedfishError(400, "ActionParameterValueFormatError", "<certificate>",
                               "CertificateString", action) from None
        chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        with self._lock:
            key_pem = _private_key_in(data) or self._pending_key_pem()
            if key_pem is None:
                raise RedfishError(400, "ActionParameterValueError", "CertificateString", action)
            try:
                context = server_context(chain_pem, key_pem)
            except ssl.SSLError:  # the key does not belong to the certificate
                raise RedfishError(400, "ActionParameterValueError", "CertificateString",
                                   action) from None
            if self._apply is not None:
                try:
                    self._apply(context)
                except Exception:  # the server's own error type; this module knows no server
                    raise RedfishError(503, "ServiceTemporarilyUnavailable", 10,
                                       headers={"Retry-After": "10"}) from None
            self._pem = chain_pem
            self._pending_key = None

    def _pending_key_pem(self) -> bytes | None:
        if self._pending_key is None:
            return None
        return self._pending_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())


def _private_key_in(data: bytes) -> bytes | None:
    start = data.find(b"-----BEGIN")
    while start != -1:
        end_marker = data.find(b"-----END", start)
        end = data.find(b"-----", end_marker + 8) if end_marker != -1 else -1
        if end == -1:
            return None
        block = data[start:end + 5]
        if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
            return block + b"\n"
        start = data.find(b"-----BEGIN", end + 5)
    return None
