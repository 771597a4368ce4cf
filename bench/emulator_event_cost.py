"""CPU cost of one pushed Redfish event in the emulator, without the rest of a rollout.

Starts an event listener in a child process (HTTP/1.1 keep-alive, answers 204),
then delivers events through the emulator's EventDelivery on the calling thread,
one after another, as a subscription's delivery thread does, and reports the
CPU time of that thread per event (``time.thread_time``): the emulator's share
of a push, which load on other processes disturbs far less than a rollout's
CPU totals. Which emulator is measured is whatever ``emulator`` imports (set
PYTHONPATH). The last line is one JSON object: events, us_per_event.

    PYTHONPATH=. .venv/bin/python bench/emulator_event_cost.py [--events 5000]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time

from emulator.events import EventDelivery, Subscription

LISTENER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def event(index: int) -> dict[str, object]:
    """A task event as a BMC sends one during an update."""
    return {
        "@odata.type": "#Event.v1_13_0.Event", "Id": str(index), "Name": "Event",
        "Context": "fleetflash",
        "Events": [{
            "MessageId": "TaskEvent.1.0.TaskProgressChanged", "Message": "The task with Id "
            "'3' has changed to progress 40 percent complete.", "MessageArgs": ["3", "40"],
            "Severity": "OK", "EventId": str(index), "EventTimestamp":
            "2026-12-06T19:00:00.000+00:00", "EventType": "StatusChange",
            "OriginOfCondition": {"@odata.id": "/redfish/v1/TaskService/Tasks/3"},
            "MemberId": "0",
        }],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)  # a failed delivery shows (and spoils the figure)
    listener = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        delivery = EventDelivery(attempts=1)
        subscription = Subscription(id="1", destination=f"http://127.0.0.1:{port}/events")
        events = [event(index) for index in range(args.events)]
        delivery._deliver(subscription, events[0])  # connect outside the measurement
        started = time.thread_time()
        for item in events:
            delivery._deliver(subscription, item)
        spent = time.thread_time() - started
        delivery.stop()
    finally:
        listener.terminate()
        listener.wait(timeout=10)
    print(json.dumps({"events": args.events,
                      "us_per_event": round(spent / args.events * 1e6, 1)}))


if __name__ == "__main__":
    main()
