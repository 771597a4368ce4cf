"""Sessions lent to image reads (emulator/firmware/image_sessions.py): reused while
fresh, never shared by two reads at once, dropped when idle too long or too many."""

from __future__ import annotations

from emulator.firmware.image_sessions import ImageSessions


def test_a_returned_session_is_lent_again_and_never_to_two_reads_at_once() -> None:
    sessions = ImageSessions(keep=4, max_idle_s=60.0)
    first = sessions.take()
    second = sessions.take()  # the first is still lent out
    assert second is not first
    sessions.give_back(first)
    assert sessions.take() is first
    assert not first.trust_env  # an emulated BMC does not read the host's proxy settings
    sessions.close()


def test_a_session_idle_too_long_is_closed_not_reused() -> None:
    sessions = ImageSessions(keep=4, max_idle_s=0.0)
    first = sessions.take()
    sessions.give_back(first)
    closed: list[bool] = []
    first.close = lambda: closed.append(True)  # type: ignore[method-assign]
    while True:  # wait until monotonic time has moved past the return
        again = sessions.take()
        if again is not first:
            break
        sessions.give_back(again)
    assert closed == [True]
    sessions.close()


def test_at_most_keep_sessions_are_kept_idle() -> None:
    sessions = ImageSessions(keep=1, max_idle_s=60.0)
    first, second = sessions.take(), sessions.take()
    closed: list[str] = []
    second.close = lambda: closed.append("second")  # type: ignore[method-assign]
    sessions.give_back(first)
    sessions.give_back(second)
    assert closed == ["second"]
    assert sessions.take() is first
    sessions.close()
