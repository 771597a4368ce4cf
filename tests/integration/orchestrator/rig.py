"""A whole rollout rig for the orchestrator tests: emulator, publisher, gateway config.

`write_gateway_config` writes a real gateway TOML ([[sources]], [media],
[orchestrator], [[clusters]], [[bmcs]]) for the emulated BMCs; the same file
drives an in-process gateway (build_gateway) or `fleetflash gateway serve`.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from emulator.quirks import parse_quirks
from gateway.config import GatewayConfig, hash_password, load_config
from gateway.intake.service import IntakeService
from gateway.store import GatewayStore, ImageState
from gateway.store.campaign_records import CampaignRecord, RunRecord
from gateway.store.campaigns import CampaignStore
from lab.lab_invariants import peak_busy_per_group, repeated_flashes
from tests.conftest import TestKeys
from tests.support.gateway_process import GatewayProcess
from tests.support.gateway_toml import bmc_toml, source_toml, table
from tests.support.ports import restartable_port
from tests.support.waiting import wait_until

SOURCE_USER = "acme-publisher"
SOURCE_HASH = hash_password("not used by these tests", iterations=1000)
TEST_MODEL = "FF-TEST"
OTHER_MODEL = "FF-OTHER"
TARGET_VERSIONS = {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"}
FAST_ORCHESTRATOR = {
    "tick_s": 0.1, "lease_s": 3, "workers": 8, "poll_max_s": 0.2, "good_answers": 2,
    "probe_interval_s": 0.1, "expected_node_s": 60, "health_interval_s": 3600,
    "retry_base_s": 0.2, "retry_max_s": 1, "retry_attempts": 4, "cd_settle_s": 3,
    "activation_settle_s": 5,
}
# Steps in which a gateway holds a node's lease and acts on its BMC.
IN_FLIGHT = {"precheck", "deliver", "monitor", "wait_back", "verify", "postcheck", "eject"}
FAST_TIMEOUTS = {"precheck": 30, "deliver": 30, "monitor": 30, "wait_back": 30, "verify": 6,
                 "postcheck": 30, "eject": 30}


def even_odd_group(node: str) -> str:
    """The group of an emulated node "...-N": "even" or "odd" by N."""
    return "even" if int(node.rsplit("-", 1)[1]) % 2 == 0 else "odd"


def free_port() -> int:
    """A loopback port for a server started later (lab/ports.py: below the ephemeral
    range, and never one this process picked recently)."""
    return restartable_port()


def write_gateway_config(
    directory: Path, *, publisher_prefix: str, trusted_key: Path,
    bmcs: Iterable[Mapping[str, str]], group_of: Callable[[str], str],
    groups: Mapping[str, int], cluster: Mapping[str, Any] | None = None,
    orchestrator: Mapping[str, Any] | None = None,
    timeouts: Mapping[str, float] | None = None,
    database_url: str | None = None, name: str = "gw-orch",
    qos_classes: Iterable[Mapping[str, Any]] = (),
    qos_of: Callable[[str], str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write DIR/gateway.toml for one cluster "lab" whose groups allow `groups[name]`
    unavailable nodes; `bmcs` are emulator inventory entries (id, url, username, password).
    `database_url`: the store (default: SQLite in the state directory). `qos_classes`:
    [[qos_classes]] tables (a "windows" list of window tables), `qos_of`: each BMC's.
    `source`: further keys of the publisher's [[sources]] table."""
    # The gateway may be killed and started again on these ports (GatewayProcess).
    media_port = restartable_port()
    cluster_table = {"name": "lab", "failure_budget": 0, "autonomy": "auto_approve",
                     "delivery": ["msc"], **(cluster or {})}
    text = table("gateway", name=name, state_dir=directory / "state",
                 **({"database_url": database_url} if database_url else {}))
    text += table("listener", http=f"127.0.0.1:{restartable_port()}")
    text += table("cache", max_size="1GiB")
    text += source_toml("acme", SOURCE_USER, SOURCE_HASH, [publisher_prefix], [trusted_key],
                        **(source or {}))
    text += table("media", http=f"127.0.0.1:{media_port}",
                  base_url=f"http://127.0.0.1:{media_port}")
    text += table("orchestrator", **{**FAST_ORCHESTRATOR, **(orchestrator or {})})
    text += table("orchestrator.timeouts", **{**FAST_TIMEOUTS, **(timeouts or {})})
    for qos in qos_classes:
        text += table("[qos_classes]", **{k: v for k, v in qos.items() if k != "windows"})
        for window in qos.get("windows", ()):
            text += table("[qos_classes.windows]", **window)
    text += table("[clusters]", **cluster_table)
    for group, allowance in groups.items():
        text += table("[clusters.groups]", name=group, max_unavailable=allowance)
    for bmc in bmcs:
        # Short request timeout: a request the emulator never answers (seen rarely under
        # load) costs one retry, not half a minute.
        text += bmc_toml(bmc["id"], "lab", group_of(bmc["id"]), bmc["url"],
                         username=bmc["username"], password=bmc["password"], timeout_s=5,
                         **({"qos": qos_of(bmc["id"])} if qos_of else {}))
    path = directory / "gateway.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


# The crash-safety test still imports the old name; the one implementation is wait_until.
wait_for = wait_until


def fleet_configs(tmp_path: Path, database_url: str, count: int,
                  **kwargs: Any) -> list[Path]:
    """`count` gateway configs gw-0, gw-1, ... on one database, each in its own folder
    (its own state and image cache, as on separate hosts); `kwargs` as for
    write_gateway_config."""
    paths = []
    for index in range(count):
        directory = tmp_path / f"gw{index}"
        directory.mkdir()
        paths.append(write_gateway_config(directory, database_url=database_url,
                                          name=f"gw-{index}", **kwargs))
    return paths


@contextmanager
def serving(paths: Sequence[Path], database_url: str,
            ) -> Iterator[tuple[list[GatewayProcess], GatewayStore, CampaignStore]]:
    """`fleetflash gateway serve` for each config of `paths` (logging next to it), each
    started once the one before is running, and the store they share; on exit every
    gateway is stopped, then the store closed."""
    gateways = [GatewayProcess(path, path.parent) for path in paths]
    images: GatewayStore | None = None
    try:
        for gateway in gateways:
            gateway.start()
        images = GatewayStore.open(database_url)
        yield gateways, images, CampaignStore(images.engine)
    finally:
        for gateway in gateways:
            gateway.stop()
        if images is not None:
            images.close()


# -- audit log analysis ------------------------------------------------------------------

def flash_counts(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """(bmc, component) -> number of flash_start events."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for record in records:
        if record["event"] == "flash_start":
            counts[(record["bmc"], record["component"])] += 1
    return dict(counts)


def max_down_per_group(records: Iterable[Mapping[str, Any]],
                       group_of: Callable[[str], str]) -> dict[str, int]:
    """Per group, the most BMCs whose update spans overlapped at one instant
    (the lab's invariant checker, fed this rig's group function)."""
    records = list(records)
    return peak_busy_per_group(records, {str(r["bmc"]): group_of(str(r["bmc"])) for r in records})


# -- a rollout driven by `gateway serve` processes (tests/support/gateway_process.py) ------

def power_on(emulated: EmulatedCluster) -> None:
    """Emulated hosts start powered off; a managed server in production runs."""
    off = [bmc for bmc in emulated.bmcs if bmc.power_state() != "On"]
    seen = {bmc.id: len(bmc.audit.records(bmc.id, "power")) for bmc in off}
    for bmc in emulated.bmcs:
        bmc.reset_host("On")
    wait_until(lambda: all(b.power_state() == "On" for b in emulated.bmcs), 30)
    # The host reads On a moment before its BMC writes the power record: wait for the
    # record too, so a test's audit window opened now never starts with a setup record.
    wait_until(lambda: all(len(b.audit.records(b.id, "power")) > seen[b.id] for b in off), 30)


@contextmanager
def emulated_rollout(test_keys: TestKeys, bundle: Path, nodes: int, *, flash_seconds: float,
                     reset_seconds: float, quirks: Sequence[str] = (),
                     ) -> Iterator[tuple[EmulatedCluster, BundleServer, int]]:
    """`nodes` powered-on emulated BMCs trusting the test key (with these vendor
    `quirks`), `bundle` published, and where the rollout's part of the audit log starts."""
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL, quirks=parse_quirks(quirks))] * nodes,
                         trusted_keys=[test_keys.public], flash_seconds=flash_seconds,
                         reset_seconds=reset_seconds, bmc_restart_seconds=0.3) as emulated, \
            BundleServer([bundle]) as publisher:
        power_on(emulated)
        yield emulated, publisher, len(emulated.audit.records())


def raise_alert_and_wait_for_campaign(config: GatewayConfig, images: GatewayStore,
                                      campaigns: CampaignStore, publisher: BundleServer,
                                      bundle: Path, sha: str) -> str:
    """Announce the published bundle as the source would; the id of the campaign the
    gateways start once they have verified it."""
    outcome = IntakeService(config, images).raise_alert(
        source="acme", image_uri=publisher.url_for(bundle), image_sha256=sha,
        bundle_id="test-bundle", release="test")
    assert not outcome.refused, outcome.reason
    assert wait_for(lambda: images.get_image(sha).state is ImageState.VERIFIED, 60)
    assert wait_for(lambda: bool(campaigns.list_campaigns()), 60)
    return campaigns.list_campaigns()[0].id


def named_bundle(bundle_factory: Callable[..., Path], name: str) -> tuple[Path, str]:
    """The small test bundle under ``name``, and its SHA-256."""
    bundle = bundle_factory(name=name)
    return bundle, hashlib.sha256(bundle.read_bytes()).hexdigest()


@contextmanager
def one_gateway_campaign(config_path: Path, publisher: BundleServer, bundle: Path, sha: str
                         ) -> Iterator[tuple[GatewayProcess, CampaignStore, str]]:
    """One `fleetflash gateway serve` on ``config_path``, the store, and the id of the
    campaign it started for the announced bundle."""
    config = load_config(config_path)
    with serving([config_path], config.database_url) as ([gateway], images, campaigns):
        yield gateway, campaigns, raise_alert_and_wait_for_campaign(
            config, images, campaigns, publisher, bundle, sha)


def wait_until_finished(campaigns: CampaignStore, campaign_id: str,
                        timeout_s: float) -> tuple[CampaignRecord, list[RunRecord]]:
    """The campaign and its runs once it has stopped (completed, failed or paused)."""
    assert wait_for(lambda: campaigns.get_campaign(campaign_id).state
                    in ("completed", "failed", "paused_budget"), timeout_s)
    return campaigns.get_campaign(campaign_id), campaigns.runs(campaign_id)


def assert_rollout_invariants(emulated: EmulatedCluster, audit_from: int,
                              group_of: Callable[[str], str], allowance: Mapping[str, int],
                              message: object = "", *, each_flashed_once: bool = True) -> None:
    """What the lab checks on the audit log after a rollout: no component flashed twice,
    every component written exactly once (unless told otherwise), no group over its
    allowance, and every BMC on the target versions with no media or boot override left."""
    audit = emulated.audit.records()[audit_from:]
    doubles = repeated_flashes(audit)
    assert not doubles, (message, doubles)
    if each_flashed_once:
        written = Counter((r["bmc"], r["component"]) for r in audit
                          if r["event"] == "flash_end")
        assert set(written.values()) == {1}, message
        assert len(written) == len(emulated.bmcs) * len(TARGET_VERSIONS), message
    peaks = max_down_per_group(audit, group_of)
    assert all(peaks[g] <= allowance[g] for g in peaks), (message, peaks)
    for bmc in emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS, (message, bmc.id)
        assert not bmc.media.inserted, (message, bmc.id)
        assert bmc.boot.enabled == "Disabled", (message, bmc.id)
