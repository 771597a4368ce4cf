"""Readers for the topology's value sections: firmware maps, timings, the matrix."""

from __future__ import annotations

import re
from datetime import time, timedelta
from types import MappingProxyType

import yaml

from firmware_payloads import VersionError, parse_version
from lab.topology import (
    Delivery,
    EmulatorTimings,
    MaintenanceWindow,
    Matrix,
    MatrixModel,
    QosClass,
    StartingFirmware,
)
from lab.topology_yaml import NAME_PATTERN, Reader, describe, join

# Component names as the manifest and FirmwareInventory spell them: BMC, BIOS, NIC, RAID...
COMPONENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
TIMING_KEYS = ("flash_seconds", "reset_seconds", "bmc_restart_seconds")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def read_firmware(reader: Reader, node: yaml.Node, field: str) -> dict[str, str] | None:
    """A component -> version mapping, e.g. {BMC: "5.10.0", BIOS: "2.3.1"}.

    Versions must parse with firmware_payloads.parse_version. Returns None
    after recording a problem for any bad entry.
    """
    entries = reader.mapping(node, field, any_keys=True)
    if entries is None:
        return None
    if not entries:
        reader.fail(node, field, "must name at least one component")
        return None
    firmware: dict[str, str] = {}
    ok = True
    for component, value_node in entries.items():
        where = join(field, component)
        if not COMPONENT_PATTERN.match(component):
            reader.fail(value_node, where, "component names are letters, digits, '_' or '-' "
                        "starting with a letter")
            ok = False
            continue
        version = reader.text(value_node, where)
        if version is None:
            ok = False
            continue
        try:
            parse_version(version)
        except VersionError:
            reader.fail(value_node, where, "not a version (dotted numbers like 2.3.1 "
                        f"or 1.4.0-b17), got {describe(value_node)}")
            ok = False
            continue
        firmware[component] = version
    return firmware if ok else None


def read_timings(reader: Reader, node: yaml.Node) -> EmulatorTimings:
    """The `emulator:` section; keys left out keep EmulatorTimings' defaults."""
    entries = reader.mapping(node, "emulator", optional=TIMING_KEYS) or {}
    values = {key: reader.seconds(entries[key], join("emulator", key))
              for key in TIMING_KEYS if key in entries}
    return EmulatorTimings(**{key: value for key, value in values.items() if value is not None})


def read_matrix(reader: Reader, node: yaml.Node) -> Matrix | None:
    """The `matrix:` section: models -> named starting points, and delivery methods.

    ```
    matrix:
      deliveries: [simple_update, multipart_push, msc]    # optional; default all three
      models:
        FF-1U-R450:
          - {name: q2-2026, firmware: {BMC: "5.10.0", BIOS: "2.3.1"}}
    ```
    """
    entries = reader.mapping(node, "matrix", required=("models",), optional=("deliveries",))
    if entries is None:
        return None
    deliveries: list[Delivery] = list(Delivery)
    if "deliveries" in entries:
        deliveries = []
        for index, item in enumerate(reader.sequence(entries["deliveries"], "matrix.deliveries")):
            where = join("matrix.deliveries", index)
            value = reader.choice(item, where, tuple(Delivery))
            if value is None:
                continue
            if Delivery(value) in deliveries:
                reader.fail(item, where, f"'{value}' is listed twice")
                continue
            deliveries.append(Delivery(value))
    models: list[MatrixModel] = []
    model_entries = reader.mapping(entries["models"], "matrix.models", any_keys=True) \
        if "models" in entries else None
    if model_entries is not None and not model_entries:
        reader.fail(entries["models"], "matrix.models", "must name at least one model")
    for model, value_node in (model_entries or {}).items():
        where = join("matrix.models", model)
        if not NAME_PATTERN.match(model):
            reader.fail(value_node, where, "model names are letters, digits, '.', '_' or '-'")
            continue
        starting = _read_starting_points(reader, value_node, where)
        if starting:
            models.append(MatrixModel(model=model, starting=tuple(starting)))
    if model_entries is None or not deliveries:
        return None
    return Matrix(models=tuple(models), deliveries=tuple(deliveries))


def _read_starting_points(reader: Reader, node: yaml.Node, field: str) -> list[StartingFirmware]:
    points: list[StartingFirmware] = []
    names: set[str] = set()
    for index, item in enumerate(reader.sequence(node, field)):
        where = join(field, index)
        entries = reader.mapping(item, where, required=("name", "firmware"))
        if not entries or "name" not in entries or "firmware" not in entries:
            continue
        name = reader.name(entries["name"], join(where, "name"))
        firmware = read_firmware(reader, entries["firmware"], join(where, "firmware"))
        if name is None or firmware is None:
            continue
        if name in names:
            reader.fail(entries["name"], join(where, "name"),
                        f"duplicate starting point '{name}' for this model")
            continue
        names.add(name)
        points.append(StartingFirmware(name=name, firmware=MappingProxyType(firmware)))
    return points


def read_qos_classes(reader: Reader, node: yaml.Node) -> list[QosClass]:
    """The `qos_classes:` list (gateway.domain.windows.QosClass fields).

    ```
    qos_classes:
      - {name: standard, order: 0}
      - name: critical
        order: 1               # lower updates earlier; canaries come from the lowest
        manual_only: false     # true: an operator must release these nodes
        windows: [{days: [sat, sun], start: "22:00", hours: 8}]   # UTC
    ```
    """
    classes: list[QosClass] = []
    for index, item in enumerate(reader.sequence(node, "qos_classes")):
        where = join("qos_classes", index)
        entries = reader.mapping(item, where, required=("name",),
                                 optional=("order", "manual_only", "windows"))
        if not entries or "name" not in entries:
            continue
        name = reader.name(entries["name"], join(where, "name"))
        order = reader.integer(entries["order"], join(where, "order")) \
            if "order" in entries else 0
        manual = reader.boolean(entries["manual_only"], join(where, "manual_only")) \
            if "manual_only" in entries else False
        windows: list[MaintenanceWindow | None] = []
        if "windows" in entries:
            windows = [_read_window(reader, window, join(join(where, "windows"), number))
                       for number, window in enumerate(
                           reader.sequence(entries["windows"], join(where, "windows")))]
        if name is None or order is None or manual is None or None in windows:
            continue
        if name in {known.name for known in classes}:
            reader.fail(entries["name"], join(where, "name"), f"duplicate QoS class '{name}'")
            continue
        classes.append(QosClass(name=name, order=order, manual_only=manual,
                                windows=tuple(w for w in windows if w is not None)))
    return classes


def _read_window(reader: Reader, node: yaml.Node, field: str) -> MaintenanceWindow | None:
    entries = reader.mapping(node, field, required=("days", "start", "hours"))
    if not entries or len(entries) < 3:
        return None
    days: list[int] = []
    for index, item in enumerate(reader.sequence(entries["days"], join(field, "days"))):
        day = reader.choice(item, join(join(field, "days"), index), WEEKDAYS)
        if day is None:
            return None
        days.append(WEEKDAYS.index(day))
    start_text = reader.text(entries["start"], join(field, "start"))
    clock = CLOCK.match(start_text or "")
    if start_text is not None and clock is None:
        reader.fail(entries["start"], join(field, "start"),
                    f"must be a UTC time HH:MM, got {describe(entries['start'])}")
    hours = reader.seconds(entries["hours"], join(field, "hours"), maximum=168, unit="hours")
    if hours is not None and hours <= 0:
        reader.fail(entries["hours"], join(field, "hours"), "must be more than 0 hours")
        hours = None
    if not days or clock is None or hours is None:
        return None
    return MaintenanceWindow(weekdays=tuple(days),
                             start=time(int(clock.group(1)), int(clock.group(2))),
                             length=timedelta(hours=hours))
