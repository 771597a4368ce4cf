"""Plausible power and thermal readings for a BMC's chassis.

They follow the host's power state and the model's size (a 1U server draws
less and spins its fans faster than a 4U one), drifting slowly and
deterministically with time so successive reads differ like real sensors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

FAN_COUNT = 4
MAX_FAN_RPM = 16000


@dataclass(frozen=True)
class Readings:
    power_watts: float
    capacity_watts: float
    limit_watts: float
    intake_c: float
    exhaust_c: float
    cpu_c: float
    fan_percent: tuple[float, ...]

    def fan_rpm(self, index: int) -> int:
        return round(MAX_FAN_RPM * self.fan_percent[index] / 100)


def _units(model: str) -> int:
    for size in (4, 2, 1):
        if f"{size}U" in model:
            return size
    return 1


def readings(model: str, power_state: str, seed: str, now: float | None = None) -> Readings:
    """The chassis sensors now; ``seed`` (the BMC id) spreads BMCs apart."""
    units = _units(model)
    on = power_state in ("On", "PoweringOff")
    t = (time.time() if now is None else now) / 30.0 + (sum(seed.encode()) % 97)
    drift = math.sin(t)  # -1..1, one slow cycle every few minutes
    capacity = {1: 800.0, 2: 1200.0, 4: 2000.0}[units]
    load = (0.22 + 0.05 * drift) if on else 0.015
    intake = 22.0 + 0.5 * drift
    cpu = intake + ((38.0 + 4.0 * drift) if on else 3.0)
    exhaust = intake + ((14.0 + 2.0 * drift) if on else 1.0)
    base_fan = {1: 45.0, 2: 35.0, 4: 28.0}[units] if on else 20.0
    fans = tuple(round(base_fan + 3.0 * drift + i, 1) for i in range(FAN_COUNT))
    return Readings(round(capacity * load, 1), capacity, capacity * 0.9, round(intake, 1),
                    round(exhaust, 1), round(cpu, 1), fans)
