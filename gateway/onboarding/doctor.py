"""`fleetflash doctor`: what stands between this configuration and a rollout.

Each check yields one Finding: a status (ok, warn, fail), what was checked, what
was found and, unless ok, the fix. `fail` means a rollout would not work (the
command then exits non-zero); `warn` means it would work with a risk worth
knowing. The checks only read: nothing is bound for longer than the bind test,
the database is not migrated, and BMCs are asked GETs only.
"""

from __future__ import annotations

import dataclasses
import email.utils
import errno
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from gateway.cluster_config import load_clusters
from gateway.config import ConfigError, GatewayConfig, HostPort, load_config
from gateway.domain import DeliveryMethod
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import BmcEndpoint, RedfishError
from gateway.redfish.client import BmcClient, probe_session
from gateway.store import StoreError
from gateway.store.bmc_registry import inspect_database, safe_url

OK, WARN, FAIL = "ok", "warn", "fail"
MAX_SKEW_S = 120.0  # beyond it TLS validity and maintenance windows start to drift
MIN_FREE_BYTES = 2 * 1024**3
BMC_WORKERS = 16


@dataclass(frozen=True)
class Finding:
    status: str
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper():4}  {self.check}: {self.detail}"
        return f"{text}  -> fix: {self.fix}" if self.fix else text


def run_doctor(config_path: Path, *, bmc_timeout: float = 10.0) -> Iterator[Finding]:
    """Every finding, in the order an operator fixes things."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        yield Finding(FAIL, "config", str(exc), "correct the file (docs/configuration.md)")
        return
    yield Finding(OK, "config", f"{config_path} loads")
    yield from _ports(config)
    registered, database = _database(config)
    yield from database
    yield from _keys(config)
    try:
        clusters = load_clusters(config, registered)
    except ConfigError as exc:
        yield Finding(FAIL, "clusters", str(exc), "correct [[clusters]]/[[bmcs]] or the "
                      "registry (fleetflash bmcs list)")
        clusters = ()
    yield from _cache(config)
    if not clusters:
        yield Finding(WARN, "clusters", "no [[clusters]]: the gateway receives and "
                      "verifies images but updates nothing",
                      "add [[clusters]] and BMCs (docs/configuration.md)")
        return
    yield from _bmcs(clusters, bmc_timeout)


# -- ports ----------------------------------------------------------------------------------

def _ports(config: GatewayConfig) -> Iterator[Finding]:
    file = config.file
    candidates: list[tuple[str, HostPort | None]] = [
        ("listener.http", config.listener.http), ("listener.https", config.listener.https)]
    if file.api is not None:
        candidates.append(("api.listen", file.api.listen))
    if file.media is not None:
        candidates += [("media.http", file.media.http), ("media.https", file.media.https)]
    candidates.append(("orchestrator.events_http", file.orchestrator.events_http))
    addresses = [(key, address) for key, address in candidates if address is not None]
    seen: dict[HostPort, str] = {}
    for key, address in addresses:
        if address in seen:
            yield Finding(FAIL, f"port {key}", f"{address} is also {seen[address]}",
                          "give each server its own port")
            continue
        seen[address] = key
        yield _bind(key, address)


def _bind(key: str, address: HostPort) -> Finding:
    host, port = address
    if port == 0:
        return Finding(OK, f"port {key}", f"{address}: a free port is picked at start")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Finding(FAIL, f"port {key}", f"{address} is in use",
                               "stop what holds it (is the gateway already running?) or "
                               "choose another port")
            if exc.errno == errno.EACCES:
                return Finding(FAIL, f"port {key}", f"{address}: permission denied",
                               "use a port above 1023, or grant CAP_NET_BIND_SERVICE")
            return Finding(FAIL, f"port {key}", f"{address}: {exc.strerror}",
                           "use an address of this host")
    return Finding(OK, f"port {key}", f"{address} can be bound")


# -- database, keys, cache ------------------------------------------------------------------

def _database(config: GatewayConfig) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The registry's entries and the database findings; never migrates."""
    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            parent = next((p for p in path.parents if p.exists()), Path("/"))
            if not os.access(parent, os.W_OK):
                return [], [Finding(FAIL, "database", f"{path} does not exist and {parent} "
                                    "is not writable", f"create {path.parent} for the "
                                    "gateway's user")]
            return [], [Finding(OK, "database", f"{path} will be created at first start")]
    try:
        state = inspect_database(url)
    except StoreError as exc:
        return [], [Finding(FAIL, "database", str(exc), "check gateway.database_url, "
                            "the server and the credentials")]
    where = safe_url(url)
    if state.revision == state.head:
        return state.entries, [Finding(OK, "database", f"{where} at revision {state.revision}")]
    return state.entries, [Finding(WARN, "database", f"{where} at revision {state.revision}, "
                                   f"code at {state.head}", "it migrates at the next start; "
                                   "back it up first")]


def _keys(config: GatewayConfig) -> Iterator[Finding]:
    if not config.sources:
        yield Finding(WARN, "trusted keys", "no [[sources]]: no publisher's alert will be "
                      "believed (USB keys and operators' uploads only)",
                      "add a [[sources]] entry with trusted_keys (docs/intake.md)")
    for source in config.sources:
        # load_config already refused unreadable or non-Ed25519 keys.
        yield Finding(OK, f"trusted keys {source.name}",
                      f"{len(source.trusted_keys)} Ed25519 key(s): "
                      + ", ".join(str(p) for p in source.trusted_key_paths))


def _cache(config: GatewayConfig) -> Iterator[Finding]:
    existing = next((p for p in (config.cache_dir, *config.cache_dir.parents) if p.exists()),
                    Path("/"))
    free = shutil.disk_usage(existing).free
    gib = 1024**3
    if free < MIN_FREE_BYTES:
        yield Finding(FAIL, "cache", f"{free / gib:.1f} GiB free under {existing}",
                      "free space or move cache.dir; images are several GiB")
    elif free < config.cache_max_bytes:
        yield Finding(WARN, "cache", f"{free / gib:.1f} GiB free under {existing}, "
                      f"cache.max_size is {config.cache_max_bytes / gib:.1f} GiB",
                      "lower cache.max_size or free space")
    else:
        yield Finding(OK, "cache", f"{free / gib:.1f} GiB free under {existing}")


# -- BMCs -----------------------------------------------------------------------------------

def _bmcs(clusters: tuple[ClusterSettings, ...], timeout: float) -> Iterator[Finding]:
    jobs: list[tuple[ClusterSettings, BmcEndpoint]] = [
        (settings, endpoint) for settings in clusters for endpoint in settings.endpoints.values()]
    with ThreadPoolExecutor(max_workers=BMC_WORKERS) as pool:
        results = pool.map(lambda job: _bmc(job[0], job[1], timeout), jobs)
        for findings in results:
            yield from findings


def _bmc(settings: ClusterSettings, endpoint: BmcEndpoint, timeout: float) -> list[Finding]:
    check = f"bmc {endpoint.name}"
    endpoint = _with_timeout(endpoint, timeout)
    session = probe_session(endpoint)
    try:
        root = session.get(endpoint.url + "/redfish/v1/", verify=endpoint.requests_verify(),
                           timeout=timeout)
    except requests.exceptions.SSLError as exc:
        return [Finding(FAIL, check, f"TLS to {endpoint.url} refused: {_short(exc)}",
                        "set tls = \"pin\" with the fingerprint from `fleetflash bmcs "
                        "discover --probe ADDRESS --pin`, or ca_bundle")]
    except requests.exceptions.RequestException as exc:
        return [Finding(FAIL, check, f"{endpoint.url} unreachable: {_short(exc)}",
                        "check the address, the port and the management network route")]
    finally:
        session.close()
    findings = [_skew(check, root.headers.get("Date"))]
    if root.status_code != 200:
        return [Finding(FAIL, check, f"/redfish/v1/ answered {root.status_code}",
                        "is this a Redfish service? check the URL")] + findings
    auth = requests.get(endpoint.url + "/redfish/v1/Systems", auth=(endpoint.username,
                        endpoint.password), verify=endpoint.requests_verify(), timeout=timeout)
    if auth.status_code in (401, 403):
        return [Finding(FAIL, check, f"user {endpoint.username!r} refused "
                        f"({auth.status_code})", "correct username / the password source")
                ] + findings
    try:
        with BmcClient.connect(endpoint) as client:
            inventory = client.inventory()
    except RedfishError as exc:
        return [Finding(FAIL, check, f"reachable, but reading it failed: {exc}",
                        "see docs/interop.md for this BMC's quirks")] + findings
    caps = inventory.capabilities
    offered = [m for m, yes in ((DeliveryMethod.MSC, caps.virtual_media_cd),
                                (DeliveryMethod.SIMPLE_UPDATE, caps.simple_update),
                                (DeliveryMethod.MULTIPART_PUSH, caps.multipart_push)) if yes]
    usable = [m for m in settings.delivery if m in offered]
    what = (f"{inventory.manufacturer} {inventory.model} serial {inventory.serial}, "
            f"{len(inventory.firmware)} firmware component(s) from {caps.version_source}, "
            f"delivery offered: {', '.join(offered) or 'none'}")
    if not usable:
        findings.insert(0, Finding(FAIL, check, what + f"; cluster {settings.name!r} allows "
                                   f"only {', '.join(settings.delivery)}",
                                   "allow one of the offered methods in the cluster's "
                                   "delivery list"))
    elif not caps.firmware_inventory:
        findings.insert(0, Finding(WARN, check, what, "versions come from a fallback; "
                                   "verification is weaker (docs/interop.md)"))
    else:
        findings.insert(0, Finding(OK, check, what))
    return findings


def _with_timeout(endpoint: BmcEndpoint, timeout: float) -> BmcEndpoint:
    return dataclasses.replace(endpoint, timeout=min(endpoint.timeout, timeout))


def _skew(check: str, date: str | None, now: Callable[[], float] = time.time) -> Finding:
    if not date:
        return Finding(WARN, f"{check} clock", "no Date header; skew unknown",
                       "check the BMC's NTP settings")
    try:
        their = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return Finding(WARN, f"{check} clock", f"unreadable Date header {date[:40]!r}",
                       "check the BMC's NTP settings")
    skew = their - now()
    if abs(skew) > MAX_SKEW_S:
        return Finding(WARN, f"{check} clock", f"{skew:+.0f} s from this host",
                       "point the BMC (and this host) at the same NTP server")
    return Finding(OK, f"{check} clock", f"{skew:+.0f} s from this host")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."
