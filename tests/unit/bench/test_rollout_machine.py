"""Who used the machine during a rollout (bench/rollout_machine.py): the bursts where
the machine was busy, and each role's CPU in them."""

from __future__ import annotations

import os
from types import ModuleType

from tests.unit.bench.scripts import bench_module


def _module() -> ModuleType:
    return bench_module("rollout_machine")


def _sample(busy: float, gateways: float, emulator: float) -> tuple[float, dict[str, float]]:
    return busy, {"gateways": gateways, "emulator": emulator, "_seconds": 0.5}


def test_bursts_are_the_busy_stretches_and_their_cpu_is_split_by_role() -> None:
    samples = [_sample(0.3, 0.4, 0.2),
               _sample(0.97, 1.2, 0.8), _sample(0.85, 1.0, 0.6),  # a burst of 1 s
               _sample(0.5, 0.6, 0.4),
               _sample(0.99, 1.4, 0.6)]  # a burst that runs to the end
    figures = _module().machine_figures(samples)
    assert figures["bursts"] == {"count": 2, "seconds": 1.5, "longest_s": 1.0,
                                 "cpu_s": {"emulator": 1.0, "gateways": 1.8}}
    assert figures["cpu_s"] == {"emulator": 1.3, "gateways": 2.3}
    assert figures["busy_95_share"] == 0.4
    assert figures["busy_80_share"] == 0.6


def test_a_quiet_machine_has_no_burst() -> None:
    figures = _module().machine_figures([_sample(0.2, 0.1, 0.1)] * 4)
    assert figures["bursts"]["count"] == 0
    assert figures["bursts"]["cpu_s"] == {"emulator": 0.0, "gateways": 0.0}
    assert _module().machine_figures([]) == {}


def test_the_sampler_counts_the_cpu_a_role_uses() -> None:
    module = _module()
    sampler = module.MachineSampler(lambda: {"me": [os.getpid()], "gone": [2 ** 22 + 1]},
                                    interval_s=0.05)
    sampler.start()
    spent = 0.0
    start = os.times()
    while spent < 0.4:  # CPU seconds, not wall time: what the sampler must see
        sum(range(10_000))
        now = os.times()
        spent = now.user + now.system - start.user - start.system
    sampler.stop()
    figures = sampler.figures()
    assert figures["cpu_s"]["me"] >= 0.2
    assert figures["cpu_s"]["gone"] == 0.0  # a pid that does not exist counts nothing
