"""`fleetflash gateway serve` as a real child process, for the tests that kill -9 it,
restart it, or run several gateways on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.waiting import wait_until

FLEETFLASH = Path(sys.executable).with_name("fleetflash")


class GatewayProcess:
    """`fleetflash gateway serve` as a child process, logging to a file per start."""

    def __init__(self, config: Path, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = log_dir / "gateway-0.log"

    def start(self) -> None:
        self.starts += 1
        self.log = self.log_dir / f"gateway-{self.starts}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(FLEETFLASH), "gateway", "serve", "--config", str(self.config)],
                stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONHASHSEED": "0"})
        # A hang guard: on a machine loaded far beyond its cores, importing the gateway
        # alone took a minute.
        try:
            wait_until(lambda: b"running; state in" in self.log.read_bytes()
                       or self.process is None or self.process.poll() is not None, 180)
            assert self.process.poll() is None, self.log.read_text()[-3000:]
        except AssertionError:
            self.stop()  # a gateway that never got ready must not outlive the test
            raise

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
