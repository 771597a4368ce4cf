"""Delivery choice, inventory facts and the retry policy."""

from __future__ import annotations

import pytest

from gateway.domain import (
    DeliveryMethod,
    FirmwareComponent,
    Health,
    HealthStatus,
    NodeInventory,
    NoDeliveryMethodError,
    PowerState,
    RetryPolicy,
    UpdateCapabilities,
    choose_delivery,
)

D = DeliveryMethod


@pytest.mark.parametrize(
    ("description", "caps", "preference", "expected"),
    [
        ("everything offered: MSC by default",
         UpdateCapabilities(True, ("HTTP",), True, True), None, D.MSC),
        ("no virtual media: pull over HTTP",
         UpdateCapabilities(True, ("HTTPS", "HTTP"), True, False), None, D.SIMPLE_UPDATE),
        ("SimpleUpdate without HTTP: push",
         UpdateCapabilities(True, ("NFS", "CIFS"), True, False), None, D.MULTIPART_PUSH),
        ("SimpleUpdate listing no protocols accepts the URI scheme",
         UpdateCapabilities(True, (), False, False), None, D.SIMPLE_UPDATE),
        ("operator prefers push",
         UpdateCapabilities(True, ("HTTP",), True, True), (D.MULTIPART_PUSH, D.MSC),
         D.MULTIPART_PUSH),
    ],
)
def test_choose_delivery(description: str, caps: UpdateCapabilities,
                         preference: tuple[DeliveryMethod, ...] | None,
                         expected: DeliveryMethod) -> None:
    chosen = choose_delivery(caps) if preference is None else choose_delivery(caps, preference)
    assert chosen is expected


def test_no_usable_method_names_what_the_bmc_offers() -> None:
    caps = UpdateCapabilities(True, ("NFS",), False, True)
    with pytest.raises(NoDeliveryMethodError, match="it offers: msc"):
        choose_delivery(caps, (D.SIMPLE_UPDATE, D.MULTIPART_PUSH))


def inventory(power: PowerState, health: HealthStatus) -> NodeInventory:
    return NodeInventory("1", "FF-1U-R450", "SN1", "FF", power, health,
                         (FirmwareComponent("BIOS", "1.0"), FirmwareComponent("BMC", "2.6.0")),
                         UpdateCapabilities())


@pytest.mark.parametrize(
    ("power", "health", "observed"),
    [
        (PowerState.ON, HealthStatus.OK, Health.UP),
        (PowerState.ON, HealthStatus.WARNING, Health.UP),
        (PowerState.ON, HealthStatus.UNKNOWN, Health.UP),
        (PowerState.ON, HealthStatus.CRITICAL, Health.DOWN),
        (PowerState.OFF, HealthStatus.OK, Health.DOWN),
        (PowerState.POWERING_ON, HealthStatus.OK, Health.DOWN),
    ],
)
def test_observed_health(power: PowerState, health: HealthStatus, observed: Health) -> None:
    assert inventory(power, health).observed_health() is observed


def test_hosts_kept_off_can_count_as_up_when_the_cluster_says_so() -> None:
    off = inventory(PowerState.OFF, HealthStatus.OK)
    assert off.observed_health(require_power_on=False) is Health.UP
    critical = inventory(PowerState.OFF, HealthStatus.CRITICAL)
    assert critical.observed_health(require_power_on=False) is Health.DOWN


def test_installed_versions_are_keyed_by_component() -> None:
    assert inventory(PowerState.ON, HealthStatus.OK).installed_versions() == {
        "BIOS": "1.0", "BMC": "2.6.0"}


def test_retry_policy_backs_off_and_stops() -> None:
    policy = RetryPolicy(attempts=4, base=0.5, factor=2.0, max_delay=1.5)
    assert [policy.delay(a) for a in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert policy.should_retry(3, transient=True)
    assert not policy.should_retry(4, transient=True)
    assert not policy.should_retry(1, transient=False)
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(attempts=0)
