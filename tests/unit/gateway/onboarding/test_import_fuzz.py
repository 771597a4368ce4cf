"""Fuzzed inventories: whatever the rows hold (missing columns, duplicate names, bad
URLs, inline passwords, bytes that are not UTF-8), the import either takes only
valid rows or reports a clear problem; a refused import leaves the store unchanged
and nothing raises anything but OnboardingError."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import GatewayConfig
from gateway.onboarding.errors import OnboardingError
from gateway.onboarding.importers import ImportDefaults
from gateway.onboarding.registry import import_inventory
from gateway.store.bmc_registry import BmcRegistry

NAMES = st.sampled_from(["n1", "n2", "n3", "fixed", "", "bad name", "x" * 70])
URLS = st.sampled_from(["https://10.0.0.1", "https://10.0.0.2", "10.0.0.3", "ftp://x",
                        "https://", "http://[::1]:99999", "", "https://10.0.0.1"])
CELLS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
COLUMNS = ["name", "cluster", "group", "url", "username", "password_file", "password",
           "password_env", "tls", "timeout_s"]
ROW = st.fixed_dictionaries({
    "name": NAMES, "cluster": st.sampled_from(["hpc", "nope", ""]),
    "group": st.sampled_from(["rack1", "rack2", "rack9", ""]), "url": URLS,
    "username": st.sampled_from(["root", ""]),
    "password_file": st.sampled_from(["secrets/n1", "secrets/missing", ""]),
    "password": st.sampled_from(["", "", "s3cret"]),
    "password_env": st.sampled_from(["", "BMC_PW"]),
    "tls": st.sampled_from(["", "verify", "insecure", "bogus"]),
    "timeout_s": st.sampled_from(["", "30", "abc", "-1"]),
})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(config: GatewayConfig, registry: BmcRegistry, data: bytes, fmt: str,
           partial: bool) -> None:
    before = registry.entries()
    try:
        outcome = import_inventory(config, registry, "fuzz", data, fmt,
                                   ImportDefaults(), partial=partial)
    except OnboardingError as exc:
        assert str(exc).startswith("fuzz") or "format" in str(exc)
        assert registry.entries() == before
        return
    after = registry.entries()
    if outcome.plan.problems and not partial:
        assert not outcome.applied and after == before
    for problem in outcome.plan.problems:
        assert problem.where.startswith("fuzz") and problem.message
        assert "s3cret" not in problem.message
    names = [e["name"] for e in after]
    assert len(names) == len(set(names))
    assert "fixed" not in names  # the config file's BMC never enters the registry
    assert all("password" not in e for e in after)


@FUZZ
@given(rows=st.lists(ROW, max_size=6), drop=st.sets(st.sampled_from(COLUMNS)),
       partial=st.booleans())
def test_fuzzed_csv(gw_config: GatewayConfig, registry: BmcRegistry,
                    rows: list[dict[str, str]], drop: set[str], partial: bool) -> None:
    columns = [c for c in COLUMNS if c not in drop]
    sink = io.StringIO()
    writer = csv.DictWriter(sink, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _check(gw_config, registry, sink.getvalue().encode(), "csv", partial)


@FUZZ
@given(rows=st.lists(ROW, max_size=6), partial=st.booleans())
def test_fuzzed_netbox(gw_config: GatewayConfig, registry: BmcRegistry,
                       rows: list[dict[str, str]], partial: bool) -> None:
    devices = [{"name": r["name"], "rack": {"name": r["group"]},
                "custom_fields": {"bmc_url": r["url"], "bmc_user": r["username"],
                                  "bmc_password_file": r["password_file"],
                                  "bmc_password": r["password"],
                                  "fleetflash_cluster": r["cluster"]}} for r in rows]
    _check(gw_config, registry, json.dumps(devices).encode(), "netbox", partial)


@FUZZ
@given(rows=st.lists(ROW, max_size=6), partial=st.booleans())
def test_fuzzed_ansible_ini(gw_config: GatewayConfig, registry: BmcRegistry,
                            rows: list[dict[str, str]], partial: bool) -> None:
    lines = ["[rack1]"] + [
        f"{r['name'] or 'h'} bmc_url={r['url'] or '-'} bmc_user={r['username'] or '-'} "
        f"bmc_password_file={r['password_file'] or '-'} fleetflash_cluster="
        f"{r['cluster'] or '-'}" + (f" bmc_password={r['password']}" if r["password"] else "")
        for r in rows]
    _check(gw_config, registry, "\n".join(lines).encode(), "ansible-ini", partial)


@FUZZ
@given(data=st.binary(max_size=200), fmt=st.sampled_from(["csv", "netbox", "ansible-yaml",
                                                          "ansible-ini"]))
def test_arbitrary_bytes(gw_config: GatewayConfig, registry: BmcRegistry, data: bytes,
                         fmt: str) -> None:
    _check(gw_config, registry, data, fmt, False)


@FUZZ
@given(text=CELLS, fmt=st.sampled_from(["csv", "netbox", "ansible-yaml", "ansible-ini"]))
def test_arbitrary_text(gw_config: GatewayConfig, registry: BmcRegistry, text: str,
                        fmt: str) -> None:
    _check(gw_config, registry, ("name,url\n" if fmt == "csv" else "") .encode()
           + text.encode(), fmt, True)
