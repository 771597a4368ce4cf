"""Which of a BMC's Update messages report a failure of the node's update, and how the
node's error quotes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.domain.update_signals import (
    UpdateSignal,
    component_of,
    failure_note,
    host_rebooted_after_results,
    reported_failures,
)

INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"
ALIASES = {"BIOS": (f"{INVENTORY}/bios_active",), "NIC": ()}
IMAGE = "http://media.example:8080/media/SECRET/image.iso"
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _failure(key: str, device: str, *, source: str = "log", origin: str = "",
             at: datetime | None = T0) -> UpdateSignal:
    return UpdateSignal(source, f"Update.1.3.0.{key}", (IMAGE, device), origin,
                        f"Installation of image '{IMAGE}' to '{device}' failed.", at)


def test_the_device_is_named_by_origin_or_by_an_argument() -> None:
    assert component_of(_failure("ApplyFailed", "BIOS"), ALIASES) == "BIOS"
    # A vendor naming the member by its Id or URI; the origin decides over an argument.
    assert component_of(_failure("ApplyFailed", "bios_active"), ALIASES) == "BIOS"
    assert component_of(_failure("ApplyFailed", "x", origin=f"{INVENTORY}/NIC"),
                        ALIASES) == "NIC"
    # An image URL is never a device, even when it ends like one.
    assert component_of(UpdateSignal("log", "Update.ApplyFailed", ("http://h/BIOS", "CPLD")),
                        ALIASES) is None


def test_only_failures_about_target_components_since_the_update_count() -> None:
    signals = [
        _failure("ApplyFailed", "CPLD"),  # not touched by the campaign
        UpdateSignal("log", "Update.1.3.0.UpdateSuccessful", ("NIC", IMAGE), at=T0),
        _failure("ApplyFailed", "BIOS", at=T0 - timedelta(minutes=5)),  # an older update
        _failure("VerificationFailed", "NIC"),
        _failure("ApplyFailed", "BIOS", source="task", at=None),  # the task's own: no time
        UpdateSignal("log", "Base.1.22.1.GeneralError", (), at=T0),
    ]
    found = reported_failures(signals, ALIASES, since=T0)
    assert [(f.component, f.signal.key, f.signal.source) for f in found] == [
        ("NIC", "VerificationFailed", "log"), ("BIOS", "ApplyFailed", "task")]
    assert [f.redeliverable for f in found] == [True, False]


def test_the_note_quotes_both_signals_without_the_capability_url() -> None:
    (failure,) = reported_failures([_failure("ActivateFailed", "BIOS")], ALIASES)
    note = failure_note([failure], ["BIOS 1.0 (want 1.5)"],
                        task_said="task Completed at 100 %: UpdateSuccessful")
    assert note == (
        "contradictory signals: the task Completed at 100 %: UpdateSuccessful, but the BMC "
        "reported ActivateFailed (log entry): Installation of image '<image URL>' to 'BIOS' "
        "failed.; versions decide: still behind: BIOS 1.0 (want 1.5)")
    assert "SECRET" not in note


def _power(key: str, at: datetime, source: str = "log") -> UpdateSignal:
    return UpdateSignal(source, f"ResourceEvent.1.0.{key}", ("/redfish/v1/Systems/1",),
                        "/redfish/v1/Systems/1", "", at)


def test_an_update_cd_run_has_ended_once_the_host_rebooted_after_its_last_result() -> None:
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    boot = [_power("ResourcePoweredOff", at(0)), _power("ResourcePoweredOn", at(1))]
    run = [*boot, UpdateSignal("log", "Update.1.3.0.InstallingOnComponent", at=at(2)),
           _failure("ApplyFailed", "NIC", at=at(3))]
    # The CD's own boot comes before its results: still running.
    assert host_rebooted_after_results(run) is False
    off = [*run, _power("ResourcePoweredOff", at(3))]  # same millisecond as the failure
    assert host_rebooted_after_results(off) is False  # off, not yet on again
    # The reboot activates the BIOS (its UpdateSuccessful is no result of the run).
    ended = [*off, UpdateSignal("log", "Update.1.3.0.UpdateSuccessful", ("BIOS", "1.5"),
                                at=at(4)), _power("ResourcePoweredOn", at(4))]
    assert host_rebooted_after_results(ended) is True
    # Pushed events and log entries are judged apart; either may show the end.
    pushed = [_power("ResourcePoweredOff", at(9), "event"),
              _power("ResourcePoweredOn", at(9.5), "event")]
    assert host_rebooted_after_results([*run, *pushed]) is True
    # A BMC that reports no host power: nothing to wait for.
    assert host_rebooted_after_results(run[2:]) is None
