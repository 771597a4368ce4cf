"""Vendor quirks: named, composable deviations a real BMC shows, switched on per BMC.

Each quirk reproduces one behaviour recorded in public code or issue trackers
(docs/interop.md has the table: quirk, vendors, source, how the gateway copes,
the test that proves it). A BMC with no quirks behaves like the DMTF schemas
describe (the ``dmtf`` personality). Quirks are turned on with
``fleetflash emulator serve --quirk NAME`` (every BMC) or ``--quirk BMC=NAME``
(one BMC), in a topology file (``quirks:`` per node or per group) or through
a personality (emulator/personalities.py), which is a named bundle of them.

A quirk that takes a value is written ``NAME=VALUE`` (``session-limit=4``).
Unknown names, values for quirks that take none (or none where one is
needed) and contradictory sets are refused with ConfigError naming them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from emulator.errors import ConfigError


@dataclass(frozen=True)
class QuirkInfo:
    """What a quirk does, who shows it and where that is recorded."""

    name: str
    summary: str
    vendors: str
    source: str
    # None: takes no value. Otherwise the value's meaning and its default.
    value_help: str | None = None
    default_value: int | None = None
    conflicts: tuple[str, ...] = ()


def _q(name: str, summary: str, vendors: str, source: str, **kw: object) -> QuirkInfo:
    return QuirkInfo(name, summary, vendors, source, **kw)  # type: ignore[arg-type]


_TASK_SHAPES = ("task-location-only", "task-in-body-only", "task-empty-202")

CATALOGUE: dict[str, QuirkInfo] = {q.name: q for q in (
    _q("task-location-only", "a 202 carries the task monitor only in its Location header",
       "many (DMTF: 202 bodies are optional)", "sushy taskmonitor.py; DMTF Tacklebox tasks.py",
       conflicts=tuple(n for n in _TASK_SHAPES if n != "task-location-only")),
    _q("task-in-body-only", "a 202 carries the Task in its body and no Location header",
       "various", "gofish PR 495; DMTF Tacklebox tasks.py",
       conflicts=tuple(n for n in _TASK_SHAPES if n != "task-in-body-only")),
    _q("task-empty-202", "a 202 with no body (Location header only, body empty)",
       "various", "DMTF Redfish specification (202 body optional); sushy taskmonitor.py",
       conflicts=tuple(n for n in _TASK_SHAPES if n != "task-empty-202")),
    _q("task-new-until-polled", "TaskState stays New, then Starting, for the first polls",
       "iDRAC, others", "Ironic redfish/firmware.py; community.general redfish_utils"),
    _q("task-stopping-while-staged", "a staged image's task reports TaskState Stopping",
       "OpenBMC bmcweb", "bmcweb redfish-core/lib/update_service.hpp"),
    _q("task-monitor-404-at-first", "the task monitor answers 404 for the first seconds",
       "iDRAC10", "sushy commit faaf6cb (retry 404 on a fresh monitor)",
       value_help="seconds of 404 after the 202", default_value=3),
    _q("task-lost-on-bmc-restart", "tasks are gone after the BMC restarts",
       "OpenBMC bmcweb, iDRAC", "bmcweb update_service.hpp; Ironic redfish/firmware.py"),
    _q("job-instead-of-task", "the update moves to a Job (Update.OperationTransitionedToJob)",
       "Dell iDRAC", "community.general redfish_utils"),
    _q("staged-until-host-reset",
       "the task completes at once; versions change only at the next host reset",
       "HPE iLO (BIOS), iDRAC (reboot pending)",
       "Ironic redfish/firmware.py; dell/iDRAC-Redfish-Scripting issue 266",
       conflicts=("staged-silently-until-host-reset",)),
    _q("staged-silently-until-host-reset",
       "the task completes at once with no hint (no AwaitToActivate, no ResetRequired); "
       "versions change only at the next host reset",
       "HPE iLO (BIOS; the task only says Completed), Dell iDRAC (a pending job the "
       "update task does not mention)",
       "Ironic redfish/firmware.py (reboots after the update whatever the task said); "
       "dell/iDRAC-Redfish-Scripting issue 266",
       conflicts=("staged-until-host-reset",)),
    _q("simpleupdate-needs-transferprotocol", "SimpleUpdate without TransferProtocol: 400",
       "various", "sushy updateservice.py (always sends TransferProtocol)"),
    _q("simpleupdate-needs-targets", "SimpleUpdate without Targets: 400",
       "various (Wiwynn GB200 wants a Targets list)", "libredfish PR 39; Ironic firmware.py"),
    _q("no-multipart-push", "no MultipartHttpPushUri and no other push: SimpleUpdate and "
       "virtual media remain (the upload URI answers 404)",
       "older OpenBMC", "bmc-toolbox/bmclib issue 341; DMTF Tacklebox rf_update.py",
       conflicts=("http-push-only",)),
    _q("http-push-only", "HttpPushUri instead of MultipartHttpPushUri: the image is the raw "
       "POST body, targets and apply time are UpdateService properties PATCHed first",
       "OpenBMC bmcweb before its multipart push, older iDRAC and iLO firmware",
       "DMTF UpdateService_v1.xml (HttpPushUri, HttpPushUriTargets, HttpPushUriOptions); "
       "DMTF Tacklebox rf_update.py; sushy updateservice.py (http_push_uri)",
       conflicts=("no-multipart-push",)),
    _q("one-update-at-a-time", "503 + Retry-After while an update runs (default: 409)",
       "OpenBMC bmcweb", "bmcweb update_service.hpp"),
    _q("vmedia-under-systems", "virtual media under Systems/<id>/VirtualMedia, not Managers",
       "Dell iDRAC >= 6, others", "Ironic redfish/boot.py; terraform-provider-redfish PR 174"),
    _q("vmedia-insert-needs-inserted", "InsertMedia without Inserted: true is refused",
       "Lenovo SD530", "sushy virtual_media.py",
       conflicts=("vmedia-insert-rejects-inserted-writeprotected",)),
    _q("vmedia-insert-rejects-inserted-writeprotected",
       "InsertMedia with Inserted or WriteProtected is refused",
       "Supermicro X11/X12, iLO4", "sushy virtual_media.py; community.general issue 6969",
       conflicts=("vmedia-insert-needs-inserted",)),
    _q("vmedia-insert-action-info", "InsertMedia carries @Redfish.ActionInfo: its "
       "parameters (Required, AllowableValues) as this BMC takes them",
       "OpenBMC (bmcweb forks), Lenovo (python-redfish-lenovo reads it on SR635/SR655)",
       "OpenBMC fork's bmcweb virtual_media.hpp (InsertMediaActionInfo); "
       "python-redfish-lenovo mount_virtual_media; gofish VirtualMedia.InsertMediaActionInfo"),
    _q("vmedia-eject-needs-empty-body", "EjectMedia without a body (not even {}) is refused",
       "HPE iLO", "sushy virtual_media.py"),
    _q("vmedia-stays-inserted-until-ejected-twice",
       "after the first EjectMedia the slot still reports Inserted",
       "Dell", "Ironic redfish/boot.py (eject before insert, retry)"),
    _q("vmedia-boot-target-usbcd", "boot override allows UsbCd, not Cd",
       "Supermicro", "sushy commit 595ffbc"),
    _q("etag-required-on-patch", "PATCH without, or with a stale, If-Match gets 412",
       "several", "sushy commit 4ff512a (connector _etag_handler)"),
    _q("session-limit", "503 SessionLimitExceeded past N sessions",
       "iDRAC (RAC0218)", "gofish issue 75; check_redfish issue 89",
       value_help="most sessions at once", default_value=4),
    _q("sessions-survive-bmc-restart", "sessions are kept across the BMC's own restart",
       "OpenBMC (iDRAC loses them, the default)", "bmcweb persistent_data"),
    _q("inventory-ids-embed-version",
       "FirmwareInventory Ids embed the version (Installed-<n>-<version>) and change on update",
       "Dell iDRAC", "dell/iDRAC-Redfish-Scripting issue 192; sonic-buildimage PR 29631"),
    _q("inventory-lists-staged-image", "FirmwareInventory lists an extra, not-yet-active image",
       "OpenBMC", "openbmc/phosphor-bmc-code-mgmt issue 13"),
    _q("transient-500-sys518", "the first N update requests get 500 with IDRAC SYS518",
       "iDRAC", "sushy connector.py; Ironic redfish/management.py",
       value_help="refusals before success", default_value=2),
    _q("transient-400-system-state",
       "the first N update requests get 400 iLO.InvalidOperationForSystemState",
       "HPE iLO", "sushy connector.py; Ironic redfish/management.py",
       value_help="refusals before success", default_value=2),
    _q("reshaped-by-bmc-update", "its own firmware update reshapes the BMC: virtual media "
       "moves to Systems, FirmwareInventory Ids embed versions, multipart push is dropped",
       "Dell iDRAC (6 to 7 moved virtual media), NVIDIA (renamed Ids)",
       "Ironic redfish/boot.py (tries both places); sonic-buildimage PR 29631"),
    _q("no-firmware-inventory", "FirmwareInventory answers 404 (versions only in BiosVersion "
       "and Manager.FirmwareVersion)", "sushy-tools, older BMCs", "sushy-tools"),
)}


# What reshaped-by-bmc-update adds once the BMC runs its new firmware.
RESHAPED_BY_BMC_UPDATE = ("vmedia-under-systems", "inventory-ids-embed-version",
                          "no-multipart-push")


@dataclass(frozen=True)
class Quirks:
    """The quirks one BMC shows: names, and values for those that take one."""

    values: Mapping[str, int | None] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __bool__(self) -> bool:
        return bool(self.values)

    def value(self, name: str) -> int:
        """The value of a quirk that takes one (its default when none was given)."""
        info = CATALOGUE[name]
        given = self.values.get(name)
        if given is not None:
            return given
        assert info.default_value is not None, f"{name} takes no value"
        return info.default_value

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    def merged(self, other: Quirks) -> Quirks:
        """These quirks plus other's (other's values win); contradictions refused."""
        combined = dict(self.values)
        combined.update(other.values)
        return _checked(combined)


def parse_quirk(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME=VALUE`` -> (name, value); ConfigError naming what is wrong."""
    name, sep, raw = text.strip().partition("=")
    name = name.strip()
    info = CATALOGUE.get(name)
    if info is None:
        raise ConfigError(f"unknown quirk {name!r}" + _did_you_mean(name))
    if not sep:
        return name, None
    if info.value_help is None:
        raise ConfigError(f"quirk {name!r} takes no value (got {raw!r})")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"quirk {name!r} needs a whole number ({info.value_help}), "
                          f"got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"quirk {name!r} needs a value of 0 or more, got {value}")
    return name, value


def parse_quirks(texts: Iterable[str]) -> Quirks:
    """Quirks from ``NAME[=VALUE]`` strings; ConfigError for unknown or contradictory ones."""
    values: dict[str, int | None] = {}
    for text in texts:
        name, value = parse_quirk(text)
        values[name] = value
    return _checked(values)


def _checked(values: Mapping[str, int | None]) -> Quirks:
    for name in sorted(values):
        for other in CATALOGUE[name].conflicts:
            if other in values:
                raise ConfigError(f"quirks {name!r} and {other!r} contradict each other")
    return Quirks(dict(values))


def _did_you_mean(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(CATALOGUE), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(CATALOGUE))}"
