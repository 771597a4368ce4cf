"""The API's side of the persistent BMC registry (gateway/onboarding/registry.py).

POST /api/bmcs takes a password; the registry stores only password files, so the
password is written to STATE_DIR/bmc-secrets/<id> (mode 0600, replaced atomically)
and the registration names that file. Refusals become API errors.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from gateway.api.errors import BadRequestError, ConflictError
from gateway.api.ports import BmcRegistration
from gateway.config import GatewayConfig
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.registry import register
from gateway.store import GatewayStore
from gateway.store.bmc_registry import BmcRegistry

SECRETS_DIR = "bmc-secrets"


class RegistryPersistence:
    """Keeps BMCs registered through the API in the store."""

    def __init__(self, config: GatewayConfig, store: GatewayStore) -> None:
        self.config = config
        self.registry = BmcRegistry(store.engine)

    def persist(self, registration: BmcRegistration) -> None:
        in_file = {bmc.name for bmc in self.config.file.bmcs}
        if registration.id in in_file:
            raise ConflictError(f"BMC {registration.id!r} is defined in the config file's "
                                "[[bmcs]]; change it there (the file is read-only to the API)")
        secret = self.config.state_dir / SECRETS_DIR / registration.id
        previous = _read(secret)
        _write_secret(secret, registration.password)
        entry: dict[str, Any] = {
            "name": registration.id, "cluster": registration.cluster,
            "group": registration.group, "qos": registration.qos, "url": registration.url,
            "username": registration.username, "password_file": str(secret),
            "tls": registration.tls}
        if registration.fingerprint:
            entry["fingerprint"] = registration.fingerprint
        if registration.system:
            entry["system"] = registration.system
        try:
            register(self.config, self.registry, entry, origin="api")
        except OnboardingError as exc:
            if previous is None:
                secret.unlink(missing_ok=True)
            else:
                _write_secret(secret, previous)
            raise BadRequestError(str(exc)) from exc


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write_secret(path: Path, password: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as sink:
        sink.write(password)
    os.replace(temporary, path)
