"""Cluster model: allowances and the errors a bad declaration gets."""

from __future__ import annotations

import pytest

from gateway.domain import (
    Cluster,
    Health,
    InvalidClusterError,
    NodeSpec,
    QosClass,
    RedundancyGroup,
    down_per_group,
)


def cluster_with(group: RedundancyGroup, size: int) -> Cluster:
    return Cluster("c", (group,), tuple(NodeSpec(f"n{i}", group.name) for i in range(size)))


@pytest.mark.parametrize(
    ("description", "group", "size", "allowance"),
    [
        ("max_unavailable as given", RedundancyGroup("g", max_unavailable=2), 5, 2),
        ("max_unavailable above size is the size", RedundancyGroup("g", max_unavailable=9), 3, 3),
        ("min_available converted", RedundancyGroup("g", min_available=3), 5, 2),
        ("min_available equal to size: none may go", RedundancyGroup("g", min_available=4), 4, 0),
        ("max_unavailable zero", RedundancyGroup("g", max_unavailable=0), 4, 0),
    ],
)
def test_allowance(description: str, group: RedundancyGroup, size: int, allowance: int) -> None:
    assert cluster_with(group, size).allowance("g") == allowance


@pytest.mark.parametrize(
    ("description", "build", "message"),
    [
        ("both limits", lambda: RedundancyGroup("g", 1, 1), "exactly one"),
        ("no limit", lambda: RedundancyGroup("g"), "exactly one"),
        ("negative", lambda: RedundancyGroup("g", max_unavailable=-1), "≥ 0"),
        ("min_available above size",
         lambda: cluster_with(RedundancyGroup("g", min_available=4), 3), "min_available is 4"),
        ("unknown group", lambda: Cluster("c", (RedundancyGroup("g", 1),),
                                          (NodeSpec("n", "h"),)), "unknown group 'h'"),
        ("unknown QoS", lambda: Cluster("c", (RedundancyGroup("g", 1),),
                                        (NodeSpec("n", "g", "gold"),)), "unknown QoS class"),
        ("duplicate node", lambda: Cluster("c", (RedundancyGroup("g", 1),),
                                           (NodeSpec("n", "g"), NodeSpec("n", "g"))),
         "duplicate node 'n'"),
        ("duplicate group", lambda: Cluster("c", (RedundancyGroup("g", 1),) * 2, ()),
         "duplicate group"),
        ("negative budget", lambda: Cluster("c", (), (), failure_budget=-1), "failure_budget"),
        ("zero cap", lambda: Cluster("c", (), (), max_concurrent=0), "max_concurrent"),
        ("duplicate QoS", lambda: Cluster("c", (), (), (QosClass("a"), QosClass("a"))),
         "duplicate QoS class"),
    ],
)
def test_bad_declarations_name_the_problem(description: str, build: object, message: str) -> None:
    with pytest.raises(InvalidClusterError, match=message):
        build()  # type: ignore[operator]


def test_down_and_unknown_nodes_count_per_group() -> None:
    cluster = Cluster("c", (RedundancyGroup("a", 1), RedundancyGroup("b", 1)),
                      (NodeSpec("a1", "a"), NodeSpec("a2", "a"), NodeSpec("b1", "b")))
    # b1 has never been observed: unknown counts as down.
    assert down_per_group(cluster, {"a1": Health.DOWN, "a2": Health.UP}) == {"a": 1, "b": 1}
    assert cluster.members("a") == ("a1", "a2") and cluster.group_of("b1") == "b"
