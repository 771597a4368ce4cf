"""`fleetflash gateway serve` as a process manager runs it: SIGTERM stops it with exit 0,
every time, also when a second signal arrives during the shutdown (a supervisor or an
operator repeating itself) and when the signal arrives while the gateway is starting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import REPO_ROOT, TestKeys
from tests.integration.intake.gatewaykit import write_config
from tests.support.waiting import wait_until

CYCLES = 20
_API_URL = re.compile(r"API and dashboard at (http://\S+)")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def exited(self) -> bool:
        return self.process.poll() is not None

    def healthy(self) -> bool:
        """Up: the command said it runs (signals are caught) and the API answers."""
        found = _API_URL.search(self.text())
        if self.exited() or found is None or "running; state in" not in self.text():
            return False
        try:
            return requests.get(found.group(1) + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not answering yet, or slowly on a busy machine
            return False

    def settled(self) -> bool:
        """Up, or gone (it could not start)."""
        return self.healthy() or self.exited()

    def stop(self, *signals: signal.Signals) -> int:
        """Send `signals` (the later ones once the gateway logged that it is stopping);
        the exit status."""
        first, *more = signals
        self.process.send_signal(first)
        if more:
            wait_until(lambda: "stopping" in self.text() or self.exited(), 30,
                       describe=self.text)
            for extra in more:
                self.process.send_signal(extra)
        return self.process.wait(timeout=90)


def _serve(tmp_path: Path, keys: TestKeys, cycle: int) -> Served:
    """Start `gateway serve` with a CIM listener and the API; another port when the
    listener's was taken meanwhile by someone else (a collision, not the subject here)."""
    for attempt in range(3):
        config = write_config(tmp_path, prefixes=["http://127.0.0.1:9/"],
                              trusted_key=keys.public,
                              extra='\n[api]\nlisten = "127.0.0.1:0"\n')
        log = tmp_path / f"serve-{cycle}-{attempt}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "lab.cli", "gateway", "serve", "--config", str(config)],
                cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        served = Served(process, log)
        wait_until(served.settled, 60, describe=served.text)
        if not (served.exited() and "already in use" in served.text()):
            assert not served.exited(), served.text()
            return served
    raise AssertionError("no free listener port in three attempts")


def test_sigterm_stops_the_gateway_with_exit_0_twenty_times(
        tmp_path: Path, test_keys: TestKeys) -> None:
    # Every other cycle a second signal arrives while the gateway is stopping: SIGTERM
    # again, or SIGINT. The stop must run once, whatever else arrives.
    repeats: list[tuple[signal.Signals, ...]] = [
        (signal.SIGTERM,), (signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM,),
        (signal.SIGTERM, signal.SIGINT)]
    for cycle in range(CYCLES):
        served = _serve(tmp_path, test_keys, cycle)
        sent = repeats[cycle % len(repeats)]
        status = served.stop(*sent)
        assert status == 0, (cycle, [s.name for s in sent], served.text()[-3000:])
        assert "Traceback" not in served.text(), (cycle, served.text()[-3000:])


def test_sigterm_during_start_up_stops_the_gateway_once_it_runs(
        tmp_path: Path, test_keys: TestKeys) -> None:
    config = write_config(tmp_path, prefixes=["http://127.0.0.1:9/"],
                          trusted_key=test_keys.public)
    database = tmp_path / "state" / "gateway.db"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "gateway", "serve", "--config", str(config)],
            cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    # The database is created while the parts are built: signals are caught by then.
    wait_until(lambda: database.exists() or process.poll() is not None, 60,
               describe=log.read_text)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0, log.read_text()
    text = log.read_text()
    assert "running; state in" in text and "SIGTERM: stopping" in text, text
