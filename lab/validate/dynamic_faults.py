"""Emulator faults declared on matrix cells (`fleetflash validate --faults FILE`).

A lab or a test proves the harness catches a payload that fails on one
model by injecting an emulator fault on that model's BMCs:

```yaml
faults:
  - model: FF-2U-R750        # required: a model of the matrix
    kind: flash_fails        # required: an emulator fault kind (docs/emulator.md)
    component: BIOS          # optional parameters, as the emulator takes them
    starting: previous       # optional: only this starting point
    delivery: msc            # optional: only this delivery method
```

Every BMC the harness starts for a matching cell gets the fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from emulator.errors import ConfigError
from emulator.faults import Fault, make_fault
from lab.topology import Combination, Delivery, Matrix
from lab.validate.errors import ValidateError

_ENTRY_KEYS = {"model", "kind", "starting", "delivery", "component", "count", "seconds", "mode"}
_PARAMETERS = ("component", "count", "seconds", "mode")


@dataclass(frozen=True)
class CellFault:
    """A fault for every BMC of matching cells; None in `starting`/`delivery` matches all."""

    model: str
    fault: Fault
    starting: str | None = None
    delivery: Delivery | None = None

    def matches(self, combination: Combination) -> bool:
        return (combination.model == self.model
                and self.starting in (None, combination.starting.name)
                and self.delivery in (None, combination.delivery))

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.fault.params.items())
        return f"{self.fault.kind.value}" + (f" ({params})" if params else "")


def faults_for(faults: tuple[CellFault, ...], combination: Combination) -> tuple[Fault, ...]:
    return tuple(cell.fault for cell in faults if cell.matches(combination))


def load_cell_faults(path: str | Path, matrix: Matrix) -> tuple[CellFault, ...]:
    """Read a faults file; ValidateError naming the file, entry and problem."""
    where = str(path)
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidateError(f"cannot read faults file {where}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidateError(f"faults file {where} is not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping) or set(document) != {"faults"} \
            or not isinstance(document["faults"], list):
        raise ValidateError(f"{where}: expected a mapping with one key, 'faults', holding a list")
    return tuple(_entry(where, index, raw, matrix)
                 for index, raw in enumerate(document["faults"]))


def _entry(where: str, index: int, raw: Any, matrix: Matrix) -> CellFault:
    field = f"{where}: faults[{index}]"
    if not isinstance(raw, Mapping):
        raise ValidateError(f"{field}: expected a mapping with model and kind")
    unknown = sorted(str(key) for key in set(raw) - _ENTRY_KEYS)
    if unknown:
        raise ValidateError(f"{field}: unknown key(s) {', '.join(unknown)} "
                            f"(expected: {', '.join(sorted(_ENTRY_KEYS))})")
    model = raw.get("model")
    if model not in matrix.model_names:
        raise ValidateError(f"{field}.model: '{model}' is not a model of the matrix "
                            f"({', '.join(matrix.model_names)})")
    starting = raw.get("starting")
    if starting is not None:
        entry = next(m for m in matrix.models if m.model == model)
        names = [point.name for point in entry.starting]
        if starting not in names:
            raise ValidateError(f"{field}.starting: {model} has no starting point "
                                f"'{starting}' ({', '.join(names)})")
    delivery = raw.get("delivery")
    if delivery is not None and delivery not in {d.value for d in matrix.deliveries}:
        raise ValidateError(f"{field}.delivery: '{delivery}' is not a delivery of the matrix "
                            f"({', '.join(d.value for d in matrix.deliveries)})")
    params = {name: raw[name] for name in _PARAMETERS if name in raw}
    try:
        fault = make_fault(str(raw.get("kind")), params)
    except ConfigError as exc:
        raise ValidateError(f"{field}: {exc}") from exc
    return CellFault(str(model), fault, None if starting is None else str(starting),
                     None if delivery is None else Delivery(delivery))
