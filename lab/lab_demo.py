"""`fleetflash lab demo`: the whole autonomous update, end to end, on one machine.

1. build the sample bundle, signed with a fresh key;
2. bring the lab up (emulator, publisher, gateway) for the topology;
3. the publisher announces the bundle with a CIM alert;
4. the gateway verifies it, inventories the BMCs, plans, runs the canaries
   and rolls out (over virtual media in demo.yaml) on its own;
5. live progress from the API while it runs;
6. the final compliance table, then the invariants from the emulator's audit
   log (lab.lab_invariants) and that every campaign completed;
7. tear down (files stay in the work directory).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from emulator.audit import read_audit_log
from gateway.api.client import ApiClient, ApiClientError
from lab import lab_slurm_demo
from lab.lab_invariants import Check, check_rollout
from lab.lab_progress import Snapshot, fetch, milestones, progress_table
from lab.lab_publisher import build_sample_bundle, publish
from lab.lab_state import LabError, LabState
from lab.runner import UpOptions, default_workdir, lab_down, lab_keys, lab_up
from lab.topology import FaultKind, Topology, load_topology

# Faults after which an update cannot succeed (while they stay: no `count`).
FAILING_FAULTS = frozenset({FaultKind.DOWNLOAD_FAILS, FaultKind.IMAGE_CORRUPT,
                            FaultKind.FLASH_FAILS, FaultKind.VERSION_UNCHANGED})
POLL_S = 0.5


@dataclass(frozen=True)
class DemoResult:
    """What the demo found: every check, and how long the whole run took (seconds)."""

    checks: list[Check]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def expected_failures(topology: Topology) -> set[str]:
    """Nodes whose injected faults make every update attempt fail."""
    return {fault.node for fault in topology.faults
            if fault.kind in FAILING_FAULTS and fault.count is None and fault.component is None}


def watch_rollout(state: LabState, topology: Topology, console: Console,
                  timeout_s: float) -> Snapshot:
    """Show live progress until every cluster's campaign has settled; LabError on timeout."""
    client = ApiClient(state.api_url, state.api_token, timeout=10)
    started = time.monotonic()
    previous = Snapshot()
    with Live(progress_table(previous, 0), console=console, refresh_per_second=4) as live:
        while True:
            elapsed = time.monotonic() - started
            try:
                snapshot = fetch(client, state.api_token)
            except ApiClientError as exc:
                raise LabError(f"lost the gateway's API: {exc}") from exc
            for line in milestones(previous, snapshot):
                live.console.print(f"[dim]{elapsed:6.1f} s[/]  {line}")
            live.update(progress_table(snapshot, elapsed))
            previous = snapshot
            if len(snapshot.campaigns) >= len(topology.clusters) and all(
                    snapshot.settled(campaign) for campaign in snapshot.campaigns):
                return snapshot
            if elapsed > timeout_s:
                raise LabError(f"the rollout did not settle within {timeout_s:.0f} s "
                               f"(see {state.get('logs')})")
            time.sleep(POLL_S)


def compliance_table(state: LabState) -> Table:
    """Every node against the newest verified image: status, model and versions now."""
    client = ApiClient(state.api_url, state.api_token, timeout=10)
    nodes = {node["id"]: node for node in client.get_all("/api/nodes")}
    table = Table(title="Compliance with the newest verified image", title_justify="left")
    for column in ("node", "cluster", "model", "status", "BMC", "BIOS", "NIC", "step"):
        table.add_column(column)
    styles = {"compliant": "green", "outdated": "red", "not_applicable": "dim"}
    for row in client.get_all("/api/reports/compliance"):
        node = nodes.get(row["node_id"], {})
        versions = node.get("versions") or {}
        status = row["status"]
        table.add_row(row["node_id"], row["cluster"], row["model"] or "?",
                      f"[{styles.get(status, 'yellow')}]{status}[/]",
                      *(versions.get(component, "-") for component in ("BMC", "BIOS", "NIC")),
                      node.get("step") or "-")
    return table


def evaluate(state: LabState, topology: Topology, snapshot: Snapshot) -> list[Check]:
    """The audit-log invariants, the expected outcomes and every campaign's end state."""
    final_steps: dict[str, str] = {}
    for campaign_id in snapshot.campaigns:
        final_steps.update(snapshot.steps(campaign_id))
    groups = {group.name: group for cluster in topology.clusters for group in cluster.groups}
    checks = check_rollout(
        list(read_audit_log(state.audit_log)), node_of_bmc=state.node_of_bmc,
        group_of_node={node.name: node.group for node in topology.nodes},
        allowance={name: group.allowance for name, group in groups.items()},
        final_steps=final_steps, expected_quarantined=expected_failures(topology))
    states = {campaign_id: campaign["state"]
              for campaign_id, campaign in sorted(snapshot.campaigns.items())}
    checks += lab_slurm_demo.slurm_checks(state, read_audit_log(state.audit_log))
    checks.append(Check("every campaign completed",
                        all(value == "completed" for value in states.values()),
                        ", ".join(f"{key} {value}" for key, value in states.items())))
    return checks


def checks_table(checks: list[Check]) -> Table:
    table = Table(title="Invariants (from the emulator's audit log)", title_justify="left")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(check.name, "[green]PASS[/]" if check.ok else "[red]FAIL[/]",
                      check.detail)
    return table


def run_demo(topology_path: Path, *, state_file: Path, workdir: Path | None,
             console: Console, timeout_s: float = 170.0, keep_running: bool = False,
             libvirt_uri: str = "test:///default") -> DemoResult:
    """Run the demo on `topology_path`; LabError if a part cannot start or the rollout does
    not settle within `timeout_s` seconds. The lab is torn down unless `keep_running`."""
    started = time.monotonic()
    topology = load_topology(topology_path)
    workdir = (workdir or default_workdir(topology)).resolve()
    console.rule(f"fleetflash demo: {topology.name} ({len(topology.nodes)} nodes, "
                 f"{len(topology.clusters)} clusters, {len(topology.models)} models)")
    private_key, public_key = lab_keys(workdir)
    bundle = workdir / "bundles" / "quarterly-2026q4.iso"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    manifest = build_sample_bundle(private_key, bundle)
    console.print(f"1. built {manifest.bundle_id} {manifest.release}: "
                  f"{len(manifest.packages)} packages, signed with a fresh key")
    state = lab_up(UpOptions(topology_path, state_file, workdir, libvirt_uri),
                   keys=(private_key, public_key))
    console.print(f"2. lab up: {len(topology.nodes)} emulated BMCs, publisher, gateway "
                  f"(dashboard {state.api_url}, work dir {workdir})")
    try:
        if lab_slurm_demo.rigs(state):
            jobs = lab_slurm_demo.submit_workload(state)
            console.print(f"2b. Slurm: {len(jobs)} sleep jobs submitted, one per node")
        announced = publish(state, bundle)
        console.print(f"3. publisher sent the CIM alert for {announced.image_uri}")
        console.print("4. the gateway takes it from here: verify, inventory, plan, canaries, "
                      "roll out")
        console.print("5. live progress (from the gateway's API):")
        snapshot = watch_rollout(state, topology, console, timeout_s)
        console.print()
        console.print("6. final state")
        console.print(compliance_table(state))
        checks = evaluate(state, topology, snapshot)
        console.print(checks_table(checks))
    finally:
        if not keep_running:
            lab_down(state)
            console.print(f"7. lab torn down; logs and audit log kept in {workdir}")
    return DemoResult(checks, time.monotonic() - started)
