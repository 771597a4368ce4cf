"""The hottest writes (a node run's compare-and-set, a node's inventory), built once
per shape and reused.

Every step of every node writes its run at least once; building the UPDATE
expression each time (and SQLAlchemy deriving its cache key from it) cost more
CPU than executing it. A statement with bound parameters is made once per
combination of written columns and conditions and then only executed with
new values (docs/performance.md, "Mixed vendors").
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from gateway.store.campaign_tables import ManagedNodeRow, NodeRunRow

_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]  # a declarative Table
_NODES: sa.Table = ManagedNodeRow.__table__  # type: ignore[assignment]
# (written columns, with owner condition, with attempt condition) -> statement
_Shape = tuple[tuple[str, ...], bool, bool]
_CACHE: dict[_Shape, sa.Update] = {}
_NODE_CACHE: dict[tuple[str, ...], tuple[sa.Update, sa.Insert]] = {}
_LOCK = threading.Lock()


def run_update(columns: Collection[str], *, owner: bool, attempt: bool) -> sa.Update:
    """UPDATE node_runs SET <columns> WHERE the run is in its expected step (and leased
    to the owner / at the attempt). Parameters: ``k_campaign``, ``k_node``, ``k_step``,
    ``k_owner``, ``k_attempt`` and ``v_<column>`` for each written column.
    KeyError for a column node_runs does not have."""
    shape = (tuple(sorted(columns)), owner, attempt)
    statement = _CACHE.get(shape)
    if statement is not None:
        return statement
    conditions = [_RUNS.c.campaign_id == sa.bindparam("k_campaign"),
                  _RUNS.c.node_id == sa.bindparam("k_node"),
                  _RUNS.c.step == sa.bindparam("k_step")]
    if owner:
        conditions.append(_RUNS.c.lease_owner == sa.bindparam("k_owner"))
    if attempt:
        conditions.append(_RUNS.c.attempt == sa.bindparam("k_attempt"))
    values: dict[str, Any] = {name: sa.bindparam(f"v_{name}", type_=_RUNS.c[name].type)
                              for name in shape[0]}
    statement = sa.update(_RUNS).where(*conditions).values(values)
    with _LOCK:
        return _CACHE.setdefault(shape, statement)


def node_upsert(columns: Collection[str]) -> tuple[sa.Update, sa.Insert]:
    """UPDATE managed_nodes SET <columns> WHERE node_id = ``k_node``, and the INSERT of
    the same row, for the inventory every step that looks at a node writes.
    Parameters: ``k_node`` and ``v_<column>``."""
    shape = tuple(sorted(columns))
    pair = _NODE_CACHE.get(shape)
    if pair is not None:
        return pair
    values = {name: sa.bindparam(f"v_{name}", type_=_NODES.c[name].type) for name in shape}
    pair = (sa.update(_NODES).where(_NODES.c.node_id == sa.bindparam("k_node")).values(values),
            sa.insert(_NODES).values(values))
    with _LOCK:
        return _NODE_CACHE.setdefault(shape, pair)
