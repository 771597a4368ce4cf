"""CPU cost of one Redfish GET through the emulator's WSGI app, without the network.

Starts one emulated BMC, then calls the app directly (the same Flask app the
server runs, with a WSGI environ as the server builds it) for the resources
bench/emulator_scale.py polls, with HTTP Basic auth, and reports the CPU time
of the calling thread per request (``time.thread_time``): the per-request app
cost that, the process being GIL-bound, caps the emulator's throughput. It
does not depend on other processes' load the way wall-clock throughput does.
Which emulator is measured is whatever ``emulator`` imports (set PYTHONPATH).
The last line is one JSON object: requests, us_per_request.

    PYTHONPATH=. .venv/bin/python bench/emulator_app_cost.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from typing import Any

from werkzeug.test import EnvironBuilder

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec

PATHS = (
    "/redfish/v1/Systems/1",
    "/redfish/v1/Managers/1",
    "/redfish/v1/UpdateService/FirmwareInventory/BIOS",
    "/redfish/v1/TaskService/Tasks",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    with EmulatedCluster(nodes=[NodeSpec(model="FF-1U-R450")]) as cluster:
        node = cluster.inventory[0]
        port = node["url"].rsplit(":", 1)[1]
        app = cluster.redfish_app
        assert app is not None
        credentials = f"{node['username']}:{node['password']}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode(),
                   "Host": f"127.0.0.1:{port}", "Accept": "application/json"}
        environs = []
        for path in PATHS:
            environ = EnvironBuilder(path=path, headers=headers).get_environ()
            environ["SERVER_PORT"] = port
            environs.append(environ)

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            if not status.startswith("200"):
                raise SystemExit(f"unexpected answer {status}")

        def run(count: int) -> None:
            for index in range(count):
                b"".join(app(dict(environs[index % len(environs)]), start_response))

        run(500)  # warm-up: caches, first-request set-up
        started = time.thread_time()
        run(args.requests)
        cost = (time.thread_time() - started) / args.requests * 1e6
    print(f"{args.requests} GETs, {cost:.1f} us CPU each")
    print(json.dumps({"requests": args.requests, "us_per_request": round(cost, 1)}))


if __name__ == "__main__":
    main()
