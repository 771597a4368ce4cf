"""Bulk import into the BMC registry on a real SQLite database: the four formats, dry
run, idempotent re-import, file:line problems, all-or-nothing and --partial."""

from __future__ import annotations

import json

import pytest

from gateway.cluster_config import load_clusters
from gateway.config import ConfigError, GatewayConfig
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.importers import HostVars, ImportDefaults
from gateway.onboarding.registry import import_inventory, register, unregister
from gateway.store.bmc_registry import BmcRegistry

CSV = (b"name,cluster,group,address,username,password_file\n"
       b"n1,hpc,rack1,10.0.0.1,root,secrets/n1\n"
       b"n2,hpc,rack2,10.0.0.2,root,secrets/n2\n")


def _import(config: GatewayConfig, registry: BmcRegistry, data: bytes, fmt: str = "csv",
            name: str = "inv.csv", **kwargs: object):  # type: ignore[no-untyped-def]
    defaults = kwargs.pop("defaults", ImportDefaults())
    return import_inventory(config, registry, name, data, fmt, defaults,  # type: ignore[arg-type]
                            **kwargs)  # type: ignore[arg-type]


def test_csv_import_registers_and_reimport_changes_nothing(
        gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    outcome = _import(gw_config, registry, CSV)
    assert outcome.applied and [e["name"] for e in outcome.plan.added] == ["n1", "n2"]
    entries = registry.entries()
    assert [e["url"] for e in entries] == ["https://10.0.0.1", "https://10.0.0.2"]
    again = _import(gw_config, registry, CSV)
    assert again.plan.added == [] and again.plan.updated == []
    assert sorted(again.plan.unchanged) == ["n1", "n2"]
    assert registry.entries() == entries
    # An edited row updates, never duplicates.
    edited = CSV.replace(b"10.0.0.2", b"10.0.0.22")
    third = _import(gw_config, registry, edited)
    assert [after["name"] for _b, after in third.plan.updated] == ["n2"]
    assert len(registry.entries()) == 2
    assert registry.entries()[1]["url"] == "https://10.0.0.22"
    # What the gateway will run: config [[bmcs]] plus the registry.
    clusters = load_clusters(gw_config, registry.entries())
    assert sorted(clusters[0].endpoints) == ["fixed", "n1", "n2"]


def test_dry_run_changes_nothing(gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    outcome = _import(gw_config, registry, CSV, dry_run=True)
    assert not outcome.applied and len(outcome.plan.added) == 2
    assert registry.entries() == []
    assert "would be added" in outcome.summary()


def test_one_bad_row_stops_all_unless_partial(gw_config: GatewayConfig,
                                              registry: BmcRegistry) -> None:
    data = CSV + b"n3,hpc,rack9,10.0.0.3,root,secrets/n3\n"
    outcome = _import(gw_config, registry, data)
    assert not outcome.applied and registry.entries() == []
    [problem] = outcome.plan.problems
    assert problem.where == "inv.csv:4" and "rack9" in problem.message
    partial = _import(gw_config, registry, data, partial=True)
    assert partial.applied
    assert [e["name"] for e in registry.entries()] == ["n1", "n2"]


@pytest.mark.parametrize(("row", "words"), [
    (b"n1,hpc,rack1,10.0.0.9,root,secrets/n1\n", "duplicate name 'n1' (first at inv.csv:2)"),
    (b"fixed,hpc,rack1,10.0.0.9,root,secrets/n1\n", "config file's [[bmcs]]"),
    (b"n3,hpc,rack1,10.0.0.1,root,secrets/n3\n", "already registered by BMC 'n1'"),
    (b"n3,hpc,rack1,ftp://x,root,secrets/n3\n", "URL must be http(s)"),
    (b"n3,nope,rack1,10.0.0.3,root,secrets/n3\n", "nope"),
    (b"n3,hpc,rack1,10.0.0.3,root,secrets/missing\n", "does not exist"),
    (b"n 3,hpc,rack1,10.0.0.3,root,secrets/n3\n", "name 'n 3'"),
    (b"n3,hpc,rack1,10.0.0.3,root\n", "different number"),
])
def test_bad_rows_are_named_by_line(gw_config: GatewayConfig, registry: BmcRegistry,
                                    row: bytes, words: str) -> None:
    outcome = _import(gw_config, registry, CSV + row)
    assert not outcome.applied and registry.entries() == []
    assert [p.where for p in outcome.plan.problems] == ["inv.csv:4"], outcome.plan.problems
    assert words in outcome.plan.problems[0].message, outcome.plan.problems


def test_inline_passwords_are_refused(gw_config: GatewayConfig,
                                      registry: BmcRegistry) -> None:
    data = b"name,cluster,group,address,username,password\nn1,hpc,rack1,10.0.0.1,root,s3cret\n"
    outcome = _import(gw_config, registry, data)
    assert "inline password is refused" in outcome.plan.problems[0].message
    assert "s3cret" not in str(outcome.plan.problems)
    yml = b"all:\n  hosts:\n    n1:\n      bmc_address: 10.0.0.1\n      bmc_password: s3cret\n"
    outcome = _import(gw_config, registry, yml, "ansible-yaml", "inv.yml",
                      defaults=ImportDefaults(cluster="hpc", group="rack1", username="r"))
    assert outcome.plan.problems[0].where == "inv.yml:3"
    assert registry.entries() == []


def test_file_level_errors(gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    with pytest.raises(OnboardingError, match=r"not UTF-8 text \(byte 0xff at offset 5\)"):
        _import(gw_config, registry, b"name,\xff\n")
    with pytest.raises(OnboardingError, match=r"inv.csv:1: unknown column\(s\) 'colour'"):
        _import(gw_config, registry, b"name,colour\nn1,red\n")
    with pytest.raises(OnboardingError, match="not valid YAML"):
        _import(gw_config, registry, b"all: [\n", "ansible-yaml", "x.yml")
    with pytest.raises(OnboardingError, match=r"x.json:1: not valid JSON"):
        _import(gw_config, registry, b"{", "netbox", "x.json")
    assert registry.entries() == []


def test_ansible_yaml_with_groups_and_renamed_vars(gw_config: GatewayConfig,
                                                   registry: BmcRegistry) -> None:
    data = b"""\
all:
  vars:
    fleetflash_cluster: hpc
    bmc_user: admin
  children:
    rack1:
      hosts:
        n1:
          ipmi_host: 10.0.0.1
          bmc_password_file: secrets/n1
    rack2:
      vars:
        bmc_user: other
      hosts:
        n2:
          ipmi_host: 10.0.0.2
          bmc_password_file: secrets/n2
"""
    defaults = ImportDefaults(variables=HostVars.with_overrides({"address": "ipmi_host"}))
    outcome = _import(gw_config, registry, data, "ansible-yaml", "inv.yml", defaults=defaults)
    assert outcome.applied, outcome.plan.problems
    got = {e["name"]: e for e in registry.entries()}
    assert got["n1"]["group"] == "rack1" and got["n1"]["username"] == "admin"
    assert got["n2"]["group"] == "rack2" and got["n2"]["username"] == "other"
    assert got["n2"]["url"] == "https://10.0.0.2"


def test_ansible_ini(gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    data = b"""\
# lab inventory
[rack1]
n1 bmc_address=10.0.0.1 bmc_password_file=secrets/n1
[rack2]
n2 bmc_address=10.0.0.2 bmc_password_file=secrets/n2 bmc_user=other
n3 bmc_address=10.0.0.3 bmc_password_file=secrets/n3 fleetflash_group=rack9

[all:vars]
bmc_user=admin
fleetflash_cluster=hpc
"""
    outcome = _import(gw_config, registry, data, "ansible-ini", "hosts")
    assert [str(p) for p in outcome.plan.problems] == [
        "hosts:6: " + outcome.plan.problems[0].message]
    assert "rack9" in outcome.plan.problems[0].message
    ok = _import(gw_config, registry, data.replace(b"rack9", b"rack2"), "ansible-ini",
                 "hosts")
    assert ok.applied
    got = {e["name"]: e for e in registry.entries()}
    assert got["n1"]["username"] == "admin" and got["n2"]["username"] == "other"
    assert got["n3"]["group"] == "rack2"


def test_netbox_export(gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    devices = {"count": 2, "results": [
        {"name": "n1", "rack": {"name": "rack1"}, "oob_ip": {"address": "10.0.0.1/24"},
         "custom_fields": {"bmc_user": "root", "bmc_password_file": "secrets/n1",
                           "fleetflash_cluster": "hpc"}},
        {"name": "n2", "rack": {"name": "rack2"}, "oob_ip": None,
         "custom_fields": {"bmc_user": "root", "bmc_password_file": "secrets/n2",
                           "fleetflash_cluster": "hpc"}},
    ]}
    text = json.dumps(devices, indent=2)
    second = [i + 1 for i, line in enumerate(text.splitlines()) if line == "    {"][1]
    outcome = _import(gw_config, registry, text.encode(), "netbox", "nb.json")
    assert not outcome.applied
    [problem] = outcome.plan.problems
    assert problem.where == f"nb.json:{second} (n2)" and "url" in problem.message
    # A bare array (another export shape) is numbered the same way.
    bare = json.dumps(devices["results"], indent=1)
    [problem] = _import(gw_config, registry, bare.encode(), "netbox", "nb.json").plan.problems
    assert problem.where == f"nb.json:{bare.splitlines().index(' {', 2) + 1} (n2)"
    devices["results"][1]["oob_ip"] = {"address": "10.0.0.2/24"}  # type: ignore[index]
    assert _import(gw_config, registry, json.dumps(devices).encode(), "netbox",
                   "nb.json").applied
    assert [e["group"] for e in registry.entries()] == ["rack1", "rack2"]


def test_name_in_config_and_registry_is_an_error_naming_it(
        gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    # The registry got "fixed" before the operator added it to the file.
    registry_entry = {"name": "fixed", "cluster": "hpc", "group": "rack1",
                      "url": "https://10.0.0.5", "username": "r",
                      "password_file": "secrets/fixed"}
    with pytest.raises(ConfigError, match="BMC 'fixed' is both in the config file"):
        load_clusters(gw_config, [registry_entry])


def test_add_and_remove_one(gw_config: GatewayConfig, registry: BmcRegistry) -> None:
    entry = {"name": "n1", "cluster": "hpc", "group": "rack1", "url": "https://10.0.0.1",
             "username": "r", "password_file": "secrets/n1"}
    register(gw_config, registry, entry, origin="cli")
    assert registry.registrations()[0].origin == "cli"
    with pytest.raises(OnboardingError, match="already registered by BMC 'n1'"):
        register(gw_config, registry, {**entry, "name": "n2"}, origin="cli")
    unregister(registry, "n1")
    assert registry.entries() == []
    with pytest.raises(OnboardingError, match="not in the registry"):
        unregister(registry, "fixed")
