"""What an idle gateway costs the shared database: two `gateway` instances on one
PostgreSQL, ten emulated nodes, no image and no campaign. Each one's statements are
counted on its real engine (gateway/store/database.py, by kind) over three heartbeat
periods, the heartbeat being the loop's own clock (every third of ``lease_s``), so the
figure is a count per period, not a rate measured against the wall clock: on a loaded
machine the loops only run less often. docs/performance.md ("Several gateways") gives
the breakdown this pins."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.config import load_config
from gateway.service import Gateway, build_gateway
from gateway.store import statements_by_kind
from tests.conftest import TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL, even_odd_group, fleet_configs
from tests.support.waiting import wait_until

# The production loop intervals (docs/configuration.md), with a 2 s heartbeat period.
LEASE_S = 6
IDLE = {"tick_s": 0.5, "lease_s": LEASE_S, "health_interval_s": 60, "probe_interval_s": 1.0,
        "poll_max_s": 5}
PERIODS = 3
HEARTBEAT = "UPDATE gateways"
# Per heartbeat period of 2 s: the registry stamp, the campaign creator's image
# lookup, the scheduler's campaign list and the sweep for due runs (each about once a
# second), the intake worker's poll (every 2 s) and the heartbeat's own (its stamp, the
# database's time, the member list, the campaigns to claim in): 14-16 measured. It was
# about 20 while image sharing re-sent unchanged holdings every second and the lost-run
# check asked the store with nothing timed.
PER_PERIOD_AT_MOST = 17


def idle_statements(gateway: Gateway) -> Counter[str]:
    """The statements `gateway` sends over PERIODS heartbeat periods, by kind."""
    engine = gateway.store.engine
    start = wait_until(lambda: statements_by_kind(engine)[HEARTBEAT] > 1
                       and statements_by_kind(engine), 30)
    mark = start[HEARTBEAT] + 1  # from one heartbeat to the PERIODS-th after it
    begin = wait_until(lambda: (seen := statements_by_kind(engine))[HEARTBEAT] >= mark
                       and seen, 30)
    end = wait_until(lambda: (seen := statements_by_kind(engine))[HEARTBEAT]
                     >= begin[HEARTBEAT] + PERIODS and seen, 30)
    return end - begin


def test_an_idle_gateway_sends_a_few_statements_per_heartbeat_period(
        tmp_path: Path, test_keys: TestKeys, postgres_url: str) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)] * 10,
                         trusted_keys=[test_keys.public]) as emulated:
        paths = fleet_configs(tmp_path, postgres_url, 2, publisher_prefix="http://127.0.0.1:9/",
                              trusted_key=test_keys.public, bmcs=emulated.inventory,
                              group_of=even_odd_group, groups={"even": 1, "odd": 1},
                              orchestrator=IDLE)
        gateways = [build_gateway(load_config(path)) for path in paths]
        try:
            for gateway in gateways:
                gateway.start()
            for gateway in gateways:
                sent = idle_statements(gateway)
                per_period = sum(sent.values()) / PERIODS
                assert 0 < per_period <= PER_PERIOD_AT_MOST, (gateway.config.name, sent)
                # Holdings that did not change are not advertised again.
                assert sent["SELECT image_copies"] <= 1, (gateway.config.name, sent)
        finally:
            for gateway in gateways:
                gateway.stop()
