"""Several `fleetflash gateway serve` processes on one database: what `lab up
--gateways N` and `bench/rollout.py --gateways N` share.

- `member_config`: the first gateway's TOML rewritten for another member (its own
  name and state directory, the shared database, the first one's media secret and,
  when the first has a [cache] table, its image cache);
- `admin_token`: an admin API token created in the shared database before the
  gateways start (one database: the token is valid on every member);
- `start_member`: one member started detached, returned once its API and CIM
  listener answer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gateway.api.auth import TokenStore
from gateway.config import ConfigError, load_config
from gateway.store import GatewayStore, StoreError
from lab import lab_processes as procs
from lab.lab_state import LabError

API_TOKEN_NAME = "lab-admin"


def member_config(text: str, *, suffix: str, state_dir: Path, database_url: str,
                  first_state_dir: Path) -> str:
    """The gateway TOML `text` for member `suffix` ("" for the first, "-2", ...): its
    own name (the first's plus `suffix`) and `state_dir`, `database_url` (none: the
    default SQLite), and the first one's media secret and image cache, both in
    `first_state_dir` (every member of a fleet verifies the others' capability URLs;
    the first creates the secret before the next one starts)."""
    lines: list[str] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[gateway]" and line.startswith("name = ") and suffix:
            line = line[:-1] + f'{suffix}"'
        elif section == "[gateway]" and line.startswith("state_dir = "):
            line = f"state_dir = {json.dumps(str(state_dir))}"
            if database_url:
                line += f"\ndatabase_url = {json.dumps(database_url)}"
        lines.append(line)
        if line == "[cache]" and suffix:
            lines.append(f"dir = {json.dumps(str(first_state_dir / 'images'))}")
        if line == "[media]" and suffix:
            lines.append(f"secret_file = {json.dumps(str(first_state_dir / 'media.secret'))}")
    return "\n".join(lines) + "\n"


def admin_token(config_path: Path) -> str:
    """Create an admin API token in the database of the gateway configured by
    `config_path` (before or while it runs). Raises LabError."""
    try:
        config = load_config(config_path)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        store = GatewayStore.open(config.database_url)
        try:
            return TokenStore.for_store(store).create(API_TOKEN_NAME, "admin")[1]
        finally:
            store.engine.dispose()
    except (ConfigError, StoreError) as exc:
        raise LabError(f"cannot prepare the gateway: {exc}") from exc


def start_member(name: str, config_path: Path, workdir: Path, api_port: int,
                 listener_port: int, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
    """Start `fleetflash gateway serve --config CONFIG_PATH` detached (log in
    WORKDIR/logs/NAME.log) and return once its API's /healthz and its CIM listener
    answer. Raises LabError (with the log's tail) if it exits or is not ready in time;
    the caller stops it then."""
    process = procs.spawn(name, [*procs.FLEETFLASH, "gateway", "serve",
                                 "--config", str(config_path)], workdir)
    api_url = f"http://127.0.0.1:{api_port}"
    try:
        procs.wait_until(name, lambda: procs.answers(api_url + "/healthz")
                         and procs.port_open(listener_port), process, workdir, timeout_s)
    except LabError:
        procs.stop(process.pid, "gateway")
        raise
    return process
