"""When MONITOR looks at a node again: pure arithmetic on the time spent so far.

Looks become sparser as the step goes on: a twentieth of the time so far, at least
0.1 s, at most ``poll_max_s``. A wave of 200 nodes polling every 100 ms saturated
the gateway's CPU and delayed every other step. Once nodes of the campaign finished
(``typical_s``, their typical MONITOR time) nothing is looked at before 95 % of that
time; after the BMC did not answer the node is looked at again after a hundredth of
it (at least 0.1 s, at most ``poll_max_s``). Past 95 % the sparser rate applies
again: it is never shorter than a hundredth of the typical time (a twentieth of at
least 95 % of it).

When the BMC pushes its events, an event wakes the node at once: it looks by
itself only every ``event_fallback_s``, except right after the BMC did not
answer (not every BMC announces that it is back).

While the BMC stays silent (restarting into new firmware) each look is a fresh login
attempt, so the wait after silence doubles with each look it did not answer, up to
``RETRY_CAP_S`` (never above ``poll_max_s``): a 5 s restart costs 5 looks instead of
25 at 0.2 s, and a BMC back is still noticed within the cap, small against a real
restart (minutes). It starts again from ``retry_s`` once the BMC answered.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_POLL_S = 0.1
FIRST_LOOK = 0.95  # of the typical MONITOR time
RETRY_LOOKS = 1 / 100  # of the typical MONITOR time, after the BMC did not answer
SPARSER = 1 / 20  # of the time so far, before any node of the campaign finished
RETRY_CAP_S = 3.0  # longest wait after silence: well below a BMC restart's length


@dataclass(frozen=True)
class MonitorPolls:
    """How long MONITOR waits before its next look: ``next_s`` normally, ``retry_s``
    after the BMC did not answer."""

    next_s: float
    retry_s: float


def monitor_polls(elapsed_s: float, *, poll_max_s: float, typical_s: float | None = None,
                  following_task: bool = False, events: bool = False,
                  event_fallback_s: float = 0.0) -> MonitorPolls:
    """The waits of MONITOR ``elapsed_s`` seconds into the step (see the module doc).
    ``typical_s``: the campaign's typical MONITOR time (None before a node finished);
    a time of 0 counts as none;
    it is not used while a BMC task is followed (``following_task``: the task's own
    Retry-After bounds the wait instead)."""
    retry = _bounded(elapsed_s * SPARSER, poll_max_s)
    fallback = max(retry, event_fallback_s) if events else retry
    if not typical_s or following_task:
        return MonitorPolls(fallback, retry)
    early = FIRST_LOOK * typical_s - elapsed_s
    retry = _bounded(typical_s * RETRY_LOOKS, poll_max_s)
    return MonitorPolls(early if early > retry else max(retry, fallback), retry)


def retry_after_silence(retry_s: float, misses: int, *, poll_max_s: float) -> float:
    """The wait before the next look after ``misses`` consecutive looks (this one
    included) the BMC did not answer: ``retry_s`` doubled for each miss after the first,
    up to ``RETRY_CAP_S`` or ``poll_max_s``, whichever is lower (never below ``retry_s``)."""
    cap = max(retry_s, min(RETRY_CAP_S, poll_max_s))
    return min(cap, retry_s * 2.0 ** min(max(misses - 1, 0), 32))


def _bounded(seconds: float, poll_max_s: float) -> float:
    return min(poll_max_s, max(MIN_POLL_S, seconds))
