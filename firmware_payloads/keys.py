"""Ed25519 signing keys: generation, files, loading, fingerprints.

Private keys are PKCS#8 PEM without encryption, written with mode 0600 and
never overwritten; public keys are SubjectPublicKeyInfo PEM. Error messages
name the file, never its contents.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_payloads.errors import KeyFileError

PRIVATE_KEY_NAME = "bundle-signing.key"
PUBLIC_KEY_NAME = "bundle-signing.pub"


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a fresh (private_pem, public_pem) Ed25519 key pair."""
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, public_pem_of(private_key.public_key())


def public_pem_of(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_keypair(out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Generate a key pair into ``out_dir`` (created if missing).

    Writes ``bundle-signing.key`` (mode 0600) and ``bundle-signing.pub`` (0644)
    and returns their paths. Raises KeyFileError if either file already exists
    (an existing signing key is never overwritten) or cannot be written.
    """
    directory = Path(out_dir)
    private_path = directory / PRIVATE_KEY_NAME
    public_path = directory / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"refusing to overwrite existing key file {path}")
    private_pem, public_pem = generate_keypair()
    created: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # O_EXCL + mode at creation: never clobbers a key, never readable by others.
        files = ((private_path, private_pem, 0o600), (public_path, public_pem, 0o644))
        for path, data, mode in files:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            created.append(path)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
    except OSError as exc:
        for path in created:  # never leave half a key pair behind
            path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write key pair into {directory}: {exc.strerror}") from exc
    return private_path, public_path


def _read_key_bytes(source: str | os.PathLike[str] | bytes, what: str) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, f"{what} (in memory)"
    try:
        return Path(source).read_bytes(), f"{what} {source}"
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {source}: {exc.strerror}") from exc


def load_private_key(source: str | os.PathLike[str] | bytes) -> Ed25519PrivateKey:
    """Load a PEM Ed25519 private key from a path or PEM bytes; KeyFileError otherwise."""
    data, label = _read_key_bytes(source, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The exception text may quote parts of the file; keep it out of the message.
        raise KeyFileError(f"{label} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{label} is not an Ed25519 key")
    return key


def load_public_key(source: str | os.PathLike[str] | bytes) -> Ed25519PublicKey:
    """Load a PEM Ed25519 public key from a path or PEM bytes; KeyFileError otherwise."""
    data, label = _read_key_bytes(source, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{label} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{label} is not an Ed25519 key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short fingerprint: first 16 hex digits of sha256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
