"""What a BMC says about an update, wherever it says it: a pushed event, a message on
the update task, or an entry in one of its logs (Redfish Update registry, DSP8010).

MONITOR does not wait for versions that will never arrive when the BMC has already
said a component failed; yet versions decide (a message can be stale or wrong), and
a message about a component the campaign did not touch means nothing to the node.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

# Update-registry messages that say a component's update failed (Update.1.x).
FAILURE_KEYS = frozenset({"TransferFailed", "VerificationFailed", "ApplyFailed",
                          "ActivateFailed"})
# Failures a new delivery can cure: the image did not arrive whole. An apply or an
# activation the device refused fails the node (redelivering would repeat it).
REDELIVERABLE_KEYS = frozenset({"TransferFailed", "VerificationFailed"})
SOURCES = ("event", "task", "log")
# The host's power, as a BMC reports it (ResourceEvent 1.x): an update CD's run ends
# with the host rebooting to disk, which activates what needs a host reset.
HOST_OFF, HOST_ON = "ResourcePoweredOff", "ResourcePoweredOn"
# What activation itself writes, at that reboot or at the BMC's restart: not a result
# of the run (a run's last result comes before the reboot that ends it).
ACTIVATION_KEYS = frozenset({"UpdateSuccessful", "ActivateFailed"})
_URL = re.compile(r"https?://\S+?(?=['\"\s]|$)")


@dataclass(frozen=True)
class UpdateSignal:
    """One message. ``source``: "event" (pushed), "task" (on the update task) or "log"
    (a log entry); ``message_id``: as the BMC wrote it ("Update.1.3.0.ApplyFailed");
    ``origin``: OriginOfCondition URI ("" if none); ``at``: when, on the gateway's
    clock (None: unknown, e.g. a task message)."""

    source: str
    message_id: str
    args: tuple[str, ...] = ()
    origin: str = ""
    message: str = ""
    at: datetime | None = None

    @property
    def key(self) -> str:
        """The message key: "ApplyFailed" of "Update.1.3.0.ApplyFailed"."""
        return self.message_id.rsplit(".", 1)[-1]

    @property
    def is_host_power(self) -> bool:
        """The host powered off or on (ResourcePoweredOff/On)."""
        return self.message_id.split(".", 1)[0] == "ResourceEvent" and self.key in (
            HOST_OFF, HOST_ON)

    @property
    def is_failure(self) -> bool:
        return self.message_id.split(".", 1)[0] == "Update" and self.key in FAILURE_KEYS

    def describe(self) -> str:
        """One line naming the message, where it was seen and what it said (URLs removed:
        a media URL is a capability)."""
        where = {"event": "pushed event", "task": "task message", "log": "log entry"}
        text = _URL.sub("<image URL>", self.message) if self.message else ", ".join(
            _URL.sub("<image URL>", arg) for arg in self.args)
        return f"{self.key} ({where.get(self.source, self.source)}): {text}".strip()


class ReportedFailure(NamedTuple):
    """A failure message about one of the node's target components."""

    component: str
    signal: UpdateSignal

    @property
    def redeliverable(self) -> bool:
        """A new delivery may cure it (the image did not arrive whole)."""
        return self.signal.key in REDELIVERABLE_KEYS


def component_of(signal: UpdateSignal, aliases: Mapping[str, Collection[str]]) -> str | None:
    """The component (a key of ``aliases``) the signal is about, or None. ``aliases``:
    component -> what names it (its FirmwareInventory Id and member URI). The origin
    decides when it names a component; otherwise a message argument naming one (the
    Update messages name the device as an argument: ApplyFailed(image, device))."""
    names = {name: component for component, known in aliases.items()
             for name in (component, *known, *(uri.rstrip("/").rsplit("/", 1)[-1]
                                               for uri in known))}
    for candidate in (signal.origin, *signal.args):
        found = names.get(candidate) or names.get(candidate.rstrip("/").rsplit("/", 1)[-1])
        if found is not None and (candidate == signal.origin or not _is_url(candidate)):
            return found
    return None


def _is_url(text: str) -> bool:
    # An image argument ("http://.../image.iso") never names a device, whatever it ends in.
    return "://" in text


def reported_failures(signals: Iterable[UpdateSignal], aliases: Mapping[str, Collection[str]],
                      since: datetime | None = None) -> list[ReportedFailure]:
    """The failure messages about the node's target components (``aliases``' keys), at
    or after ``since`` when both times are known; one per component and source, first
    seen first. Failures about other components are left out: the campaign did not
    touch them."""
    found: list[ReportedFailure] = []
    seen: set[tuple[str, str]] = set()
    for signal in signals:
        if not signal.is_failure:
            continue
        if since is not None and signal.at is not None and signal.at < since:
            continue
        component = component_of(signal, aliases)
        if component is None or (component, signal.source) in seen:
            continue
        seen.add((component, signal.source))
        found.append(ReportedFailure(component, signal))
    return found


def failure_note(failures: Iterable[ReportedFailure], behind: Iterable[str],
                 task_said: str | None = None) -> str:
    """The node's error: what the BMC reported and, versions deciding, what is behind.
    ``task_said``: the task's own word when it contradicts the failure (it completed)."""
    reported = "; ".join(f.signal.describe() for f in failures)
    lead = f"the BMC reported {reported}"
    if task_said:
        lead = f"contradictory signals: the {task_said}, but {lead}"
    still = ", ".join(behind)
    return f"{lead}; versions decide: still behind: {still}"[:1000]


def host_rebooted_after_results(signals: Iterable[UpdateSignal]) -> bool | None:
    """Whether the host went off, then on, at or after the update's last result: the
    update CD's run has ended (it reboots the host to disk after everything it wrote,
    the BMC's restart into new firmware included). None when the signals show no host
    power at all (a BMC that does not report it: there is nothing to wait for). Pushed
    events and log entries are judged apart (their times come from different clocks);
    either one that shows the reboot suffices."""
    power_seen = False
    for source in SOURCES:
        timed = [s for s in signals if s.source == source and s.at is not None]
        offs = [s.at for s in timed if s.is_host_power and s.key == HOST_OFF]
        ons = [s.at for s in timed if s.is_host_power and s.key == HOST_ON]
        power_seen = power_seen or bool(offs or ons)
        results = [s.at for s in timed if s.message_id.split(".", 1)[0] == "Update"
                   and s.key not in ACTIVATION_KEYS]
        last = max((at for at in results if at is not None), default=None)
        if any(off is not None and (last is None or off >= last)
               and any(on is not None and on >= off for on in ons) for off in offs):
            return True
    return False if power_seen else None
