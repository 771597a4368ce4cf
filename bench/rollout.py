"""Rollout benchmark: the emulator and the gateway in one run, N nodes, MSC delivery.

The emulator runs as a child process (`fleetflash emulator serve`); the gateway
(intake, media server, orchestrator: the real `build_gateway` composition root)
runs in this process, so this process's peak RSS is the gateway's. A fresh
signing key and a three-package bundle are made for the run; a publisher serves
the bundle and counts the bytes the gateway fetched from it.

Printed: makespan (first node started -> last node finished), lower bound
(planned waves x the minimal per-node time the emulator is configured for:
boot to CD + one flash per package + reboot + BMC restart), their ratio,
gateway peak RSS, origin bytes, image bytes, bytes served by the media server,
and the invariants checked on the emulator's audit log. The last line is JSON.

    .venv/bin/python bench/rollout.py --nodes 200
    .venv/bin/python bench/rollout.py --nodes 1000
    .venv/bin/python bench/rollout.py --manager slurm --nodes 60

With ``--manager slurm`` a real Slurm runs one slurmd per node (bench/rollout_slurm.py),
every node runs a job when the update is announced, and the gateway drains through
Slurm: the makespan then includes waiting for jobs, and job-seconds lost (must be 0)
are reported. ``--mode reservation`` books one maintenance reservation per wave instead
of draining (the jobs then carry time limits, and one wave's slot is 60 s).

    .venv/bin/python bench/rollout.py --nodes 200 --database postgresql

    .venv/bin/python bench/rollout.py --nodes 200 --activation staged

    .venv/bin/python bench/rollout.py --topology mixed-vendors --nodes 48

``--topology NAME``: the BMCs present the personalities of a lab topology
(lab/topologies/NAME.yaml), its pattern repeated over the N nodes, in groups of the
topology's shape (bench/rollout_topology.py); printed then, per personality, its nodes,
how many are done, its span (the rollout's start -> its last node finished) over the
fleet-wide lower bound, and its median node duration.

``--activation staged``: the cluster stages (SimpleUpdate with apply time OnReset; BIOS
has no prerequisite in this bundle, so it can be staged) and does only the disruptive
part in its maintenance window (one that is always open): the BMC and NIC firmware and
the host reset. Printed then: the disruptive phase's makespan (the first node's reset
admitted -> the last node finished) over its lower bound (planned waves x the minimal
disruptive time per node: two flashes, then the BMC restart, which the host reset
overlaps; plus one flash for the other nodes' staging between the canary and the first
main wave), and the staging time apart.

``--database postgresql`` stores the gateway's state in a private PostgreSQL
server started for the run (lab/lab_postgres.py) instead of SQLite; the
server's CPU seconds are printed as ``database_cpu_s``.

``gateway_cpu_s`` is this process's CPU from building the gateway to the end (what the
bench spent before, mostly powering the emulated hosts on, is ``bench_setup_cpu_s``);
``emulator_cpu_s`` likewise counts the emulator from that moment (its start and the hosts'
power-on are ``emulator_setup_cpu_s``; before 2026-12-06's sixth session they were included).

``--count-requests``: Redfish requests per node and node step (bench/rollout_requests.py).

``db_statements`` counts every SQL statement the gateways sent during the run (each
store's statement counter, ``fleetflash_db_statements_total`` in /metrics), and
``db_statements_per_node`` divides it by the nodes of the campaign.

    .venv/bin/python bench/rollout.py --nodes 1000 --gateways 2 --database postgresql

``--gateways N`` (PostgreSQL only) adds N-1 `fleetflash gateway serve` processes on the
same database, each with its own image cache (bench/rollout_fleet.py says what is
printed per gateway: ``per_gateway``). ``origin_bytes`` must still be one image.
The timeline then also splits the parts and the steps by the gateway that drove each
node (``by_gateway``, bench/rollout_timeline.py).

``machine`` (every run, bench/rollout_machine.py): how busy the machine was, each role's
CPU (gateways, emulator, PostgreSQL) over the run, and the bursts — stretches with the
machine at least 80 % busy — with each role's CPU inside them: whether the design or
the machine set the limit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import resource
import shutil
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# bench/ is a directory of scripts: running one puts bench/ first on sys.path.
import rollout_emulator
import rollout_figures
import rollout_fleet
import rollout_machine
import rollout_options
import rollout_requests
import rollout_slurm
import rollout_timeline
import rollout_topology

from emulator.publisher import BundleServer
from firmware_payloads import BundleSpec, build_bundle, write_keypair
from firmware_payloads.keys import load_private_key
from gateway.config import hash_password, load_config
from gateway.service import build_gateway
from gateway.store import ImageState, statements_by_kind, statements_executed
from lab import lab_slurm
from lab.lab_postgres import PostgresServer, start_postgres

MODEL = "FF-BENCH"
PACKAGES = [("bmc-9.0.0", "BMC", "9.0.0", [], "bmc", 256 << 10),
            ("bios-9.0.0", "BIOS", "9.0.0", ["bmc-9.0.0"], "host", 512 << 10),
            ("nic-9.0.0", "NIC", "9.0.0", [], "none", 256 << 10)]


# What --activation changes in the gateway config: staging needs a BMC update service
# (the update CD reboots the host), and a staged cluster a window for every node (here
# one that is always open, so the figures measure the gateway, not the calendar).
STAGED_ORCHESTRATOR = {"immediate": [], "staged": ["expected_reset_s = 60"]}
STAGED_QOS = {"immediate": [], "staged": [
    "[[qos_classes]]", 'name = "always"',
    'windows = [{ days = [0, 1, 2, 3, 4, 5, 6], start = "00:00", hours = 168 }]', ""]}
STAGED_CLUSTER = {"immediate": ['delivery = ["msc"]'],
                  "staged": ['delivery = ["simple_update"]', 'activation = "staged"']}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_bundle(work: Path, staged: bool = False) -> tuple[Path, Path]:
    """The bench bundle; ``staged``: BIOS without its BMC prerequisite, so that it can
    be staged before the BMC firmware (a BMC refuses a package whose prerequisite it
    has not applied)."""
    private, public = write_keypair(work / "keys")
    spec = BundleSpec.from_dict({
        "bundle_id": "bench-bundle", "release": "bench", "publisher": "fleetflash bench",
        "packages": [{"id": pid, "component": comp, "version": ver, "models": [MODEL],
                      "min_from_version": None, "requires": [] if staged else req,
                      "reset": reset,
                      "path": f"payloads/{pid}.bin", "size": size}
                     for pid, comp, ver, req, reset, size in PACKAGES]}, base_dir=work)
    out = work / "bench-bundle.iso"
    build_bundle(spec, load_private_key(private), out)
    return out, public


def write_config(work: Path, args: argparse.Namespace, publisher: BundleServer, public: Path,
                 nodes: list[dict[str, str]], extra: list[str] | None = None,
                 database_url: str = "", expected_node_s: float = 600, *,
                 path: Path | None = None, listener_port: int | None = None,
                 api_port: int | None = None) -> Path:
    """The gateway TOML (WORK/gateway.toml unless `path`); `api_port`: with an [api]
    listener there (the extra gateways of --gateways, whose /metrics the bench reads)."""
    media = free_port()
    lines = [
        "[gateway]", 'name = "gw-bench"', f'state_dir = "{work / "state"}"',
        *([f'database_url = "{database_url}"'] if database_url else []), "",
        "[listener]", f'http = "127.0.0.1:{listener_port or free_port()}"', "",
        *(["[api]", f'listen = "127.0.0.1:{api_port}"', ""] if api_port else []),
        "[[sources]]", 'name = "bench"', 'clients = ["127.0.0.0/8"]', 'username = "bench"',
        f'password_hash = "{hash_password("unused", iterations=1000)}"',
        'owning_entities = ["FLEETFLASH"]', f'image_uri_prefixes = ["{publisher.base_url}"]',
        f'trusted_keys = ["{public}"]', "",
        "[media]", f'http = "127.0.0.1:{media}"', f'base_url = "http://127.0.0.1:{media}"',
        "",
        "[orchestrator]", "tick_s = 0.1", "lease_s = 30", f"workers = {args.workers}",
        "poll_max_s = 0.5", "good_answers = 3", "probe_interval_s = 0.1",
        f"expected_node_s = {expected_node_s}", "health_interval_s = 100000",
        "inventory_workers = 32",
        *([f'events_http = "127.0.0.1:{free_port()}"'] if args.events else []),
        *STAGED_ORCHESTRATOR[args.activation], "",
        *STAGED_QOS[args.activation],
        "[[clusters]]", 'name = "bench"', "failure_budget = 5", 'autonomy = "auto_approve"',
        *STAGED_CLUSTER[args.activation], "", *(extra or []),
    ]
    groups = (len(nodes) + args.group_size - 1) // args.group_size
    for index in range(groups):
        lines += ["[[clusters.groups]]", f'name = "g{index:03d}"',
                  f"max_unavailable = {args.max_unavailable}", ""]
    for index, node in enumerate(nodes):
        lines += ["[[bmcs]]", f'name = "{node["id"]}"', 'cluster = "bench"',
                  *(['qos = "always"'] if args.activation == "staged" else []),
                  f'group = "g{index // args.group_size:03d}"', f'url = "{node["url"]}"',
                  f'username = "{node["username"]}"', f'password = "{node["password"]}"', ""]
    path = path or work / "gateway.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def main() -> None:
    args, mix = rollout_options.parse(__doc__ or "")
    rollout_requests.install(args.count_requests)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    # sushy warns about sessions it cannot log out of once the emulator has stopped.
    logging.getLogger("sushy").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="fleetflash-bench-"))
    emulator = None
    rig = None
    database: PostgresServer | None = None
    try:
        database_url = ""
        if args.database == "postgresql":
            database = start_postgres()
            database_url = database.create_database("bench")
        bundle, public = make_bundle(work, staged=args.activation == "staged")
        sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
        started = time.monotonic()
        emulator, nodes, audit = rollout_emulator.start(work, args, public, MODEL, mix)
        personality_of = {n["id"]: mix.personality_of(i)
                          for i, n in enumerate(nodes)} if mix is not None else None
        rollout_emulator.power_on(nodes)
        print(f"emulator: {len(nodes)} BMCs up and powered on in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        extra: list[str] = []
        if args.manager == "slurm":
            rig = rollout_slurm.start(work, [n["id"] for n in nodes])
            extra = rollout_slurm.config_lines(rig, max_wait_s=300, mode=args.mode)
        # Reservation mode books one slot per wave: the shortest Slurm allows (60 s).
        slot = 60 if args.manager and args.mode == "reservation" else 600
        setup_cpu_s = rollout_figures.own_cpu_seconds()  # not the gateway's: hosts powered on
        emulator_setup_cpu_s = rollout_figures.cpu_seconds(emulator.pid)
        with BundleServer([bundle]) as publisher:
            gateway = build_gateway(load_config(write_config(
                work, args, publisher, public, nodes, extra, database_url, slot)))
            gateway.start()
            members: list[rollout_fleet.Member] = []
            try:
                members = rollout_fleet.start_members(
                    work, args.gateways, lambda path, listener, api: write_config(
                        work, args, publisher, public, nodes, extra, "", slot, path=path,
                        listener_port=listener, api_port=api), database_url)
                jobs = rollout_slurm.submit_workload(
                    rig, limits=args.mode == "reservation") if rig is not None else {}
                with rollout_machine.sampling(emulator.pid, lambda: [
                        m.process.pid for m in members], database) as sampler:
                    figures = run(gateway, publisher, bundle, sha, args, personality_of)
                figures["machine"] = sampler.figures()
                runs, canaries, spans = (figures.pop("_runs"), figures.pop("_canaries"),
                                         figures.pop("_spans"))
                if args.activation == "immediate":
                    figures["timeline"] = rollout_timeline.timeline(
                        runs, audit, group_of(nodes, args.group_size),
                        max_unavailable=args.max_unavailable,
                        per_node_min_s=figures["per_node_min_s"], canary_nodes=canaries,
                        spans=spans, family_of=personality_of,
                        driver_of=rollout_fleet.drivers(
                            audit, rollout_fleet.media_urls(gateway, members))
                        if members else None)
                figures |= rollout_fleet.fleet_figures(gateway, members, audit,
                                                      figures["nodes"], setup_cpu_s)
            finally:
                rollout_fleet.stop_members(members)
                gateway.stop()
        if rig is not None:
            records = [json.loads(line) for line in audit.read_text().splitlines() if line]
            figures |= rollout_slurm.figures(rig, jobs, records)
        figures["emulator_cpu_s"] = round(
            rollout_figures.cpu_seconds(emulator.pid) - emulator_setup_cpu_s, 1)
        figures["emulator_setup_cpu_s"] = round(emulator_setup_cpu_s, 1)
        figures["database"] = args.database
        figures["mode"] = args.mode
        if database is not None:
            figures["database_cpu_s"] = rollout_figures.database_cpu_seconds(database)
        figures["gateway_cpu_s"] = round(rollout_figures.own_cpu_seconds() - setup_cpu_s, 1)
        figures["bench_setup_cpu_s"] = round(setup_cpu_s, 1)
        figures |= rollout_requests.figures(figures["nodes"])
        figures |= rollout_figures.audit_figures(audit, group_of(nodes, args.group_size),
                                                 staged=args.activation == "staged")
    finally:
        if rig is not None:
            lab_slurm.stop(rig)
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=60)
        if database is not None:
            database.stop()
            shutil.rmtree(database.root, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rollout_figures.report(figures, args, topology=mix is not None)


def group_of(nodes: list[dict[str, Any]], group_size: int) -> dict[str, str]:
    """The bench's redundancy groups: consecutive BMCs, ``group_size`` at a time."""
    return {n["id"]: f"g{i // group_size:03d}" for i, n in enumerate(nodes)}


def run(gateway: Any, publisher: BundleServer, bundle: Path, sha: str,
        args: argparse.Namespace, personality_of: dict[str, str] | None = None
        ) -> dict[str, Any]:
    orchestration = gateway.orchestration
    assert orchestration is not None
    service = orchestration.service
    announced = time.monotonic()
    # The alert names the manifest, as the alert profile allows: the gateway reads it
    # from there and fetches the image itself exactly once.
    gateway.intake.raise_alert(source="bench", image_uri=publisher.url_for(bundle),
                               manifest_uri=publisher.url_for(bundle) + ".manifest.json",
                               image_sha256=sha, bundle_id="bench-bundle", release="bench")
    while gateway.store.get_image(sha).state is not ImageState.VERIFIED:
        time.sleep(0.1)
    while not service.list_campaigns():
        time.sleep(0.2)
    campaign_id = service.list_campaigns()[0].id
    inventory_s = time.monotonic() - announced
    print(f"campaign {campaign_id} created {inventory_s:.1f} s after the alert "
          "(acquire + inventory + plan)", flush=True)
    last = 0.0
    # The campaign row alone: reading every run each half second would load the very
    # process being measured (it was a tenth of the gateway's CPU at 1000 nodes).
    while service.store.get_campaign(campaign_id).state not in (
            "completed", "completed_with_exclusions", "failed", "aborted", "paused_budget"):
        time.sleep(0.5)
        if time.monotonic() - last > 10:
            last = time.monotonic()
            steps = Counter(r[1] for r in service.store.run_states(campaign_id))
            print(f"  {dict(sorted(steps.items()))}", flush=True)
    detail = service.show(campaign_id)
    runs = detail.runs
    starts = [r.started_at for r in runs if r.started_at]
    ends = [r.finished_at for r in runs if r.finished_at and r.started_at]
    per_node = (2 * args.reset_seconds + len(PACKAGES) * args.flash_seconds
                + args.bmc_restart_seconds)
    staged: dict[str, Any] = {}
    spans = service.store.step_spans(campaign_id)  # read once: staged figures, timeline
    if args.activation == "staged":
        # The disruptive phase starts when the first staged node's reset is admitted.
        staging = [s for s in spans if s.step == "stage"]
        starts = [s.started_at for s in spans if s.step == "precheck"]
        staged = {"staging_s": round(max(s.ended_at for s in staging if s.ended_at).timestamp()
                                     - min(s.started_at for s in staging).timestamp(), 2)}
        # Minimal disruptive time per node: BMC and NIC flashes, then the BMC restart and
        # the host reset (the gateway resets the host while the BMC restarts: they overlap).
        per_node = ((len(PACKAGES) - 1) * args.flash_seconds
                    + max(args.reset_seconds, args.bmc_restart_seconds))
    makespan = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    # A rollout that did not finish every node has no makespan to compare with the
    # bound: the figure would be the time to the campaign's pause, not to its end.
    unfinished = {r.node_id: f"{r.step}: {r.error}" if r.error else r.step
                  for r in runs if r.step != "done"}
    waves = detail.campaign.planned_waves
    # The bound must not be inflated by a plan with more waves than needed: a group of
    # group_size nodes needs ceil(group_size / max_unavailable) waves, plus the canary wave.
    needed = -(-min(args.group_size, len(runs)) // args.max_unavailable) + 1
    if waves > needed:
        raise SystemExit(f"the plan has {waves} waves where {needed} suffice: the lower "
                         "bound would be inflated")
    # Staged: the main waves' nodes stage (one flash, all at once) once the canary is done.
    lower = waves * per_node + (args.flash_seconds if args.activation == "staged" else 0.0)
    statements = statements_executed(gateway.store.engine)
    families = {} if personality_of is None else {
        "topology": args.topology, "per_personality": rollout_topology.per_personality(
            [(r.node_id, r.step, r.started_at, r.finished_at) for r in runs],
            personality_of, lower)}
    image_path = "/bundles/" + bundle.name
    origin = sum(r.length or 0 for r in publisher.access_log
                 if r.status in (200, 206) and r.path == image_path)
    manifest_bytes = sum(r.length or 0 for r in publisher.access_log
                         if r.status == 200 and r.path != image_path)
    return {
        "nodes": len(runs), "campaign_state": detail.campaign.state,
        "_runs": [(r.node_id, r.started_at, r.finished_at) for r in runs],
        "_canaries": {r.node_id for r in runs if r.canary},
        "_spans": [(s.node_id, s.step, s.started_at, s.ended_at) for s in spans],
        "outcomes": dict(Counter(r.step for r in runs)), "waves": waves,
        "per_node_min_s": per_node,
        "makespan_s": None if unfinished else round(makespan, 2),
        "lower_bound_s": round(lower, 2),
        "ratio": round(makespan / lower, 3) if lower and not unfinished else None,
        "unfinished": dict(sorted(unfinished.items())[:20]),
        "unfinished_nodes": len(unfinished),
        "gateway_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                     1),
        "origin_bytes": origin, "image_bytes": bundle.stat().st_size,
        "served_bytes": orchestration.media.counters.snapshot().total_bytes,
        "bmc_event_posts": orchestration.events.accepted if orchestration.events else 0,
        "inventory_s": round(inventory_s, 1), "origin_manifest_bytes": manifest_bytes,
        "activation": args.activation, **staged,
        # Every statement the gateway sent from its start to the campaign's end (intake,
        # inventory, planning, scheduling, every node step): the database's load per node.
        "db_statements": statements, "db_statements_per_node":
            round(statements / len(runs), 1) if runs else None, **families,
        # Where the in-process gateway's statements went, per node (verb and table).
        "db_statements_per_node_by_kind": {
            kind: round(count / len(runs), 2) for kind, count in
            statements_by_kind(gateway.store.engine).most_common()} if runs else {},
    }


if __name__ == "__main__":
    main()
