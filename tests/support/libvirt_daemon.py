"""A private libvirtd and virtlogd for the real-QEMU tests.

Both run as an unprivileged user (``nobody`` when the tests run as root, else
the test user) in libvirt's session mode, with every directory under one fresh
temporary root: their sockets are ``<root>/run/libvirt/{libvirt,virtlogd}-sock``,
so the tests never touch or depend on a system libvirt service. Session mode
also means QEMU runs as that user, exactly as it does under a system daemon
configured with ``user = "libvirt-qemu"``: where /dev/kvm is root-only, KVM
cannot start and the backend must fall back to TCG.

Needs the Debian packages scripts/bootstrap.sh installs (libvirt-daemon,
libvirt-daemon-driver-qemu, qemu-system-x86, qemu-block-extra).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt

# libvirt prints every error to stderr by default; connection attempts while the
# daemon starts are expected to fail.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

BINARIES = ("libvirtd", "virtlogd", "qemu-system-x86_64")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
START_TIMEOUT_S = 60.0


class DaemonUnavailable(Exception):
    """libvirt/QEMU binaries are missing, or the private daemons did not come up."""


@dataclass(frozen=True)
class PrivateLibvirt:
    """A running private daemon pair; ``uri`` reaches its QEMU driver."""

    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.socket}"

    def domain_log(self, domain: str) -> Path:
        """libvirt's log of a domain: QEMU's messages and the guest's COM1 output."""
        return self.root / "cache" / "libvirt" / "qemu" / "log" / f"{domain}.log"


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name, path=_SEARCH_PATH) is None]


def _wait(condition: Callable[[], bool], what: str, processes: list[subprocess.Popen[bytes]],
          logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        dead = [p for p in processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs
                             if log.exists())
            reason = f"exited with {dead[0].returncode}" if dead else "timed out"
            raise DaemonUnavailable(f"private libvirt: waiting for {what}: {reason}\n{tail}")
        time.sleep(0.1)


def _connects(uri: str) -> bool:
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError:
        return False
    return True


def _remove_domains(uri: str) -> None:
    """Stop and forget every guest, so no QEMU process outlives the daemon."""
    with contextlib.suppress(libvirt.libvirtError):
        connection = libvirt.open(uri)
        try:
            for domain in connection.listAllDomains():
                with contextlib.suppress(libvirt.libvirtError):
                    if domain.isActive():
                        domain.destroy()
                with contextlib.suppress(libvirt.libvirtError):
                    domain.undefine()
        finally:
            connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@contextlib.contextmanager
def private_libvirt() -> Iterator[PrivateLibvirt]:
    """Start virtlogd then libvirtd under a fresh root; stop both (and their guests) after."""
    missing = missing_binaries()
    if missing:
        raise DaemonUnavailable(
            f"{', '.join(missing)} not installed (scripts/bootstrap.sh installs them)"
        )
    root = Path(tempfile.mkdtemp(prefix="fflibvirt-"))
    daemon = PrivateLibvirt(root)
    as_user: dict[str, object] = {}
    if os.geteuid() == 0:
        # libvirt runs privileged (system-wide paths) as root; session mode needs a user.
        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    env = {
        "PATH": _SEARCH_PATH,
        "HOME": str(root),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "LC_ALL": "C",
    }
    for sub in ("run", "config", "cache"):
        (root / sub).mkdir()
    if as_user:
        for path in [root, *root.iterdir()]:
            os.chown(path, int(str(as_user["user"])), int(str(as_user["group"])))
    root.chmod(0o755)
    processes: list[subprocess.Popen[bytes]] = []
    logs = [root / "virtlogd.out", root / "libvirtd.out"]
    try:
        for binary, log, ready, what in (
            ("virtlogd", logs[0], lambda: (root / "run/libvirt/virtlogd-sock").exists(),
             "virtlogd's socket"),
            ("libvirtd", logs[1], lambda: _connects(daemon.uri), "libvirtd to answer"),
        ):
            with log.open("wb") as out:
                processes.append(subprocess.Popen(  # type: ignore[call-overload]
                    [shutil.which(binary, path=_SEARCH_PATH)], env=env, cwd=root,
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, **as_user,
                ))
            _wait(ready, what, processes, logs)
        yield daemon
    finally:
        if processes and processes[-1].poll() is None:
            _remove_domains(daemon.uri)
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
