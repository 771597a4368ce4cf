"""Cluster configuration: how many BMCs, which models, timings, keys, ports.

The model catalogue gives each known model a plausible starting firmware set
(component -> version). The three sample models match the sample bundle
(firmware_payloads/samples/quarterly-2026q4.yaml) and start at versions the
bundle can upgrade; any other model name starts with BMC/BIOS/NIC 1.0.0.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emulator.errors import ConfigError
from emulator.faults import Fault
from emulator.personalities import quirks_with
from emulator.personalities import starting_firmware as family_firmware
from emulator.quirks import Quirks

DEFAULT_MODELS: tuple[str, ...] = ("FF-1U-R450", "FF-2U-R750", "FF-4U-X900")

MODEL_FIRMWARE: dict[str, dict[str, str]] = {
    "FF-1U-R450": {"BMC": "2.8.0", "BIOS": "1.16.0", "NIC": "22.21.0"},
    "FF-2U-R750": {"BMC": "2.8.0", "BIOS": "2.4.0", "NIC": "22.21.0"},
    "FF-4U-X900": {"BMC": "3.1.0", "BIOS": "4.0.2", "NIC": "28.35.1000"},
}
GENERIC_FIRMWARE: dict[str, str] = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
MANUFACTURER = "Fleetflash Emulated Systems"
DEFAULT_USERNAME = "admin"
MAX_NODES = 5000


def starting_firmware(model: str) -> dict[str, str]:
    """Default component versions for a model (a copy the caller may change)."""
    return dict(MODEL_FIRMWARE.get(model, GENERIC_FIRMWARE))


@dataclass
class NodeSpec:
    """One BMC's identity. Fields left None get defaults from the cluster.

    model: the system's Model (what bundle manifests call a model).
    firmware: component -> starting version; components not listed use the
      model's defaults. Ignored when the host backend already stores versions.
    password: None = a random one per BMC (printed only in the inventory).
    """

    model: str | None = None
    firmware: Mapping[str, str] | None = None
    username: str = DEFAULT_USERNAME
    password: str | None = None
    serial: str | None = None
    faults: Sequence[Fault] = ()
    # Vendor behaviours this BMC shows (emulator/quirks.py); none = the DMTF way.
    quirks: Quirks = field(default_factory=Quirks)
    # A vendor family (emulator/personalities.py): identity plus its quirks; None = dmtf.
    personality: str | None = None


@dataclass
class ClusterConfig:
    """Everything EmulatedCluster needs. Times are seconds; sizes bytes.

    nodes: a count, or one NodeSpec per BMC.
    base_port: BMC i listens on base_port + i; 0 or None picks free ports.
    models: assigned round-robin to nodes whose NodeSpec has no model.
    trusted_keys: Ed25519 public keys (objects, PEM bytes or file paths)
      that may sign bundles. No key means every bundle is refused.
    """

    nodes: int | Sequence[NodeSpec] = 1
    base_port: int | None = 0
    models: Sequence[str] = DEFAULT_MODELS
    trusted_keys: Sequence[Ed25519PublicKey | bytes | str | Path] = ()
    flash_seconds: float = 2.0
    reset_seconds: float = 1.0
    bmc_restart_seconds: float = 3.0
    # After an update task that restarts the BMC: the longest the BMC keeps
    # serving (it restarts 1 s after a client read the finished task, if sooner).
    bmc_restart_delay_seconds: float = 3.0
    # OpenBMC keeps sessions across its own restart; most BMCs log everybody out.
    sessions_survive_restart: bool = False
    # SessionService.SessionTimeout at start (idle seconds); clients may PATCH it (30..86400).
    session_timeout_seconds: float = 1800.0
    tls: bool = False
    libvirt_uri: str = "test:///default"
    audit_log: str | Path | None = None
    max_image_bytes: int = 256 << 20
    # How BMCs check https image URLs: True (system CAs), a CA bundle path, or False.
    image_tls_verify: bool | str = True
    admin_port: int | None = 0
    admin_token: str | None = None
    host_prefix: str | None = None
    # Keep libvirt domains (and their firmware metadata) after stop();
    # None = keep them unless the backend is the embedded test driver.
    keep_hosts: bool | None = None
    event_retry_attempts: int = 3
    event_retry_interval_s: float = 1.0
    # Few workers: handlers are short and GIL-bound, and fewer threads contending
    # for the GIL gave the best tail latency in bench/emulator_scale.py.
    worker_threads: int = 4
    extra: dict[str, Any] = field(default_factory=dict)

    def node_specs(self) -> list[NodeSpec]:
        """The nodes as NodeSpecs with model, firmware, password and serial filled in."""
        if isinstance(self.nodes, int):
            if not 1 <= self.nodes <= MAX_NODES:
                raise ConfigError(f"nodes must be between 1 and {MAX_NODES}, got {self.nodes}")
            specs = [NodeSpec() for _ in range(self.nodes)]
        else:
            specs = [NodeSpec(**vars(spec)) for spec in self.nodes]
            if not 1 <= len(specs) <= MAX_NODES:
                raise ConfigError(f"between 1 and {MAX_NODES} nodes are needed")
        models = [m.strip() for m in self.models if m and m.strip()]
        if not models:
            raise ConfigError("at least one model is needed")
        for index, spec in enumerate(specs):
            spec.model = spec.model or models[index % len(models)]
            spec.quirks = quirks_with(spec.personality, spec.quirks)
            firmware = (family_firmware(spec.personality, spec.model)
                        or starting_firmware(spec.model))
            firmware.update(spec.firmware or {})
            spec.firmware = firmware
            spec.password = spec.password or secrets.token_urlsafe(12)
            spec.serial = spec.serial or f"FFE{index:06d}{secrets.token_hex(2).upper()}"
        return specs

    def validate(self) -> None:
        """ConfigError naming the first invalid setting."""
        for name in ("flash_seconds", "reset_seconds", "bmc_restart_seconds",
                     "bmc_restart_delay_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if not 0 < self.session_timeout_seconds <= 86400:
            raise ConfigError("session_timeout_seconds must be in (0, 86400]")
        if self.base_port and not 1024 <= self.base_port <= 65535:
            raise ConfigError(f"base port {self.base_port} is outside 1024..65535")
        count = self.nodes if isinstance(self.nodes, int) else len(self.nodes)
        if self.base_port and self.base_port + count - 1 > 65535:
            raise ConfigError(f"{count} BMCs from port {self.base_port} run past 65535")
        if self.max_image_bytes <= 0:
            raise ConfigError("max_image_bytes must be positive")
