"""A cluster's cluster_manager table, checked against the real Slurm at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cluster_config import load_clusters
from gateway.cluster_managers import Mode, OnTimeout
from gateway.config import ConfigError, load_config
from lab.lab_slurm import SlurmRig


def write(tmp_path: Path, conf: Path, manager_extra: str = "", nodes: tuple[str, ...] = (
        "node-1", "node-2"), cluster_extra: str = "") -> Path:
    text = f"""
[gateway]
name = "gw"
state_dir = "state"

[[clusters]]
name = "hpc"
{cluster_extra}
[[clusters.groups]]
name = "rack1"
max_unavailable = 1

[clusters.cluster_manager]
manager = "slurm"
slurm_conf = "{conf}"
{manager_extra}
"""
    for index, node in enumerate(nodes):  # one BMC URL each: duplicates are refused
        text += f"""
[[bmcs]]
name = "{node}"
cluster = "hpc"
group = "rack1"
url = "https://127.0.0.1:{index + 1}"
username = "u"
password = "p"
"""
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


MAPPED = 'node_names = { node-1 = "n1", node-2 = "n2" }'


def test_a_slurm_cluster_with_mapped_names_loads(slurm: SlurmRig, tmp_path: Path) -> None:
    path = write(tmp_path, slurm.conf, MAPPED + '\nmode = "drain"\nmax_wait_s = 90\n'
                 'partition = "batch"')
    (settings,) = load_clusters(load_config(path))
    assert settings.manager is not None
    assert settings.manager.mode is Mode.DRAIN
    assert settings.manager.on_timeout is OnTimeout.SKIP
    assert settings.manager.max_wait_s == 90
    assert settings.manager.name_of("node-2") == "n2"


def test_node_names_slurm_does_not_know_are_refused_by_name(slurm: SlurmRig,
                                                            tmp_path: Path) -> None:
    path = write(tmp_path, slurm.conf, 'node_names = { node-1 = "n1" }')
    with pytest.raises(ConfigError, match=r"Slurm does not know node\(s\): node-2$"):
        load_clusters(load_config(path))
    path = write(tmp_path, slurm.conf, MAPPED + '\npartition = "gpu"')
    with pytest.raises(ConfigError, match=r"in partition gpu: n1 \(node node-1\), n2"):
        load_clusters(load_config(path))


@pytest.mark.parametrize(("extra", "message"), [
    ('mode = "maintenance"', "mode: 'maintenance' is not one of reservation, drain"),
    ("max_wait_s = -1", "max_wait_s must be a positive number"),
    ('on_timeout = "kill"', "on_timeout: 'kill' is not one of skip, cancel"),
    ('node_names = { node-9 = "n9" }', "node_names: not nodes of this cluster: node-9"),
    ("colour = 1", "colour"),
])
def test_bad_tables_name_the_problem(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, tmp_path / "missing.conf", extra)
    (tmp_path / "missing.conf").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_clusters(load_config(path))


def test_a_missing_slurm_conf_or_hooks_beside_a_manager_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="slurm_conf .*nope.conf does not exist"):
        load_clusters(load_config(write(tmp_path, tmp_path / "nope.conf")))
    (tmp_path / "s.conf").write_text("", encoding="utf-8")
    path = write(tmp_path, tmp_path / "s.conf", cluster_extra='drain_command = ["x"]')
    with pytest.raises(ConfigError, match="cluster_manager or drain/undrain hooks, not both"):
        load_clusters(load_config(path))


def test_reservation_mode_loads(slurm: SlurmRig, tmp_path: Path) -> None:
    path = write(tmp_path, slurm.conf, MAPPED + '\nmode = "reservation"')
    (settings,) = load_clusters(load_config(path))
    assert settings.manager is not None
    assert settings.manager.mode is Mode.RESERVATION
