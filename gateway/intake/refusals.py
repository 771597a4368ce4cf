"""Counting refused requests without letting a flood write the store once per request.

`RefusalLog.record` only adds to an in-memory count per (listener, client address,
reason, time bucket); a background thread writes the counts to the store every
`flush_interval_s` (one row per key and bucket, see gateway.store.refusals) and
purges rows older than the retention once an hour. A flood of any size so costs a
few dict updates per request and one row per client address, reason and bucket.

Configured in ``[refusals]``: ``bucket_s`` (3600), ``retention_days`` (30),
``flush_interval_s`` (2); see docs/configuration.md.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta

from gateway.config import GatewayConfig
from gateway.config_model import RefusalsTable
from gateway.store import GatewayStore, StoreError, utcnow
from gateway.store.refusals import RefusalCount, add_refusals, purge_refusals

LOG = logging.getLogger(__name__)
MAX_PENDING_KEYS = 10_000  # beyond this, record() flushes at once (memory stays bounded)
PURGE_EVERY_S = 3600.0

# Reasons of requests the listeners refused themselves (the front door adds its own:
# head-timeout, connection-limit, ... see gateway.frontdoor.policy).
UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"
MALFORMED = "malformed-request"
METHOD_NOT_ALLOWED = "method-not-allowed"
LOGIN_BACKOFF = "login-backoff"


# The validated [refusals] table is the settings object itself (one typed reader).
RefusalSettings = RefusalsTable


def refusal_settings(config: GatewayConfig) -> RefusalSettings:
    """[refusals] of `config`."""
    return config.file.refusals


class RefusalLog:
    """Counts refusals in memory and writes them, bucketed, to the store in the background."""

    def __init__(self, store: GatewayStore, settings: RefusalSettings) -> None:
        self._engine = store.engine
        self.settings = settings
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, datetime], RefusalCount] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, channel: str, client_address: str, reason: str, sample: str,
               source: str | None = None) -> None:
        """Count one refusal (cheap: no I/O unless MAX_PENDING_KEYS keys are waiting)."""
        now = utcnow()
        bucket = _bucket(now, self.settings.bucket_s)
        key = (channel, client_address[:64], reason[:32], bucket)
        with self._lock:
            known = self._pending.get(key)
            if known is None:
                self._pending[key] = RefusalCount(*key, 1, now, now, sample, source)
            else:
                self._pending[key] = replace(known, count=known.count + 1, last_at=now,
                                             last_sample=sample, source=source or known.source)
            full = len(self._pending) >= MAX_PENDING_KEYS
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the waiting counts to the store (kept for the next try if it fails)."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                add_refusals(self._engine, batch.values())
            except StoreError as exc:
                LOG.error("could not record %d refusal count(s): %s", len(batch), exc)
                with self._lock:
                    for key, item in batch.items():
                        newer = self._pending.get(key)
                        self._pending[key] = item if newer is None else replace(
                            newer, count=newer.count + item.count, first_at=item.first_at)

    def purge(self) -> int:
        """Delete rows past the retention; how many went."""
        cutoff = utcnow() - timedelta(days=self.settings.retention_days)
        removed = purge_refusals(self._engine, cutoff)
        if removed:
            LOG.info("purged %d refusal row(s) older than %s", removed, cutoff.isoformat())
        return removed

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="refusal-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is waiting (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        next_purge = time.monotonic()
        while not self._stop.wait(self.settings.flush_interval_s):
            self.flush()
            if time.monotonic() >= next_purge:
                try:
                    self.purge()
                except StoreError as exc:
                    LOG.error("could not purge refusals: %s", exc)
                next_purge = time.monotonic() + PURGE_EVERY_S


def _bucket(moment: datetime, bucket_s: int) -> datetime:
    seconds = int(moment.timestamp()) // bucket_s * bucket_s
    return datetime.fromtimestamp(seconds, tz=moment.tzinfo)
