"""Options of bench/rollout.py (its docstring is the help text)."""

from __future__ import annotations

import argparse

import rollout_topology
from common import bench_parser


def parse(doc: str) -> tuple[argparse.Namespace, rollout_topology.VendorMix | None]:
    """The parsed options, and the vendor mix when ``--topology`` names one (its group
    shape becomes the default)."""
    parser = bench_parser(
        doc, nodes=200, group_size=10, max_unavailable=2,
        # Per-package flash, host reset and BMC restart times of the emulated BMCs (seconds);
        # real firmware takes minutes, these keep a run short while dwarfing polling latency.
        flash_seconds=5.0, reset_seconds=2.0, bmc_restart_seconds=5.0,
        workers=32)
    parser.add_argument("--no-events", dest="events", action="store_false",
                        help="no EventService subscriptions: MONITOR polls only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--manager", choices=["slurm"], default=None,
                        help="run a real Slurm with a job on every node; drain through it")
    parser.add_argument("--mode", choices=["drain", "reservation"], default="drain",
                        help="with --manager slurm: drain nodes, or book one maintenance "
                             "reservation per wave")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the gateway's store (postgresql: a private server)")
    parser.add_argument("--gateways", type=int, choices=(1, 2, 3), default=1,
                        help="gateways sharing the database: this process's and N-1 "
                             "`fleetflash gateway serve` (needs --database postgresql)")
    parser.add_argument("--activation", choices=("immediate", "staged"), default="immediate",
                        help="staged: stage by SimpleUpdate (OnReset), reset in the window")
    parser.add_argument("--topology", metavar="NAME", default=None,
                        help="BMC personalities as in lab/topologies/NAME.yaml, its pattern "
                             "repeated over the nodes; its group shape unless given")
    parser.add_argument("--count-requests", action="store_true",
                        help="count the gateway's Redfish requests per node step "
                             "(bench/rollout_requests.py; costs some CPU)")
    mix: rollout_topology.VendorMix | None = None
    if (topology := parser.parse_known_args()[0].topology) is not None:
        mix = rollout_topology.vendor_mix(topology)
        parser.set_defaults(group_size=mix.group_size, max_unavailable=mix.max_unavailable)
    args = parser.parse_args()
    if args.gateways > 1 and args.database != "postgresql":
        parser.error("several gateways share one database: use --database postgresql")
    return args, mix
