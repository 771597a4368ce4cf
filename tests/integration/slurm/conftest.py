"""A real Slurm cluster on loopback for the cluster-manager tests (lab/lab_slurm.py).

``slurm_rig`` (session): munged, slurmctld and four ``slurmd -N`` daemons in a temp
dir, started by the first test that asks for it and stopped at the end of the session.
``slurm`` (per test): the same rig, returned to a clean state afterwards (jobs
cancelled, reservations deleted, every node resumed), so tests do not see each other.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.publisher import BundleServer
from gateway.config import load_config
from gateway.service import build_gateway
from lab import lab_slurm
from lab.lab_slurm import SlurmRig
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import Rollout
from tests.integration.orchestrator.rig import TEST_MODEL, power_on, write_gateway_config

NODES = ("n1", "n2", "n3", "n4")
# The rig's emulated BMCs and the Slurm node each stands for.
SLURM_NAMES = {"bmc-0000": "n1", "bmc-0001": "n2", "bmc-0002": "n3", "bmc-0003": "n4"}


@pytest.fixture(scope="session")
def slurm_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmRig]:
    missing = lab_slurm.missing_programs()
    if missing:
        pytest.fail(f"Slurm/munge not installed ({', '.join(missing)}): run scripts/bootstrap.sh")
    rig = lab_slurm.start(tmp_path_factory.mktemp("slurm"), NODES, cluster="fftest")
    yield rig
    lab_slurm.stop(rig)


@pytest.fixture
def slurm(slurm_rig: SlurmRig) -> Iterator[SlurmRig]:
    yield slurm_rig
    reset(slurm_rig)


def reset(rig: SlurmRig) -> None:
    """Cancel every job, delete every reservation, resume every node; wait until idle."""
    rig.run("scancel", "--full", "--user=root", check=False)
    done = rig.run("scontrol", "-o", "show", "reservation", check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ReservationName="):
            name = line.split()[0].split("=", 1)[1]
            rig.run("scontrol", "delete", f"reservationname={name}", check=False)
    for node, (state, flags) in rig.node_states().items():
        if flags or state != "idle":
            rig.run("scontrol", "update", f"nodename={node}", "state=resume", check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(s == ("idle", ()) for s in rig.node_states().values()) and not (
                set(rig.job_states().values()) & lab_slurm.LIVE_JOB_STATES):
            return
        time.sleep(0.2)
    raise AssertionError(f"Slurm did not return to idle: {rig.node_states()}")



def add_manager(path: Path, conf: Path, lines: str) -> None:
    """Put a [clusters.cluster_manager] table for `conf` (Slurm names: SLURM_NAMES, and
    `lines`) into the gateway config at `path`."""
    names = ", ".join(f'{node} = "{name}"' for node, name in SLURM_NAMES.items())
    text = path.read_text()
    cut = text.index("\n[[bmcs]]")
    path.write_text(text[:cut] + f'\n[clusters.cluster_manager]\nmanager = "slurm"\n'
                    f'slurm_conf = "{conf}"\nnode_names = {{ {names} }}\n{lines}\n'
                    + text[cut:])


def slurm_rollout_rig(slurm_conf: Path, tmp_path: Path, test_keys: TestKeys,
                      bundle_factory: BundleFactory, manager: str,
                      orchestrator: Mapping[str, Any] | None = None,
                      flash_seconds: float = 0.1) -> Iterator[Rollout]:
    """Four emulated BMCs (one group allowing 2) behind an in-process gateway whose
    cluster's manager is the Slurm of `slurm_conf` (table lines `manager`)."""
    with ExitStack() as stack:
        emulated = stack.enter_context(EmulatedCluster(
            nodes=[NodeSpec(model=TEST_MODEL)] * 4, trusted_keys=[test_keys.public],
            flash_seconds=flash_seconds, reset_seconds=0.1, bmc_restart_seconds=0.3))
        power_on(emulated)
        bundle = bundle_factory(name="fleet-test.iso")
        publisher = stack.enter_context(BundleServer([bundle]))
        path = write_gateway_config(
            tmp_path, publisher_prefix=publisher.base_url, trusted_key=test_keys.public,
            bmcs=emulated.inventory, group_of=lambda _n: "all", groups={"all": 2},
            orchestrator=orchestrator, timeouts={"drain": 60, "undrain": 30})
        add_manager(path, slurm_conf, manager)
        gateway = build_gateway(load_config(path), worker_poll_interval=0.2)
        gateway.start()
        stack.callback(gateway.stop)
        sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
        yield Rollout(emulated, gateway, sha, bundle, publisher, len(emulated.audit.records()))
