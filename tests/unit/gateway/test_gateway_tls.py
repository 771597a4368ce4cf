"""The servers' one TLS policy, and the errors the API and media servers make of it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from gateway.api.server import ApiServerError, tls_context
from gateway.media import make_tls_context
from gateway.media.errors import MediaError
from gateway.tls import server_tls_context
from tests.support.tls import write_self_signed


def test_context_loads_the_pair_and_refuses_old_tls(tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path, "server")
    context = server_tls_context(cert, key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_missing_or_mismatched_file_is_an_error_naming_the_certificate(
        tmp_path: Path) -> None:
    cert, _ = write_self_signed(tmp_path, "server")
    _, other_key = write_self_signed(tmp_path, "other")
    with pytest.raises(ApiServerError, match="cannot load API certificate .*server.crt"):
        tls_context(cert, tmp_path / "absent.key")
    with pytest.raises(MediaError, match="cannot load media TLS certificate .*server.crt"):
        make_tls_context(cert, other_key)
