"""Reading BMC inventories into [[bmcs]]-shaped rows: CSV, Ansible YAML/INI
inventories and NetBox device exports (docs/configuration.md, "Importing BMCs").

Each reader returns the rows it understood and the problems it found, each with
its place in the file ("inventory.csv:12"), so the planner can report every bad
row at once. Readers never read password values: a password given inline is a
problem of its row, because only password_file or password_env are stored.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.onboarding.errors import OnboardingError

# [[bmcs]] keys a CSV may carry, plus `address` (becomes https://ADDRESS).
CSV_COLUMNS = ("name", "cluster", "group", "url", "address", "username", "password_file",
               "password_env", "qos", "tls", "fingerprint", "ca_bundle", "timeout_s",
               "system", "systems")
INLINE_PASSWORD = ("an inline password is refused: give password_file (a file only the "
                   "gateway can read) or password_env instead")
FORMATS = ("csv", "ansible-yaml", "ansible-ini", "netbox")


@dataclass(frozen=True)
class HostVars:
    """Names of the inventory variables (Ansible) or custom fields (NetBox) read."""

    address: str = "bmc_address"
    url: str = "bmc_url"
    user: str = "bmc_user"
    password_file: str = "bmc_password_file"
    password_env: str = "bmc_password_env"
    password: str = "bmc_password"  # only to refuse it
    cluster: str = "fleetflash_cluster"
    group: str = "fleetflash_group"

    @classmethod
    def with_overrides(cls, pairs: Mapping[str, str]) -> HostVars:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(pairs) - known)
        if unknown:
            raise OnboardingError(f"unknown variable role(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")
        return cls(**pairs)


@dataclass(frozen=True)
class ImportDefaults:
    """Values for rows that do not set them (`--cluster`, `--group`, ...)."""

    cluster: str = ""
    group: str = ""
    username: str = ""
    tls: str = ""
    variables: HostVars = field(default_factory=HostVars)


@dataclass(frozen=True)
class ImportRow:
    where: str  # "file:line"
    entry: dict[str, Any]


@dataclass(frozen=True)
class RowProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ReadResult:
    rows: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def detect_format(path: Path, data: bytes) -> str:
    """The format of `path` from its extension, or from its first character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "netbox"
    if suffix in (".yml", ".yaml"):
        return "ansible-yaml"
    if suffix in (".ini", ".cfg", ".hosts") or path.name in ("hosts", "inventory"):
        return "ansible-ini"
    raise OnboardingError(f"{path}: cannot tell the format from the name; give --format "
                          f"({', '.join(FORMATS)})")


def read_inventory(name: str, data: bytes, fmt: str, defaults: ImportDefaults) -> ReadResult:
    """Rows and problems of inventory `data` (named `name` in messages). Raises
    OnboardingError when the file as a whole cannot be read (encoding, syntax)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OnboardingError(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                              f"offset {exc.start}); save it as UTF-8") from exc
    if "\x00" in text:
        raise OnboardingError(f"{name}: holds NUL characters; not a text inventory")
    readers = {"csv": _csv, "ansible-yaml": _ansible_yaml, "ansible-ini": _ansible_ini,
               "netbox": _netbox}
    if fmt not in readers:
        raise OnboardingError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return readers[fmt](name, text, defaults)


def _finish(where: str, fields: dict[str, Any], defaults: ImportDefaults,
            result: ReadResult) -> None:
    """Apply defaults, turn an address into a URL, refuse inline passwords."""
    if fields.pop("password", None) not in (None, ""):
        result.problems.append(RowProblem(where, INLINE_PASSWORD))
        return
    address = fields.pop("address", "")
    if address and not fields.get("url"):
        fields["url"] = address if "://" in address else f"https://{address}"
    for key in ("cluster", "group", "username", "tls"):
        if not fields.get(key) and getattr(defaults, key):
            fields[key] = getattr(defaults, key)
    entry = {k: v for k, v in fields.items() if v not in (None, "")}
    if not entry.get("name"):
        result.problems.append(RowProblem(where, "the BMC has no name"))
        return
    result.rows.append(ImportRow(where, entry))


# -- CSV ----------------------------------------------------------------------------------

def _csv(name: str, text: str, defaults: ImportDefaults) -> ReadResult:
    result = ReadResult()
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in CSV_COLUMNS and c != "password"]
        if not header:
            raise OnboardingError(f"{name}:1: no header row; columns: {', '.join(CSV_COLUMNS)}")
        if unknown or len(set(header)) != len(header):
            what = (f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown
                    else "a column appears twice")
            raise OnboardingError(f"{name}:1: {what}; columns: {', '.join(CSV_COLUMNS)}")
        for row in reader:
            where = f"{name}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                result.problems.append(RowProblem(
                    where, f"has {len(header)} columns in the header but a different "
                    "number here"))
                continue
            fields: dict[str, Any] = {k: v.strip() for k, v in row.items()}
            if fields.get("timeout_s"):
                try:
                    fields["timeout_s"] = float(fields["timeout_s"])
                except ValueError:
                    result.problems.append(RowProblem(where, "timeout_s must be a number"))
                    continue
            _finish(where, fields, defaults, result)
    except csv.Error as exc:
        raise OnboardingError(f"{name}: not valid CSV: {exc}") from exc
    return result


# -- Ansible ------------------------------------------------------------------------------

def _host_fields(host: str, hostvars: Mapping[str, Any], ansible_group: str,
                 defaults: ImportDefaults) -> dict[str, Any]:
    names = defaults.variables

    def text(var: str) -> str:
        value = hostvars.get(var, "")
        return str(value) if value is not None else ""

    return {"name": host, "url": text(names.url), "address": text(names.address),
            "username": text(names.user), "password_file": text(names.password_file),
            "password_env": text(names.password_env), "password": text(names.password),
            "cluster": text(names.cluster),
            "group": text(names.group) or (defaults.group or ansible_group)}


def _ansible_yaml(name: str, text: str, defaults: ImportDefaults) -> ReadResult:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise OnboardingError(f"{name}: not valid YAML: {exc}") from exc
    try:
        root = loader.get_single_node()
        if root is None:
            raise OnboardingError(f"{name}: empty inventory")
        result = ReadResult()
        found: dict[str, tuple[str, dict[str, Any], str]] = {}

        def group(node: yaml.Node, group_name: str, inherited: dict[str, Any]) -> None:
            if not isinstance(node, yaml.MappingNode):
                if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
                    return
                raise OnboardingError(f"{name}:{node.start_mark.line + 1}: group "
                                      f"{group_name!r} must be a mapping")
            parts = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            group_vars = dict(inherited)
            if "vars" in parts:
                loaded = loader.construct_object(parts["vars"], deep=True)
                if isinstance(loaded, dict):
                    group_vars.update(loaded)
            hosts = parts.get("hosts")
            if isinstance(hosts, yaml.MappingNode):
                for key, value in hosts.value:
                    host = str(key.value)
                    where = f"{name}:{key.start_mark.line + 1}"
                    hv = loader.construct_object(value, deep=True) or {}
                    if not isinstance(hv, dict):
                        result.problems.append(RowProblem(where, "host vars must be a mapping"))
                        continue
                    merged = {**group_vars, **(found[host][1] if host in found else {}), **hv}
                    found[host] = (found.get(host, (where,))[0], merged, group_name)
            children = parts.get("children")
            if isinstance(children, yaml.MappingNode):
                for key, value in children.value:
                    group(value, str(key.value), group_vars)

        if not isinstance(root, yaml.MappingNode):
            raise OnboardingError(f"{name}: an Ansible inventory is a mapping of groups")
        for key, value in root.value:
            group(value, str(key.value), {})
    except yaml.YAMLError as exc:
        raise OnboardingError(f"{name}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    for host, (where, hostvars, ansible_group) in found.items():
        _finish(where, _host_fields(host, hostvars, ansible_group, defaults), defaults, result)
    return result


def _ansible_ini(name: str, text: str, defaults: ImportDefaults) -> ReadResult:
    result = ReadResult()
    section, kind = "ungrouped", "hosts"
    hosts: dict[str, tuple[str, dict[str, Any], str]] = {}
    group_vars: dict[str, dict[str, Any]] = {}
    parents: dict[str, str] = {}  # child -> parent
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{name}:{number}"
        if line.startswith("["):
            if not line.endswith("]"):
                raise OnboardingError(f"{where}: section header must end with ']'")
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            result.problems.append(RowProblem(where, f"cannot split the line: {exc}"))
            continue
        if kind == "children":
            parents[words[0]] = section
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                result.problems.append(RowProblem(where, "a vars line must be KEY=VALUE"))
                continue
            group_vars.setdefault(section, {})[key.strip()] = value.strip().strip("'\"")
        else:
            hostvars: dict[str, Any] = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    result.problems.append(RowProblem(where, f"{word!r} is not KEY=VALUE"))
                    break
                hostvars[key] = value
            else:
                host = words[0]
                before = hosts.get(host, (where, {}, section))
                hosts[host] = (before[0], {**before[1], **hostvars}, before[2])
    for host, (where, hostvars, section) in hosts.items():
        merged: dict[str, Any] = {}
        chain, seen = [section], {section}
        while chain[-1] in parents and parents[chain[-1]] not in seen:
            seen.add(parents[chain[-1]])
            chain.append(parents[chain[-1]])
        for group_name in ["all", *reversed(chain)]:
            merged.update(group_vars.get(group_name, {}))
        merged.update(hostvars)
        ansible_group = "" if section == "ungrouped" else section
        _finish(where, _host_fields(host, merged, ansible_group, defaults), defaults, result)
    return result


# -- NetBox -------------------------------------------------------------------------------

def _netbox(name: str, text: str, defaults: ImportDefaults) -> ReadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OnboardingError(f"{name}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    devices = data.get("results") if isinstance(data, dict) else data
    if not isinstance(devices, list):
        raise OnboardingError(f"{name}: expected a NetBox device list (a JSON array, or an "
                              "object with \"results\")")
    names = defaults.variables
    result = ReadResult()
    lines = _element_lines(text, isinstance(data, dict))
    for index, device in enumerate(devices):
        line = lines[index] if index < len(lines) else 0
        where = f"{name}:{line}" if line else f"{name}:device[{index}]"
        if not isinstance(device, dict):
            result.problems.append(RowProblem(where, "a device must be a JSON object"))
            continue
        if isinstance(device.get("name"), str):
            where += f" ({device['name']})"
        custom = device.get("custom_fields") or {}
        if not isinstance(custom, dict):
            result.problems.append(RowProblem(where, "custom_fields must be an object"))
            continue
        address = _ip_of(device.get("oob_ip")) or _ip_of(custom.get(names.address))
        rack = device.get("rack")
        rack_name = rack.get("name", "") if isinstance(rack, dict) else ""
        fields: dict[str, Any] = {
            "name": device.get("name") if isinstance(device.get("name"), str) else "",
            "url": str(custom.get(names.url) or ""), "address": address,
            "username": str(custom.get(names.user) or ""),
            "password_file": str(custom.get(names.password_file) or ""),
            "password_env": str(custom.get(names.password_env) or ""),
            "password": str(custom.get(names.password) or ""),
            "cluster": str(custom.get(names.cluster) or ""),
            "group": str(custom.get(names.group) or defaults.group or rack_name)}
        _finish(where, fields, defaults, result)
    return result


def _element_lines(text: str, in_results: bool) -> list[int]:
    """The line each device starts on: the top-level array's elements, or those of the
    top-level object's "results" (the text is known to be valid JSON)."""
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if in_results:
        position = _skip(text, position + 1)  # past "{"
        while position < len(text) and text[position] != "}":
            key, position = decoder.raw_decode(text, position)
            position = _skip(text, _skip(text, position) + 1)  # past ":"
            if key == "results":
                break
            _value, position = decoder.raw_decode(text, position)
            position = _skip(text, position)
            if text[position] == ",":
                position = _skip(text, position + 1)
        else:
            return []
    if position >= len(text) or text[position] != "[":
        return []
    lines = []
    position = _skip(text, position + 1)
    while position < len(text) and text[position] != "]":
        lines.append(text.count("\n", 0, position) + 1)
        _value, position = decoder.raw_decode(text, position)
        position = _skip(text, position)
        if text[position] == ",":
            position = _skip(text, position + 1)
    return lines


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _ip_of(value: Any) -> str:
    """The address of a NetBox IP object ({"address": "10.0.0.5/24"}) or string."""
    if isinstance(value, dict):
        value = value.get("address")
    if not isinstance(value, str) or not value:
        return ""
    address = value.split("/", 1)[0]
    return f"[{address}]" if ":" in address else address
