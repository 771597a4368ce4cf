"""Finding Redfish services: a probe of `/redfish/v1/` on addresses the operator
names, and an SSDP M-SEARCH (DSP0266 "Service discovery").

Probing is bounded: only the given addresses (a CIDR larger than `max_addresses`
is refused), a fixed number of workers and a rate limit on new connections.
Nothing found is registered here: the result is a report and, on request, an
import CSV (gateway/onboarding/importers.py) the operator reviews and imports, so
a pinned certificate (trust on first use) is confirmed by a person.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from gateway.onboarding.errors import OnboardingError

SERVICE_TYPE = "urn:dmtf-org:service:redfish-rest:1"
SSDP_GROUP = ("239.255.255.250", 1900)
REDFISH, NOT_REDFISH, TIMEOUT, UNREACHABLE = "redfish", "not-redfish", "timeout", "unreachable"
MAX_SSDP_ANSWERS = 4096


@dataclass(frozen=True)
class Found:
    """One probed address. Only `status == "redfish"` entries are ever proposed."""

    url: str
    status: str
    detail: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    uuid: str = ""
    fingerprint: str = ""
    cluster: str = ""
    group: str = ""


class RateLimiter:
    """At most `per_second` starts per second, across threads."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)


def probe_urls(targets: Sequence[str], ports: Sequence[int], scheme: str,
               max_addresses: int) -> list[str]:
    """Service URLs for addresses and CIDRs `targets` on each of `ports`. Raises
    OnboardingError for a bad target or more than `max_addresses` addresses."""
    if scheme not in ("http", "https"):
        raise OnboardingError("--scheme must be http or https")
    addresses: list[str] = []
    for target in targets:
        try:
            network = ipaddress.ip_network(target, strict=False)
        except ValueError as exc:
            raise OnboardingError(f"{target!r} is not an address or CIDR: {exc}") from exc
        count = network.num_addresses
        if len(addresses) + count > max_addresses:
            raise OnboardingError(f"{target} holds {count} addresses; at most {max_addresses} "
                                  "are probed in one run (raise --max-addresses)")
        hosts = [network.network_address] if count == 1 else list(network.hosts())
        addresses += [f"[{h}]" if h.version == 6 else str(h) for h in hosts]
    return [f"{scheme}://{a}:{p}" if p else f"{scheme}://{a}" for a in addresses for p in ports]


def probe(urls: Iterable[str], *, credentials: tuple[str, str] | None = None,
          timeout: float = 5.0, rate_per_s: float = 20.0, workers: int = 8,
          pin: bool = False) -> list[Found]:
    """Ask each URL's /redfish/v1/ (and, with credentials, its first System and
    Manager) for what it is. Never raises for an answer; results in `urls` order."""
    limiter = RateLimiter(rate_per_s)

    def one(url: str) -> Found:
        limiter.wait()
        return _probe_one(url, credentials, timeout, pin)

    # Discovery reads unverified certificates on purpose; urllib3's warning about it
    # would repeat once per address.
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return list(pool.map(one, list(urls)))


def _probe_one(url: str, credentials: tuple[str, str] | None, timeout: float,
               pin: bool) -> Found:
    session = requests.Session()
    session.trust_env = False
    try:
        root = session.get(url + "/redfish/v1/", timeout=timeout, verify=False,
                           allow_redirects=False)
        body = root.json() if root.headers.get("Content-Type", "").startswith(
            "application/json") else None
        if root.status_code != 200 or not isinstance(body, dict) or \
                "RedfishVersion" not in body:
            return Found(url, NOT_REDFISH, f"/redfish/v1/ answered {root.status_code} "
                         "without a Redfish service root")
        found = Found(url, REDFISH, f"Redfish {body.get('RedfishVersion')}",
                      vendor=_text(body.get("Vendor")), model=_text(body.get("Product")),
                      uuid=_text(body.get("UUID")))
        if credentials is not None:
            found = _identity(session, url, body, credentials, timeout, found)
        if pin and url.startswith("https://"):
            found = replace(found, fingerprint=certificate_sha256(url, timeout))
        return found
    except requests.exceptions.Timeout:
        return Found(url, TIMEOUT, f"no answer within {timeout:g} s")
    except (requests.exceptions.RequestException, OSError) as exc:
        return Found(url, UNREACHABLE, str(exc)[:160])
    except ValueError:
        return Found(url, NOT_REDFISH, "answer is not JSON")
    finally:
        session.close()


def _identity(session: requests.Session, url: str, root: Mapping[str, Any],
              credentials: tuple[str, str], timeout: float, found: Found) -> Found:
    """Manufacturer, model and serial of the first System, firmware of the first Manager."""
    def first(collection: str) -> dict[str, Any]:
        try:
            return member_of(collection)
        except (requests.exceptions.RequestException, ValueError, AttributeError, KeyError,
                TypeError, IndexError):
            return {}  # refused, or not shaped like Redfish: the identity stays unknown

    def member_of(collection: str) -> dict[str, Any]:
        link = root.get(collection, {})
        if not isinstance(link, dict) or "@odata.id" not in link:
            return {}
        listing = session.get(url + link["@odata.id"], auth=credentials, timeout=timeout,
                              verify=False).json()
        members = listing.get("Members") or []
        if not members or "@odata.id" not in members[0]:
            return {}
        member = session.get(url + members[0]["@odata.id"], auth=credentials,
                             timeout=timeout, verify=False).json()
        return member if isinstance(member, dict) else {}

    system, manager = first("Systems"), first("Managers")
    if not system and not manager:
        return replace(found, detail=found.detail + "; credentials refused or no Systems")
    return replace(found, vendor=_text(system.get("Manufacturer")) or found.vendor,
                   model=_text(system.get("Model")) or found.model,
                   serial=_text(system.get("SerialNumber")),
                   firmware=_text(manager.get("FirmwareVersion")))


def certificate_sha256(url: str, timeout: float) -> str:
    """SHA-256 (hex) of the certificate the HTTPS service at `url` presents, read
    without verifying it: this is trust on first use, confirmed by the operator."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    return hashlib.sha256(der or b"").hexdigest()


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int | float) else ""


# -- SSDP ------------------------------------------------------------------------------------

def ssdp_search(*, target: tuple[str, int] = SSDP_GROUP, wait_s: float = 3.0,
                mx: int = 2) -> list[str]:
    """Service root URLs (AL headers) of every answer to one M-SEARCH for Redfish,
    sent to `target` (the SSDP multicast group, or one host's port), collected for
    `wait_s` seconds. Answers that are not SSDP or not Redfish are skipped."""
    message = "\r\n".join([
        "M-SEARCH * HTTP/1.1", f"HOST: {target[0]}:{target[1]}", 'MAN: "ssdp:discover"',
        f"MX: {mx}", f"ST: {SERVICE_TYPE}", "", ""]).encode("ascii")
    roots: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        sock.sendto(message, target)
        deadline = time.monotonic() + wait_s
        while len(roots) < MAX_SSDP_ANSWERS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                data, _sender = sock.recvfrom(4096)
            except TimeoutError:
                break
            root = _ssdp_location(data)
            if root and root not in roots:
                roots.append(root)
    return roots


def _ssdp_location(data: bytes) -> str | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1.1 200"):
        return None
    headers = {k.strip().upper(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if ":" in line)}
    if not headers.get("ST", "").startswith(SERVICE_TYPE):
        return None
    location = headers.get("AL") or headers.get("LOCATION") or ""
    match = re.match(r"^(https?://[^/\s]+)(/redfish/v1/?)?$", location)
    return match.group(1) if match else None


# -- proposals -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """`field` (vendor, model, serial, url, uuid) matching `pattern` proposes `cluster`
    and `group`; "{1}" in them is the pattern's first group."""

    field: str
    pattern: re.Pattern[str]
    cluster: str
    group: str


def parse_rules(data: Mapping[str, Any], where: str) -> list[Rule]:
    """Rules from a TOML document's [[rules]]; OnboardingError naming the bad one."""
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise OnboardingError(f"{where}: rules must be an array of tables ([[rules]])")
    rules = []
    for index, raw in enumerate(raw_rules):
        label = f"{where}: rules[{index}]"
        if not isinstance(raw, dict) or set(raw) - {"field", "match", "cluster", "group"}:
            raise OnboardingError(f"{label}: keys are field, match, cluster, group")
        field = raw.get("field", "serial")
        if field not in ("vendor", "model", "serial", "url", "uuid"):
            raise OnboardingError(f"{label}: field must be vendor, model, serial, url or uuid")
        try:
            pattern = re.compile(str(raw.get("match", "")))
        except re.error as exc:
            raise OnboardingError(f"{label}: match is not a regular expression: {exc}") from exc
        rules.append(Rule(field, pattern, str(raw.get("cluster", "")),
                          str(raw.get("group", ""))))
    return rules


def propose(found: Found, rules: Sequence[Rule]) -> Found:
    """`found` with the cluster and group of the first rule that matches it."""
    for rule in rules:
        match = rule.pattern.search(getattr(found, rule.field))
        if match:
            groups = [match.group(0), *match.groups()]

            def fill(text: str, groups: list[str] = groups) -> str:
                return re.sub(r"\{(\d)\}", lambda m: groups[int(m.group(1))]
                              if int(m.group(1)) < len(groups) else "", text)

            return replace(found, cluster=fill(rule.cluster), group=fill(rule.group))
    return found
