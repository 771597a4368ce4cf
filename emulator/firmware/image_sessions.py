"""Kept-alive HTTP sessions for reading update images from plain http URLs.

Every node of a rollout boots the same update CD from the same media server,
a few Range requests each. A fresh ``requests`` session per image meant a new
connection per node, and its per-request look at the environment (proxies,
netrc) was ~1 % of the emulator's CPU in a profiled rollout
(docs/performance.md, "Event delivery without requests"). Sessions here are
lent to one image read at a time and kept for the next; they do not read the
host's environment (an emulated BMC would not, as ``flash.open_image`` already
does for its own CA settings). A session idle longer than ``max_idle_s`` is
closed rather than reused, well inside usual keep-alive timeouts, so a reused
connection is not one the server is about to close.
"""

from __future__ import annotations

import threading
import time

import requests


class ImageSessions:
    """Sessions lent out one read at a time; at most ``keep`` kept idle."""

    def __init__(self, keep: int = 16, max_idle_s: float = 10.0) -> None:
        self.keep = keep
        self.max_idle_s = max_idle_s
        self._lock = threading.Lock()
        self._idle: list[tuple[float, requests.Session]] = []  # (returned at, session)

    def take(self) -> requests.Session:
        """An idle session, or a new one."""
        now = time.monotonic()
        stale: list[requests.Session] = []
        found: requests.Session | None = None
        with self._lock:
            while self._idle and found is None:
                returned_at, session = self._idle.pop()  # the most recently returned
                if now - returned_at <= self.max_idle_s:
                    found = session
                else:
                    stale.append(session)
        for session in stale:
            session.close()
        if found is not None:
            return found
        session = requests.Session()
        session.trust_env = False
        return session

    def give_back(self, session: requests.Session) -> None:
        """Keep ``session`` for the next read (closed when enough are kept)."""
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append((time.monotonic(), session))
                return
        session.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _returned_at, session in idle:
            session.close()
