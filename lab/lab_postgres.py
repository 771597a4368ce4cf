"""A private PostgreSQL server: ``initdb`` + ``pg_ctl`` in a directory of its own.

Used by `fleetflash lab up --database postgresql` (the lab's gateways share it)
and by the tests (tests/support/postgres.py). The server listens on a free
127.0.0.1 port and a Unix socket inside its directory, trusts local
connections, and never touches a system service or the system's clusters.
``initdb`` refuses to run as root, so as root the server runs as ``nobody``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lab.ports import restartable_port


class PostgresError(Exception):
    """The server could not be found, started or prepared (message says why)."""


SUPERUSER = "fleetflash"
_COUNTER = itertools.count(1)


def postgres_bin_dir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: on PATH, or Debian's versioned
    /usr/lib/postgresql/<major>/bin (the newest one), which is not on PATH."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parent.parent.name)
                        if Path(p).parent.parent.name.isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresError("PostgreSQL server binaries (initdb, pg_ctl) not found; "
                        "scripts/bootstrap.sh installs the Debian 'postgresql' package")


@dataclass
class PostgresServer:
    """A running private server; ``url(db)`` is its SQLAlchemy URL for database ``db``."""

    root: Path
    port: int
    bin_dir: Path
    user: str | None  # the OS user the server runs as (None: the current one)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {"user": self.user} if self.user else {}
        return subprocess.run(args, check=check, capture_output=True, text=True,
                              cwd=self.root, timeout=120, **kwargs)

    def start(self) -> None:
        """Create the cluster (initdb) and start the server."""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--no-sync", "-N")
        self.restart()

    def restart(self) -> None:
        """Start the (stopped) server again on the same directory and port."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l",
                  str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                  "-w", "stop", check=False)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (default: a unique name); returns its URL."""
        name = name or f"t{os.getpid()}_{next(_COUNTER)}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pid(self) -> int | None:
        """The postmaster's pid (first line of postmaster.pid), None when not running."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def start_postgres(root: Path | None = None) -> PostgresServer:
    """Start a private server in `root` (default: a new temp directory), as ``nobody``
    when running as root. Raises PostgresError."""
    bin_dir = postgres_bin_dir()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="fleetflash-pg-"))
    else:
        root.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(root=root, port=restartable_port(), bin_dir=bin_dir, user=user)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        raise PostgresError(f"could not start PostgreSQL in {root}: "
                            f"{(exc.stderr or '').strip()[-500:]}") from exc
    return server
