"""Signing key files: modes, no overwrite, clear errors that never quote key material."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from firmware_payloads import KeyFileError, key_id, load_private_key, load_public_key, write_keypair


def test_write_keypair_modes_and_matching_halves(tmp_path: Path) -> None:
    private_path, public_path = write_keypair(tmp_path / "new" / "dir")
    assert private_path.name == "bundle-signing.key"
    assert public_path.name == "bundle-signing.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private_key, public_key = load_private_key(private_path), load_public_key(public_path)
    signature = private_key.sign(b"manifest")
    public_key.verify(signature, b"manifest")  # raises if the halves do not match
    assert key_id(public_key) == key_id(private_key.public_key())
    assert len(key_id(public_key)) == 16


def test_two_keypairs_differ(tmp_path: Path) -> None:
    first = load_public_key(write_keypair(tmp_path / "a")[1])
    second = load_public_key(write_keypair(tmp_path / "b")[1])
    assert key_id(first) != key_id(second)


def test_never_overwrites(tmp_path: Path) -> None:
    write_keypair(tmp_path)
    with pytest.raises(KeyFileError, match="refusing to overwrite existing key file"):
        write_keypair(tmp_path)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"cannot read private key .*absent.key"):
        load_private_key(tmp_path / "absent.key")


def test_public_key_given_as_private_key_does_not_echo_it(tmp_path: Path) -> None:
    _, public_path = write_keypair(tmp_path)
    with pytest.raises(KeyFileError) as caught:
        load_private_key(public_path)
    assert "not an unencrypted PEM private key" in str(caught.value)
    assert "BEGIN" not in str(caught.value)


def test_private_key_given_as_public_key(tmp_path: Path) -> None:
    private_path, _ = write_keypair(tmp_path)
    private_pem = private_path.read_bytes()
    with pytest.raises(KeyFileError) as caught:
        load_public_key(private_path)
    assert "not a PEM public key" in str(caught.value)
    assert private_pem.decode() not in str(caught.value)


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(KeyFileError, match="cannot write key pair into"):
        write_keypair(blocker / "keys")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
